"""Entry point of a trainer process: ``python -m trainers run --project DIR --job ID``.

The process reads the job's parameters from the store, marks it running,
reports on standard output as JSON lines (see workbench.jobs.protocol) and
writes its results and final state in one transaction at the end. SIGTERM
cancels: the method stops at its next check and nothing is written but the
cancelled state.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from pathlib import Path

from trainers.registry import METHODS
from trainers.results import write_results
from trainers.state import Cancelled, TaskState
from workbench.jobs import protocol
from workbench.jobs.specs import ParamError, job_kind
from workbench.jobs.threads import (
    AUTOMATIC,
    THREAD_VARIABLES,
    THREADS_VARIABLE,
    parse_threads,
)
from workbench.store.engine import Project, ProjectError, open_project
from workbench.store.schema import CANCELLED, FAILED, QUEUED, RUNNING, Job, utcnow

log = logging.getLogger("trainers")


def _parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m trainers")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="Run one queued job of a project.")
    run.add_argument("--project", required=True, type=Path, help="Project folder.")
    run.add_argument("--job", required=True, type=int, help="Job id in the project.")
    return parser.parse_args(argv)


def _setup_log_file(path: str | None) -> None:
    if not path:
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])


def _resolve_device(requested: str, needs_torch: bool) -> str:
    if not needs_torch:
        return "cpu"
    from trainers.device import select_device

    return str(select_device(requested))


def _thread_limit() -> int | None:
    """Return the threads per pool the runner passed in WORKBENCH_JOB_THREADS, or None.

    The runner has already set the pool variables in this process's
    environment, so the BLAS and OpenMP libraries apply the limit when they
    load. None means the trainer was started without a count there.
    Raises ThreadLimitError (a ValueError) for an invalid value.
    """
    text = os.environ.get(THREADS_VARIABLE, "").strip()
    count = parse_threads(text, THREADS_VARIABLE) if text else AUTOMATIC
    return None if count == AUTOMATIC else count


def _thread_message(limit: int | None) -> str:
    if limit is None:
        return (f"Thread pools not limited: the trainer was started without a count in "
                f"{THREADS_VARIABLE}.")
    unit = "thread" if limit == 1 else "threads"
    # Pool variables the user set before the job started keep their values.
    user_values = [f"{name}={os.environ[name]}" for name in THREAD_VARIABLES
                   if os.environ.get(name, str(limit)) != str(limit)]
    message = f"Thread pools limited to {limit} {unit} each"
    if user_values:
        message += f"; kept from the environment: {', '.join(user_values)}"
    return message


def _torch_threads(limit: int) -> int:
    """Return torch's CPU thread count.

    OMP_NUM_THREADS sizes torch's OpenMP pool, so a positive whole number
    there wins over ``limit``.
    """
    text = os.environ.get("OMP_NUM_THREADS", "")
    return int(text) if text.isdigit() and int(text) > 0 else limit


def _pool_sizes() -> str:
    """Return the threads of each BLAS, OpenMP and torch pool this process has loaded."""
    from threadpoolctl import threadpool_info

    sizes = sorted({f"{pool['internal_api']} {pool['num_threads']}"
                    for pool in threadpool_info()})
    torch = sys.modules.get("torch")
    if torch is not None:
        sizes.append(f"torch {torch.get_num_threads()}")
    return ", ".join(sizes) or "none loaded"


def _start(project: Project, job_id: int, device: str) -> None:
    with project.write() as session:
        job = session.get(Job, job_id)
        job.state = RUNNING
        job.pid = os.getpid()
        job.device = device
        job.started_at = utcnow()


def _record_device(project: Project, job_id: int, device: str) -> None:
    with project.write() as session:
        session.get(Job, job_id).device = device


def _end(project: Project, job_id: int, state: str, error: str | None = None) -> None:
    with project.write() as session:
        job = session.get(Job, job_id)
        job.state = state
        job.error = error
        job.finished_at = utcnow()


def _load_job(project: Project, job_id: int) -> tuple[str, dict, str | None]:
    with project.read() as session:
        job = session.get(Job, job_id)
        if job is None:
            raise ProjectError(f"Job {job_id} not found in {project.folder}.")
        if job.state != QUEUED:
            raise ProjectError(f"Job {job_id} is {job.state}, not queued; start a new job.")
        return job.kind, dict(job.params or {}), job.log_path


def run_job(project: Project, job_id: int, state: TaskState) -> int:
    kind, stored, log_path = _load_job(project, job_id)
    _setup_log_file(log_path)
    try:
        params = job_kind(kind).resolve(stored)
        method = METHODS[kind]
        needs_torch = method.needs_torch(params)
        limit = _thread_limit()
    except (ParamError, ValueError) as exc:
        _end(project, job_id, FAILED, str(exc))
        state.emit("finished", state=FAILED, error=str(exc))
        return protocol.EXIT_FAILED
    # The first report goes out before torch is imported, which takes seconds.
    device = params.get("device", "auto") if needs_torch else "cpu"
    _start(project, job_id, device)
    state.emit("started", job=job_id, pid=os.getpid(), device=device, kind=kind,
               threads=limit)
    state.log(_thread_message(limit))
    state.progress(0.0, "loading torch" if needs_torch else "loading data")
    requested = params.get("device", "auto")
    if not needs_torch and requested not in ("auto", "cpu"):
        state.log(f"Device {requested!r} ignored: {kind} with these parameters runs on the "
                  f"CPU (scikit-learn).", level="warning")
    try:
        if needs_torch:
            device = _resolve_device(device, True)
            _record_device(project, job_id, device)
            state.log(f"Running on {device}")
            if limit is not None:
                from trainers.device import limit_torch_threads

                torch_threads = limit_torch_threads(_torch_threads(limit))
                unit = "thread" if torch_threads == 1 else "threads"
                state.log(f"torch uses {torch_threads} CPU {unit}")
    except ValueError as exc:
        _end(project, job_id, FAILED, str(exc))
        state.emit("finished", state=FAILED, error=str(exc))
        return protocol.EXIT_FAILED
    log.info("Job %s (%s) started on %s, %s threads per pool, with %s", job_id, kind,
             device, limit or "unlimited", params)
    try:
        result = method.run(project, params, state, device)
        state.progress(0.95, "writing results")
        stored_count = write_results(project, job_id, result, state)
    except Cancelled:
        log.info("Job %s cancelled", job_id)
        _end(project, job_id, CANCELLED)
        state.emit("finished", state=CANCELLED)
        return protocol.EXIT_CANCELLED
    except ValueError as exc:
        # Methods raise ValueError for data they cannot work with; the
        # message is written for the user.
        log.warning("Job %s failed: %s", job_id, exc)
        _end(project, job_id, FAILED, str(exc))
        state.emit("finished", state=FAILED, error=str(exc))
        return protocol.EXIT_FAILED
    except Exception as exc:
        log.exception("Job %s failed", job_id)
        _end(project, job_id, FAILED, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
        state.emit("finished", state=FAILED, error=f"{type(exc).__name__}: {exc}")
        return protocol.EXIT_FAILED
    pools = _pool_sizes()
    log.info("Job %s thread pools at the end: %s", job_id, pools)
    state.log(f"Thread pools at the end: {pools}")
    stored = {"stored": stored_count} if result.kind is not None else {}
    metrics = {**result.metrics, **stored}
    log.info("Job %s succeeded: %s", job_id, metrics)
    state.progress(1.0, "done")
    state.emit("finished", state="succeeded", metrics=metrics)
    return protocol.EXIT_OK


def main(argv=None) -> int:
    args = _parse_args(argv)
    state = TaskState()
    state.install_signal_handlers()
    try:
        project = open_project(args.project)
    except ProjectError as exc:
        state.emit("finished", state=FAILED, error=str(exc))
        return protocol.EXIT_USAGE
    with project:
        try:
            return run_job(project, args.job, state)
        except ProjectError as exc:
            state.emit("finished", state=FAILED, error=str(exc))
            return protocol.EXIT_USAGE
