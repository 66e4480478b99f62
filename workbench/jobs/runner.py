"""Create job rows, start trainer processes and settle the jobs they leave.

The window (through QProcess) and the command line (through subprocess) use
the same three steps: :func:`create_job`, :func:`trainer_command`, and
:func:`finalize_job` once the process has exited. The trainer writes its own
results and final state; ``finalize_job`` only settles a job whose process
died or was cancelled before it could.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import func, select

from workbench.jobs import protocol
from workbench.jobs.specs import job_kind
from workbench.jobs.threads import (
    AUTOMATIC,
    ThreadLimit,
    ThreadLimitError,
    choose_thread_limit,
    thread_environment,
)
from workbench.store.engine import Project
from workbench.store.schema import (
    ACTIVE_JOB_STATES,
    CANCELLED,
    FAILED,
    GIVEN_SOURCES,
    QUEUED,
    RUNNING,
    Item,
    Job,
    utcnow,
)

log = logging.getLogger(__name__)

# How long a cancelled trainer gets to exit after SIGTERM before it is killed.
CANCEL_GRACE_S = 2.0
FROZEN_TRAINER_FLAG = "--trainer"


class JobError(ValueError):
    """A job that cannot start. The message names what to change."""


def labeled_class_count(project: Project) -> int:
    with project.read() as session:
        return session.scalar(
            select(func.count(func.distinct(Item.label_class_id))).where(
                Item.label_source.in_(GIVEN_SOURCES)
            )
        ) or 0


def check_ready(project: Project, kind: str) -> None:
    """Raise JobError when the project cannot feed a job of ``kind`` yet."""
    if not job_kind(kind).needs_labels:
        return
    classes = labeled_class_count(project)
    if classes < 2:
        raise JobError(
            f"{kind} needs labeled items in at least two classes; this project has "
            f"{classes}. Label a few items of each class first (keys 1-9 and 0)."
        )


def create_job(project: Project, kind: str, params: dict[str, Any] | None = None) -> int:
    """Validate the parameters and add a queued job; return its id."""
    resolved = job_kind(kind).resolve(params or {})
    check_ready(project, kind)
    # An invalid WORKBENCH_JOB_THREADS stops the job before its row exists.
    # Without a project the check reads no job rows.
    trainer_thread_limit()
    with project.write() as session:
        job = Job(kind=kind, params=resolved, state=QUEUED)
        session.add(job)
        session.flush()
        job.log_path = str(project.cache / "logs" / f"job-{job.id}.log")
        return job.id


def trainer_command(project: Project, job_id: int) -> list[str]:
    """Return the command line that runs one job in a trainer process."""
    args = ["run", "--project", str(project.folder), "--job", str(job_id)]
    if getattr(sys, "frozen", False):
        return [sys.executable, FROZEN_TRAINER_FLAG, *args]
    return [sys.executable, "-m", "trainers", *args]


def running_job_count(project: Project) -> int:
    """Return how many of the project's running jobs still have a live trainer process."""
    with project.read() as session:
        pids = list(session.scalars(select(Job.pid).where(Job.state == RUNNING)))
    return sum(_pid_alive(pid) for pid in pids)


def trainer_thread_limit(project: Project | None = None,
                         threads_per_job: int = AUTOMATIC) -> ThreadLimit:
    """Return the thread limit of a trainer about to start for ``project``.

    ``threads_per_job`` is the "Threads per job" setting. The automatic
    choice counts the project's running jobs plus the new one.
    NOTE: jobs of other projects and other programs' threads are not
    counted, so the automatic limit can still exceed the free cores.
    Raises JobError for an invalid WORKBENCH_JOB_THREADS.
    """
    running = 1 + (running_job_count(project) if project is not None else 0)
    try:
        return choose_thread_limit(threads_per_job, running)
    except ThreadLimitError as exc:
        raise JobError(str(exc)) from exc


