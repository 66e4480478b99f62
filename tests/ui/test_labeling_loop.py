"""A person labels by key, runs self-training, accepts with A and undoes with Ctrl+Z."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import select

from workbench.store import queries
from workbench.store.schema import Item, LabelClass, Proposal

from .conftest import ACTOR

pytestmark = pytest.mark.slow


def _label_of(project, item_id):
    with project.read() as session:
        item = session.get(Item, item_id)
        name = session.get(LabelClass, item.label_class_id).name if item.label_class_id else None
        return name, item.label_source, item.label_actor


def _first_unlabeled_row(model) -> int:
    return next(i for i in range(model.rowCount()) if model.row(i).class_id is None)


def test_label_run_accept_undo(qtbot, window):
    project = window.project
    model = window.item_model
    row = _first_unlabeled_row(model)
    labeled_item = model.row(row).id
    window.grid.setCurrentIndex(model.index(row))
    window.grid.setFocus()

    qtbot.keyClick(window.grid, Qt.Key.Key_3)
    assert _label_of(project, labeled_item) == ("3", "human", ACTOR)
    # Counts follow a label change a moment later, off the keypress.
    qtbot.waitUntil(lambda: window.class_panel.count("3", "human") == 1)

    window.run_actions["self-training"].trigger()
    qtbot.waitUntil(lambda: not window.supervisor.running, timeout=120_000)
    job_id = max(window.jobs_panel._rows)
    assert window.jobs_panel.state_of(job_id) == "succeeded"
    assert window.review.model.rowCount() > 500

    proposal = window.review.current()
    assert proposal["item_id"] != labeled_item
    window.review.list.setFocus()
    qtbot.keyClick(window.review.list, Qt.Key.Key_A)
    assert _label_of(project, proposal["item_id"]) == (proposal["class_name"], "pseudo", ACTOR)
    with project.read() as session:
        assert session.get(Proposal, proposal["id"]).state == "accepted"
        history = queries.label_history(session, proposal["item_id"])
    assert [event["action"] for event in history] == ["accept"]
    assert history[0]["proposal_id"] == proposal["id"]
    assert window.review.current()["id"] != proposal["id"]

    qtbot.keyClick(window.review.list, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert _label_of(project, proposal["item_id"]) == (None, None, None)
    with project.read() as session:
        assert session.get(Proposal, proposal["id"]).state == "pending"
        history = queries.label_history(session, proposal["item_id"])
    assert [event["action"] for event in history] == ["accept", "undo"]
    # The human label from the key press is older than the accept and stays.
    assert _label_of(project, labeled_item) == ("3", "human", ACTOR)


def test_reject_and_skip_by_key(qtbot, window):
    window.run_actions["self-training"].trigger()
    qtbot.waitUntil(lambda: not window.supervisor.running, timeout=120_000)
    window.review.list.setFocus()
    first = window.review.current()
    qtbot.keyClick(window.review.list, Qt.Key.Key_Space)
    second = window.review.current()
    assert second["id"] != first["id"]
    qtbot.keyClick(window.review.list, Qt.Key.Key_X)
    with window.project.read() as session:
        assert session.get(Proposal, second["id"]).state == "rejected"
        assert session.get(Proposal, first["id"]).state == "pending"
        item = session.get(Item, second["item_id"])
    assert item.label_class_id is None


def test_cancel_from_the_window(qtbot, window):
    job_id = window.start_job("self-training", {"head": "mlp", "epochs": 100_000})
    qtbot.waitUntil(lambda: "loss" in window.jobs_panel.message_of(job_id), timeout=120_000)
    window.supervisor.cancel(job_id)
    assert window.jobs_panel.state_of(job_id) == "cancelling"
    qtbot.waitUntil(lambda: not window.supervisor.running, timeout=10_000)
    assert window.jobs_panel.state_of(job_id) == "cancelled"
    with window.project.read() as session:
        assert session.scalar(select(Proposal.id).limit(1)) is None
        assert queries.jobs(session)[0]["state"] == "cancelled"


def test_shutdown_stops_running_jobs(qtbot, window):
    job_id = window.start_job("self-training", {"head": "mlp", "epochs": 100_000})
    qtbot.waitUntil(lambda: "loss" in window.jobs_panel.message_of(job_id), timeout=120_000)
    project = window.project
    window.supervisor.cancel_all(wait_ms=5000)
    assert not window.supervisor.running
    with project.read() as session:
        assert queries.jobs(session)[0]["state"] == "cancelled"
