"""The ``--smoke-test`` mode: the whole loop once, in the real window, offscreen.

``workbench --smoke-test`` shows the main window on the offscreen platform.
It builds a small project from scikit-learn's digits in a temporary folder
(or opens ``--project DIR``), starts a short self-training job with the MLP
head through the window's QProcess supervisor, waits for it, and checks
that the job succeeded and stored proposals. It runs the same way from a
development install and from the bundle, where the trainer is the bundle's
own executable started with ``--trainer``. It exits 0 when every step
passed, and 1 with a message naming the failed step otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FLAG = "--smoke-test"
# The MLP head makes the trainer import torch, so the smoke test proves that
# the bundled torch loads. One round of 60 epochs keeps the job short.
JOB_KIND = "self-training"
JOB_PARAMS = {"head": "mlp", "rounds": 1, "epochs": 60, "threshold": 0.5}
DIGIT_CLASSES = 10
LABELED_PER_CLASS = 5
UNLABELED_PER_CLASS = 10


class SmokeFailure(RuntimeError):
    """A smoke-test step that failed; the message names the step."""


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"workbench {FLAG}", description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path,
                        help="Project folder to open; a small digits project is built "
                             "there when it is missing. Default: a temporary folder.")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="Seconds to wait for the job before failing. Default: 300.")
    parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
    return parser.parse_args(argv)


def build_small_project(folder: Path) -> Path:
    """Write a digits image tree and import it: 5 labeled and 10 unlabeled per digit."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    from workbench.ingest.folder import import_folder
    from workbench.store import open_project

    digits = load_digits()
    images = folder / "images"
    for digit in range(DIGIT_CLASSES):
        indices = np.flatnonzero(digits.target == digit)
        for rank, index in enumerate(indices[: LABELED_PER_CLASS + UNLABELED_PER_CLASS]):
            target = images / (str(digit) if rank < LABELED_PER_CLASS else "unlabeled")
            target.mkdir(parents=True, exist_ok=True)
            # The digits hold 0..16 ink levels; scale them to 8-bit gray.
            pixels = np.clip(digits.images[index] * (255.0 / 16.0) + 0.5, 0, 255)
            Image.fromarray(pixels.astype(np.uint8), mode="L").save(
                target / f"digit_{index:04d}.png")
    with open_project(folder, create=True) as project:
        import_folder(project, images)
    return folder


class SmokeRun:
    """One smoke-test run: its steps, their timings and the job's outcome."""

    def __init__(self, project: Path | None, timeout_s: float):
        self.project = project
        self.timeout_s = timeout_s
        self.started = time.perf_counter()
        self.report: dict[str, Any] = {"ok": False}

    def mark(self, step: str) -> None:
        self.report[f"{step}_s"] = round(time.perf_counter() - self.started, 3)

    def run(self) -> dict[str, Any]:
        from workbench.paths import bundle_info
        from workbench.ui.app import make_application
        from workbench.ui.main_window import MainWindow

        self.report["bundle"] = bundle_info()
        app = make_application()
        window = MainWindow(actor="smoke-test")
        try:
            window.show()
            app.processEvents()
            if not window.isVisible():
                raise SmokeFailure("window: the main window did not become visible")
            self.mark("window_shown")
            # benchmarks read this line to time the cold start.
            print("smoke test: window shown", flush=True)
            self._open_project(window)
            self._run_job(window)
            self.report["ok"] = True
        finally:
            window.shutdown()
            window.deleteLater()
            app.processEvents()
        return self.report

    def _open_project(self, window) -> None:
        folder = self.project
        if not (folder / "project.sqlite").exists():
            build_small_project(folder)
            self.mark("project_built")
        if not window.open_project(folder):
            raise SmokeFailure(f"open: the window could not open the project in {folder}")
        items = window.item_model.rowCount()
        if items == 0:
            raise SmokeFailure(f"open: the grid shows no items for {folder}")
        self.report["items"] = items
        self.mark("project_opened")

    def _run_job(self, window) -> None:
        from PySide6.QtCore import QEventLoop, QTimer

        loop = QEventLoop()
        outcome: dict[str, Any] = {}

        def on_message(job_id: int, message: dict) -> None:
            if message.get("event") == "started":
                outcome["device"] = message.get("device")

        def on_finished(job_id: int, state: str) -> None:
            outcome["state"] = state
            loop.quit()

        window.supervisor.message.connect(on_message)
        window.supervisor.finished.connect(on_finished)
        job_id = window.start_job(JOB_KIND, dict(JOB_PARAMS))
        if job_id is None:
            raise SmokeFailure(f"job: the window could not start {JOB_KIND}; see the log")
        QTimer.singleShot(int(self.timeout_s * 1000), loop.quit)
        loop.exec()
        self.report.update(job=job_id, device=outcome.get("device"))
        if "state" not in outcome:
            window.supervisor.cancel_all(wait_ms=3000)
            raise SmokeFailure(f"job: {JOB_KIND} job {job_id} did not finish in "
                               f"{self.timeout_s:.0f} s")
        self.mark("job_finished")
        self._check_job(window, job_id, outcome["state"])

    def _check_job(self, window, job_id: int, state: str) -> None:
        from workbench.store import queries
        from workbench.store.schema import Job

        with window.project.read() as session:
            job = session.get(Job, job_id)
            error = job.error
            pending = queries.status(session)["proposals"].get("pseudo_label", {})
        self.report["job_state"] = state
        if state != "succeeded":
            raise SmokeFailure(f"job: {JOB_KIND} job {job_id} ended {state}: {error}")
        shown = window.jobs_panel.state_of(job_id)
        if shown != "succeeded":
            raise SmokeFailure(f"job: the jobs panel shows job {job_id} as {shown!r}")
        self.report["proposals"] = sum(pending.values())
        if self.report["proposals"] == 0:
            raise SmokeFailure(f"job: {JOB_KIND} job {job_id} succeeded but stored no proposals")


def _print_report(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2, default=str), flush=True)
        return
    if report["ok"]:
        print(f"smoke test passed: {report['items']} items, job {report['job']} on "
              f"{report['device']} stored {report['proposals']} proposals", flush=True)
    timings = ", ".join(f"{key[:-2]} {value:.2f} s" for key, value in report.items()
                        if key.endswith("_s"))
    print(f"smoke test timings: {timings}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the smoke test; return the process exit code."""
    from workbench.logs import setup_logging
    from workbench.paths import prepare_bundle_environment

    argv = sys.argv[1:] if argv is None else argv
    args = _parse_args(argv[1:] if argv[:1] == [FLAG] else argv)
    # The smoke test needs no screen, on a desktop too.
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    prepare_bundle_environment()
    setup_logging()
    temporary = None
    if args.project is None:
        temporary = Path(tempfile.mkdtemp(prefix="workbench-smoke-"))
        args.project = temporary / "project"
    run = SmokeRun(args.project.expanduser().resolve(), args.timeout)
    try:
        report = run.run()
    except SmokeFailure as exc:
        print(f"smoke test failed at {exc}", file=sys.stderr, flush=True)
        _print_report(run.report, args.json)
        return 1
    finally:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
    _print_report(report, args.json)
    return 0
