"""Jobs through the panel: a form from the specs, queue, progress, curves, cancel, close."""

from __future__ import annotations

import os
import re
import signal

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from workbench.jobs import specs
from workbench.jobs.specs import JobKind, Param
from workbench.store import queries
from workbench.store.schema import Job
from workbench.ui.jobs import JobForm, format_eta, metric_group

LONG_MLP = {"head": "mlp", "epochs": 100_000}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _job_pid(project, job_id) -> int | None:
    with project.read() as session:
        return session.get(Job, job_id).pid


def test_form_uses_declared_defaults(qtbot):
    kind = specs.JOB_KINDS["self-training"]
    form = JobForm(kind)
    assert set(form.values()) == {p.name for p in kind.params}
    assert form.values() == kind.resolve({})


def test_form_names_empty_choice(qtbot):
    form = JobForm(specs.JOB_KINDS["fixmatch"])
    box = form.editors["init"]
    assert box.currentText() == "auto"
    assert [box.itemText(i) for i in range(box.count())] == ["auto", "(none)", "simclr",
                                                              "rotation"]
    box.setCurrentIndex(1)
    assert form.values()["init"] == ""
    assert specs.JOB_KINDS["fixmatch"].resolve(form.values())["init"] == ""
    again = JobForm(specs.JOB_KINDS["fixmatch"], {"init": ""})
    assert again.editors["init"].currentText() == "(none)"


def test_form_picks_up_new_kind(qtbot, window, monkeypatch):
    extra = JobKind("noise-check", "Noise check", "Flags likely wrong labels.", (
        Param("folds", int, 5, "Cross-validation folds.", minimum=2, maximum=20),
        Param("method", str, "cleanlab", "Method.", choices=("cleanlab", "knn")),
        Param("strict", bool, False, "Flag only confident errors."),
        Param("device", str, "auto", "Device.", choices=("auto", "cpu")),
    ))
    monkeypatch.setitem(specs.JOB_KINDS, extra.name, extra)
    launcher = window.jobs_panel.launcher
    launcher.refresh()
    launcher.select_kind("noise-check")
    assert launcher.form.values() == {"folds": 5, "method": "cleanlab", "strict": False,
                                      "device": "auto"}
    launcher.select_kind("self-training")
    assert launcher.form.values()["threshold"] == window.settings.job_threshold


def test_eta_text():
    assert format_eta(None) == ""
    assert format_eta(42.4) == "42 s"
    assert format_eta(125) == "2 min 05 s"
    assert format_eta(3725) == "1 h 02 min"


@pytest.mark.parametrize(("name", "group"), [
    ("loss", "loss"), ("rotation_loss", "loss"), ("train_accuracy", "fraction"),
    ("mask_rate", "fraction"), ("pseudo_labels", "count"),
])
def test_metric_group_by_name(name, group):
    assert metric_group(name) == group


@pytest.mark.slow
def test_launch_from_form_shows_curves_and_result(qtbot, window):
    launcher = window.jobs_panel.launcher
    launcher.select_kind("self-training")
    launcher.form.editors["head"].setCurrentText("mlp")
    launcher.form.editors["epochs"].setValue(60)
    launcher.form.editors["rounds"].setValue(1)
    qtbot.mouseClick(launcher.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.supervisor.busy, timeout=120_000)
    with window.project.read() as session:
        job = queries.jobs(session)[0]
    panel = window.jobs_panel
    assert job["params"]["head"] == "mlp"
    assert job["params"]["epochs"] == 60
    assert panel.state_of(job["id"]) == "succeeded"
    metrics = panel.metrics_of(job["id"])
    assert "loss" in metrics
    assert len(metrics["loss"][0]) >= 2
    assert "loss" in panel._curves
    assert len(panel._curves["loss"].getData()[0]) == len(metrics["loss"][0])
    assert "train_accuracy" in panel._curves
    assert panel.curve_groups() == ["loss", "fraction", "count"]
    assert any(line.startswith("[progress]") for line in panel.log_of(job["id"]))
    assert window.review.model.rowCount() > 0


