"""Run an import or export in a worker process, reporting through a Progress.

Reading thousands of image files and inserting their rows holds the GIL for
tens of milliseconds at a time. On a thread of the window's process that
stalls the event loop, so the window runs each import and export in a
spawn-started child process instead. The child opens the project by its
folder, runs the ingest function and sends its progress reports and its
result back over a pipe. A cancel crosses over as a multiprocessing Event
that the child's Progress checks, so a cancelled import still rolls back in
one transaction and writes nothing.
"""

from __future__ import annotations

import logging
import multiprocessing
import traceback
from pathlib import Path
from typing import Any

from workbench.ingest.progress import Cancelled, Progress

log = logging.getLogger(__name__)

TASKS = ("import-folder", "import-manifest", "import-idx", "export")
POLL_INTERVAL_S = 0.1
EXIT_WAIT_S = 5.0


class TaskFailed(Exception):
    """The task raised in the worker process, or the process ended without a result."""


def run_in_worker(task: str, project_folder: str | Path, options: dict[str, Any],
                  progress: Progress) -> Any:
    """Run an ingest task on the project in a child process and return its report.

    Blocks the calling thread, which only waits on the pipe. Raises
    Cancelled when the work stopped on a cancel, and TaskFailed with the
    child's message for any other error.
    """
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; expected one of {TASKS}.")
    context = multiprocessing.get_context("spawn")
    cancel = context.Event()
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child_main, name=f"workbench-{task}", daemon=True,
                              args=(sender, cancel, task, str(project_folder), options))
    process.start()
    sender.close()
    try:
        return _relay(receiver, process, cancel, progress)
    finally:
        receiver.close()
        process.join(EXIT_WAIT_S)
        if process.is_alive():
            log.warning("The %s worker process %s did not exit; terminating it.",
                        task, process.pid)
            process.terminate()
            process.join(EXIT_WAIT_S)


def _relay(receiver, process, cancel, progress: Progress) -> Any:
    while True:
        if progress.cancelled:
            cancel.set()
        if not receiver.poll(POLL_INTERVAL_S):
            continue
        try:
            message = receiver.recv()
        except EOFError:
            process.join(EXIT_WAIT_S)
            raise TaskFailed(f"The worker process ended without a result (exit code "
                             f"{process.exitcode}). See the log for details.") from None
        kind = message[0]
        if kind == "progress":
            progress.update(*message[1:])
        elif kind == "succeeded":
            return message[1]
        elif kind == "cancelled":
            raise Cancelled(message[1])
        else:
            _, text, details = message
            if details:
                log.error("Import or export failed in its worker process:\n%s", details)
            raise TaskFailed(text)


def _task_function(task: str):
    """Return the ingest function of ``task``, which takes the project and ``progress``.

    The imports are plain statements, so PyInstaller bundles these modules.
    """
    if task == "import-folder":
        from workbench.ingest.folder import import_folder
        return import_folder
    if task == "import-manifest":
        from workbench.ingest.csv_manifest import import_manifest
        return import_manifest
    if task == "import-idx":
        from workbench.ingest.idx import import_idx
        return import_idx
    from workbench.ingest.export import export_project
    return export_project


def _child_main(sender, cancel, task: str, project_folder: str,
                options: dict[str, Any]) -> None:
    from workbench.ingest.common import IngestError
    from workbench.ingest.export import ExportError
    from workbench.ingest.images import ImageError
    from workbench.store.engine import ProjectError, open_project

    expected = (IngestError, ExportError, ImageError, ProjectError, OSError)
    progress = Progress(lambda stage, done, total: sender.send(("progress", stage, done, total)),
                        cancel_event=cancel)
    project = None
    try:
        function = _task_function(task)
        project = open_project(project_folder)
        report = function(project, progress=progress, **options)
    except Cancelled as exc:
        sender.send(("cancelled", str(exc)))
    except expected as exc:
        sender.send(("failed", str(exc), None))
    except Exception as exc:  # noqa: BLE001 - a bug reaches the window's log and message box
        sender.send(("failed", f"Unexpected error: {exc!r}", traceback.format_exc()))
    else:
        sender.send(("succeeded", report))
    finally:
        if project is not None:
            project.close()
        sender.close()
