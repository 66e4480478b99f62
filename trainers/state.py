"""The small handle a method uses to report progress and notice a cancel."""

from __future__ import annotations

import signal
import sys
import time
from typing import Any, TextIO

from workbench.jobs import protocol


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
