"""Start trainer processes the way the window and the command line do."""

from __future__ import annotations

import subprocess
import time

from sqlalchemy import func, select

from workbench.jobs import protocol, runner
from workbench.store.schema import Job, Proposal


def start_job(project, params=None) -> tuple[int, subprocess.Popen]:
    job_id = runner.create_job(project, "self-training", params or {})
    process = subprocess.Popen(
        runner.trainer_command(project, job_id), stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True, env=runner.trainer_environment())
    return job_id, process


def read_until(process, predicate, timeout_s: float = 120) -> dict | None:
    """Read messages until one matches; return it, or None at end of output."""
    deadline = time.monotonic() + timeout_s
    for line in process.stdout:
        message = protocol.decode(line)
        if predicate(message):
            return message
        if time.monotonic() > deadline:
            raise AssertionError("trainer sent no matching message in time")
    return None


def job_outcome(project, job_id) -> tuple[Job, int]:
    with project.read() as session:
        job = session.get(Job, job_id)
        count = session.scalar(select(func.count(Proposal.id)).where(Proposal.job_id == job_id))
    return job, count


def is_result_write(message: dict) -> bool:
    return message["event"] == "progress" and message.get("message") == "writing results"
