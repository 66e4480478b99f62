"""Cancels from the window at awkward moments end cancelled, never failed."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from workbench.jobs import runner
from workbench.store.schema import Job, Proposal

pytestmark = pytest.mark.slow
LONG_JOB = {"head": "mlp", "epochs": 100_000}


def _job_state_and_proposals(project, job_id):
    with project.read() as session:
        state = session.get(Job, job_id).state
        count = session.scalar(select(func.count(Proposal.id)))
    return state, count


def test_cancel_right_after_start(qtbot, window):
    job_id = window.start_job("self-training", LONG_JOB)
    window.supervisor.cancel(job_id)
    assert window.jobs_panel.state_of(job_id) == "cancelling"
    qtbot.waitUntil(lambda: not window.supervisor.running,
                    timeout=int(runner.CANCEL_GRACE_S * 1000) + 3000)
    assert _job_state_and_proposals(window.project, job_id) == ("cancelled", 0)
    assert window.jobs_panel.state_of(job_id) == "cancelled"


def test_cancel_twice_mid_epoch(qtbot, window):
    job_id = window.start_job("self-training", LONG_JOB)
    qtbot.waitUntil(lambda: "loss" in window.jobs_panel.message_of(job_id), timeout=60_000)
    started = time.monotonic()
    window.supervisor.cancel(job_id)
    window.supervisor.cancel(job_id)
    assert window.jobs_panel.state_of(job_id) == "cancelling"
    qtbot.waitUntil(lambda: not window.supervisor.running, timeout=10_000)
    # The kill timer fires at CANCEL_GRACE_S; the rest is slack for a loaded machine.
    assert time.monotonic() - started < runner.CANCEL_GRACE_S + 2.0
    assert _job_state_and_proposals(window.project, job_id) == ("cancelled", 0)


def test_next_job_runs_after_cancel(qtbot, window):
    first = window.start_job("self-training", LONG_JOB)
    qtbot.waitUntil(lambda: "loss" in window.jobs_panel.message_of(first), timeout=60_000)
    window.supervisor.cancel(first)
    qtbot.waitUntil(lambda: not window.supervisor.running, timeout=10_000)
    second = window.start_job("self-training", {"rounds": 1})
    qtbot.waitUntil(lambda: not window.supervisor.running, timeout=60_000)
    assert _job_state_and_proposals(window.project, first)[0] == "cancelled"
    state, proposals = _job_state_and_proposals(window.project, second)
    assert state == "succeeded"
    assert proposals > 0