def trainer_environment(project: Project | None = None,
                        threads_per_job: int = AUTOMATIC) -> dict[str, str]:
    """Return the environment of a trainer process, with its thread pools limited.

    Raises JobError for an invalid WORKBENCH_JOB_THREADS.
    """
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    limit = trainer_thread_limit(project, threads_per_job)
    env.update(thread_environment(limit, os.environ))
    log.info("Trainer thread pools for %s: %s", project.folder if project else "a job",
             limit.describe())
    return env


def finalize_job(
    project: Project, job_id: int, *, exit_code: int | None, cancel_requested: bool,
    stderr_tail: str = "", reason: str | None = None,
) -> str:
    """Settle a job whose process has exited; return its final state.

    A job the trainer already finished keeps its state, so a cancel that
    arrives after the results were committed does not hide them. ``reason``
    replaces the message built from the exit code (QProcess reports a crash
    without the signal number).
    """
    with project.write() as session:
        job = session.get(Job, job_id)
        if job is None:
            raise JobError(f"Job {job_id} not found in {project.folder}.")
        if job.state not in ACTIVE_JOB_STATES:
            return job.state
        job.finished_at = utcnow()
        if cancel_requested or exit_code == protocol.EXIT_CANCELLED:
            job.state = CANCELLED
        else:
            job.state = FAILED
            job.error = _exit_reason(exit_code, stderr_tail, reason)
        return job.state


def _exit_reason(exit_code: int | None, stderr_tail: str, reason: str | None) -> str:
    if reason is None:
        reason = _reason_from_exit_code(exit_code)
    tail = stderr_tail.strip()
    return f"{reason}\n{tail[-2000:]}" if tail else reason


def _reason_from_exit_code(exit_code: int | None) -> str:
    if exit_code is None:
        return "The trainer process could not be started."
    if exit_code < 0:
        return f"The trainer process was killed by signal {-exit_code}."
    return f"The trainer process exited with code {exit_code} without a result."


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_stale_jobs(project: Project, queued_grace: timedelta = timedelta(minutes=1)) -> list[int]:
    """Mark running jobs whose process is gone, and long-queued ones, as failed."""
    stale = []
    with project.write() as session:
        for job in session.scalars(select(Job).where(Job.state.in_(ACTIVE_JOB_STATES))):
            if job.state == RUNNING and _pid_alive(job.pid):
                continue
            if job.state == QUEUED and utcnow() - job.created_at < queued_grace:
                continue
            job.state = FAILED
            job.finished_at = utcnow()
            job.error = "The trainer process ended without reporting a result (the window or machine stopped)."
            stale.append(job.id)
    if stale:
        log.warning("Marked stale jobs %s in %s as failed", stale, project.folder)
    return stale


def run_job(
    project: Project,
    job_id: int,
    on_message: Callable[[dict[str, Any]], None] = lambda message: None,
    threads_per_job: int = AUTOMATIC,
) -> str:
    """Run one job in a trainer subprocess until it ends; return its final state.

    ``threads_per_job`` is the "Threads per job" setting (see
    :func:`trainer_thread_limit`). Ctrl+C (KeyboardInterrupt) cancels the
    job: the trainer gets SIGTERM and CANCEL_GRACE_S seconds to exit before
    it is killed.
    """
    env = trainer_environment(project, threads_per_job)
    # Standard error goes to a file: a pipe that is not read while standard
    # output is followed would fill up and block the trainer.
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errors:
        process = subprocess.Popen(
            trainer_command(project, job_id), stdout=subprocess.PIPE, stderr=errors,
            text=True, encoding="utf-8", errors="replace", env=env,
        )
        cancelled = False
        try:
            assert process.stdout is not None
            for line in process.stdout:
                on_message(protocol.decode(line))
            process.wait()
        except KeyboardInterrupt:
            cancelled = True
            stop_process(process)
        errors.seek(0)
        stderr = errors.read()
    return finalize_job(project, job_id, exit_code=process.returncode,
                        cancel_requested=cancelled, stderr_tail=stderr)


def stop_process(process: subprocess.Popen) -> None:
    """Send SIGTERM, wait CANCEL_GRACE_S seconds, then kill."""
    process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + CANCEL_GRACE_S
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if process.poll() is None:
        process.kill()
        process.wait()
