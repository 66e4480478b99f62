"""Cancelled and killed trainer processes leave no proposals behind."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest
from sqlalchemy import func, select

from workbench.jobs import protocol, runner
from workbench.store.schema import Job, Proposal

pytestmark = pytest.mark.slow

# An MLP head with many epochs runs long enough to be stopped mid-training.
LONG_JOB = {"head": "mlp", "epochs": 100_000, "rounds": 3}


def _start(project, params):
    job_id = runner.create_job(project, "self-training", params)
    process = subprocess.Popen(runner.trainer_command(project, job_id), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=runner.trainer_environment())
    return job_id, process


def _wait_for_event(process, event: str, timeout_s: float = 120) -> dict:
    deadline = time.monotonic() + timeout_s
    for line in process.stdout:
        message = protocol.decode(line)
        if message["event"] == event:
            return message
        if time.monotonic() > deadline:
            break
    raise AssertionError(f"trainer never sent a {event!r} message")


def _job_and_proposals(project, job_id):
    with project.read() as session:
        job = session.get(Job, job_id)
        count = session.scalar(select(func.count(Proposal.id)))
    return job, count


def test_cancel_mid_training(demo_project):
    job_id, process = _start(demo_project, LONG_JOB)
    _wait_for_event(process, "metric")
    cancelled_at = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=10)
    assert time.monotonic() - cancelled_at < runner.CANCEL_GRACE_S
    assert process.returncode == protocol.EXIT_CANCELLED
    state = runner.finalize_job(demo_project, job_id, exit_code=process.returncode,
                                cancel_requested=True)
    job, proposals = _job_and_proposals(demo_project, job_id)
    process.stdout.close()
    process.stderr.close()
    assert state == "cancelled"
    assert job.state == "cancelled"
    assert proposals == 0


def test_killed_trainer_is_marked_failed(demo_project):
    job_id, process = _start(demo_project, LONG_JOB)
    _wait_for_event(process, "metric")
    process.kill()
    process.wait(timeout=10)
    state = runner.finalize_job(demo_project, job_id, exit_code=process.returncode,
                                cancel_requested=False, stderr_tail=process.stderr.read())
    job, proposals = _job_and_proposals(demo_project, job_id)
    process.stdout.close()
    process.stderr.close()
    assert state == "failed"
    assert "killed by signal 9" in job.error
    assert proposals == 0
    # The next job runs normally.
    next_id = runner.create_job(demo_project, "self-training", {"rounds": 1})
    assert runner.run_job(demo_project, next_id) == "succeeded"


def test_cancel_before_start(demo_project):
    job_id = runner.create_job(demo_project, "self-training", {})
    state = runner.finalize_job(demo_project, job_id, exit_code=None, cancel_requested=True)
    assert state == "cancelled"
    # A trainer started late for the cancelled job refuses to run it.
    result = subprocess.run(runner.trainer_command(demo_project, job_id), capture_output=True,
                            text=True, env=runner.trainer_environment(), timeout=120)
    assert result.returncode == protocol.EXIT_USAGE
    assert "is cancelled, not queued" in json.loads(result.stdout.splitlines()[-1])["error"]
    job, proposals = _job_and_proposals(demo_project, job_id)
    assert job.state == "cancelled"
    assert proposals == 0
