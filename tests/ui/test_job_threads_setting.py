"""The "Threads per job" setting: the dialog, and the limit a job started from the window gets."""

from __future__ import annotations

import pytest

from workbench import settings as settings_module
from workbench.jobs.threads import THREAD_VARIABLES, THREADS_VARIABLE
from workbench.settings import Settings, load_settings
from workbench.ui.settings_dialog import SettingsDialog


def test_dialog_shows_automatic_and_returns_count(qtbot):
    dialog = SettingsDialog(Settings())
    qtbot.addWidget(dialog)
    assert dialog.threads_box.text() == "Automatic"
    assert dialog.result_settings().job_threads == 0
    dialog.threads_box.setValue(3)
    assert dialog.result_settings().job_threads == 3


@pytest.mark.slow
def test_window_job_gets_setting(qtbot, window, tmp_path, monkeypatch):
    for name in (*THREAD_VARIABLES, THREADS_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    # Saved settings go to this test's folder, so later jobs keep the default.
    path = tmp_path / "settings.json"
    monkeypatch.setattr(settings_module, "settings_path", lambda: path)
    window.apply_settings(Settings(job_threads=2,
                                   recent_projects=window.settings.recent_projects))
    assert load_settings(path).job_threads == 2
    assert window.supervisor.threads_per_job == 2
    job_id = window.start_job("projection", {"method": "pca"})
    panel = window.jobs_panel
    qtbot.waitUntil(lambda: panel.state_of(job_id) == "succeeded", timeout=60_000)
    log = panel.log_of(job_id)
    assert "[started] running on cpu, 2 threads per pool" in log
    assert "[log] Thread pools limited to 2 threads each" in log
