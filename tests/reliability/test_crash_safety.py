"""SIGKILL at random points never leaves partial proposals or a damaged file."""

from __future__ import annotations

import random
import signal
import time

import pytest

from workbench.jobs import runner
from workbench.store.engine import integrity_check

from .helpers import is_result_write, job_outcome, read_until, start_job

pytestmark = pytest.mark.slow


def _kill_and_settle(project, job_id, process, cancel=False):
    process.send_signal(signal.SIGTERM if cancel else signal.SIGKILL)
    process.wait(timeout=10)
    process.stdout.close()
    return runner.finalize_job(project, job_id, exit_code=process.returncode,
                               cancel_requested=cancel)


def _assert_all_or_nothing(project, job_id, state):
    job, stored = job_outcome(project, job_id)
    assert job.state == state
    if state == "succeeded":
        assert stored == job.metrics["stored"] > 0
    else:
        assert stored == 0
    if state == "failed":
        assert "killed by signal 9" in job.error


def test_kill_at_random_points(demo_project):
    rng = random.Random(20261203)
    outcomes = []
    for _ in range(8):
        job_id, process = start_job(demo_project, {"rounds": 2})
        time.sleep(rng.uniform(0.0, 3.0))
        state = _kill_and_settle(demo_project, job_id, process)
        _assert_all_or_nothing(demo_project, job_id, state)
        outcomes.append(state)
    assert integrity_check(demo_project.engine) == "ok"
    assert "failed" in outcomes
    # The project still runs a job to the end afterwards.
    last = runner.create_job(demo_project, "self-training", {"rounds": 1})
    assert runner.run_job(demo_project, last) == "succeeded"


def test_kill_during_result_write(demo_project):
    for _ in range(4):
        job_id, process = start_job(demo_project, {"rounds": 1, "threshold": 0.5})
        assert read_until(process, is_result_write) is not None
        state = _kill_and_settle(demo_project, job_id, process)
        _assert_all_or_nothing(demo_project, job_id, state)
    assert integrity_check(demo_project.engine) == "ok"


def test_cancel_during_result_write(demo_project):
    job_id, process = start_job(demo_project, {"rounds": 1, "threshold": 0.5})
    assert read_until(process, is_result_write) is not None
    cancelled_at = time.monotonic()
    state = _kill_and_settle(demo_project, job_id, process, cancel=True)
    assert time.monotonic() - cancelled_at < runner.CANCEL_GRACE_S
    assert state == "cancelled"
    _assert_all_or_nothing(demo_project, job_id, "cancelled")