@pytest.mark.slow
def test_queue_and_cancel_by_button(qtbot, window):
    panel = window.jobs_panel
    first = window.start_job("self-training", LONG_MLP)
    second = window.start_job("self-training", LONG_MLP)
    assert panel.state_of(second) == "queued"
    assert [job_id for job_id, _ in window.supervisor.queue] == [second]
    qtbot.mouseClick(panel.cancel_button(second), Qt.MouseButton.LeftButton)
    assert panel.state_of(second) == "cancelled"
    assert not window.supervisor.queue

    qtbot.waitUntil(lambda: "loss" in panel.message_of(first), timeout=120_000)
    qtbot.waitUntil(lambda: panel.eta_of(first) != "" or panel.state_of(first) != "running",
                    timeout=30_000)
    pid = _job_pid(window.project, first)
    qtbot.mouseClick(panel.cancel_button(first), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.supervisor.busy, timeout=15_000)
    assert panel.state_of(first) == "cancelled"
    assert not _pid_alive(pid)
    with window.project.read() as session:
        states = {job["id"]: job["state"] for job in queries.jobs(session)}
    assert states == {first: "cancelled", second: "cancelled"}


@pytest.mark.slow
def test_killed_job_shows_error(qtbot, window):
    job_id = window.start_job("self-training", LONG_MLP)
    panel = window.jobs_panel
    qtbot.waitUntil(lambda: "loss" in panel.message_of(job_id), timeout=120_000)
    os.kill(_job_pid(window.project, job_id), signal.SIGKILL)
    qtbot.waitUntil(lambda: not window.supervisor.busy, timeout=15_000)
    assert panel.state_of(job_id) == "failed"
    assert "crashed or was killed" in panel.message_of(job_id)
    assert "failed" in window.statusBar().currentMessage()
    assert any("crashed or was killed" in line for line in panel.log_of(job_id))


def test_failed_job_logs_error_once(qtbot, window):
    # The demo has no labeling rules, so the rules job fails with a message.
    job_id = window.start_job("rules")
    panel = window.jobs_panel
    qtbot.waitUntil(lambda: not window.supervisor.busy, timeout=120_000)
    assert panel.state_of(job_id) == "failed"
    error = panel.message_of(job_id)
    assert error
    assert sum(error in line for line in panel.log_of(job_id)) == 1


@pytest.mark.slow
def test_fit_progress_keeps_one_line(qtbot, window):
    job_id = window.start_job("projection", {"method": "tsne"})
    panel = window.jobs_panel
    panel.select_job(job_id)
    qtbot.waitUntil(lambda: not window.supervisor.busy, timeout=300_000)
    assert panel.state_of(job_id) == "succeeded"
    log = panel.log_of(job_id)
    iterations = [line for line in log if line.startswith("[progress] tsne of")
                  and "iteration" in line]
    # The fit reports every second. Lines that differ only in their numbers
    # replace one another, so one iteration line stays, with the last count.
    assert len(iterations) == 1
    assert re.search(r"iteration \d+ of 1000", iterations[0])
    assert panel.log_view.toPlainText().splitlines() == log


def _answer_close(answer):
    def click():
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            box.button(answer).click()
        else:
            QTimer.singleShot(50, click)
    QTimer.singleShot(50, click)


@pytest.mark.slow
def test_close_with_running_job(qtbot, window):
    job_id = window.start_job("self-training", LONG_MLP)
    qtbot.waitUntil(lambda: "loss" in window.jobs_panel.message_of(job_id), timeout=120_000)
    pid = _job_pid(window.project, job_id)
    project = window.project

    _answer_close(QMessageBox.StandardButton.No)
    assert not window.close()
    assert window.isVisible()
    assert _pid_alive(pid)
    assert window.supervisor.running

    folder = project.folder
    _answer_close(QMessageBox.StandardButton.Yes)
    assert window.close()
    assert not window.supervisor.running
    assert not _pid_alive(pid)
    from workbench.store import open_project

    with open_project(folder) as reopened, reopened.read() as session:
        assert session.get(Job, job_id).state == "cancelled"
