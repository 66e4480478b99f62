"""The small handle a method uses to report progress and notice a cancel."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO, TypeVar

from workbench.jobs import protocol


T = TypeVar("T")


class Cancelled(Exception):
    """Raised inside a method when the job was cancelled."""


class TaskState:
    """Progress, metrics and log lines as JSON lines; cancel by SIGTERM.

    Methods call :meth:`check` between steps (an epoch, a batch of images),
    so a cancel takes effect within one step.
    """

    def __init__(self, out: TextIO | None = None, min_interval_s: float = 0.1):
        self._out = out or sys.stdout
        self._min_interval_s = min_interval_s
        self._last_progress = 0.0
        self._last_message: str | None = None
        self.cancel_requested = False

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, _signum, _frame) -> None:
        self.cancel_requested = True

    def emit(self, event: str, **fields: Any) -> None:
        self._out.write(protocol.encode(event, **fields) + "\n")
        self._out.flush()

    def check(self) -> None:
        if self.cancel_requested:
            raise Cancelled()

    def progress(self, value: float, message: str = "") -> None:
        """Report progress in [0, 1].

        Updates with the same message within min_interval_s are dropped; a
        new message (a new phase, such as "writing results") always goes out.
        """
        self.check()
        now = time.monotonic()
        repeat = message == self._last_message
        if value < 1.0 and repeat and now - self._last_progress < self._min_interval_s:
            return
        self._last_progress = now
        self._last_message = message
        self.emit("progress", value=round(float(value), 4), message=message)

    def metric(self, name: str, value: float, step: int) -> None:
        self.check()
        self.emit("metric", name=name, value=float(value), step=int(step))

    def log(self, message: str, level: str = "info") -> None:
        self.emit("log", level=level, message=message)

    def nested(self, prefix: str) -> "NestedState":
        return NestedState(self, prefix)


class NestedState:
    """A TaskState view for work nested in a job step, such as one K-fold fit.

    Cancel checks and log lines pass through, metric names get ``prefix``,
    and progress reports are dropped so the job's progress stays monotonic.
    """

    def __init__(self, state: TaskState, prefix: str):
        self._state = state
        self._prefix = prefix

    def check(self) -> None:
        self._state.check()

    def progress(self, value: float, message: str = "") -> None:
        self._state.check()

    def metric(self, name: str, value: float, step: int) -> None:
        self._state.metric(self._prefix + name, value, step)

    def log(self, message: str, level: str = "info") -> None:
        self._state.log(message, level)


def run_in_worker(
    state: TaskState,
    work: Callable[[], T],
    report: Callable[[float], tuple[float, str]],
    *,
    report_interval_s: float = 1.0,
    poll_interval_s: float = 0.1,
) -> T:
    """Run ``work`` in a daemon thread while this thread reports and watches for a cancel.

    Use it for a library call that runs for minutes and offers no place to
    call :meth:`TaskState.check`, such as a UMAP or t-SNE fit. Every
    ``report_interval_s`` seconds, ``report(elapsed_s)`` returns the
    ``(progress, message)`` to send. A cancel raises Cancelled here within
    about ``poll_interval_s`` and abandons the worker, which ends with the
    trainer process (``os._exit`` in ``trainers.__main__``). An exception
    raised by ``work`` is raised again here.

    NOTE: this thread runs only when the worker releases the GIL, so a
    native call that holds it for seconds delays reports and the cancel.
    Measured on 2 shared CPU cores, a umap-learn 0.5.12 fit of 70,000
    points let it run at least every 0.75 s, and a scikit-learn 1.9.1
    t-SNE of 10,000 at least every 0.25 s.
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed to the calling thread below
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="trainer-worker", daemon=True)
    started = time.monotonic()
    thread.start()
    next_report = started
    while thread.is_alive():
        state.check()
        now = time.monotonic()
        if now >= next_report:
            state.progress(*report(now - started))
            next_report = now + report_interval_s
        thread.join(poll_interval_s)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
