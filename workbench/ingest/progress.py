"""The progress and cancel handle that import and export functions report through.

A long import is a plain function that takes a :class:`Progress`. The command
line shows it with tqdm, the window with a progress dialog; tests pass none.
Reports are throttled here, so a front end gets a few per second however
many files there are.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

REPORT_INTERVAL_S = 0.1


class Cancelled(Exception):
    """The user cancelled the import or export; nothing was written to the project."""


class Progress:
    """Counts the steps of named stages and carries a cancel request across threads.

    ``on_report(stage, done, total)`` is called from the working thread,
    at most every REPORT_INTERVAL_S and always at the end of a stage.
    """

    def __init__(self, on_report: Callable[[str, int, int], None] | None = None,
                 cancel_event=None):
        self._on_report = on_report
        # Any object with set() and is_set(): a threading.Event, or a
        # multiprocessing Event when the work runs in another process.
        self._cancel = cancel_event if cancel_event is not None else threading.Event()
        self.stage = ""
        self.done = 0
        self.total = 0
        self._last = 0.0

    def start(self, stage: str, total: int) -> None:
        self.stage, self.done, self.total = stage, 0, total
        self._report(force=True)

    def step(self, count: int = 1) -> None:
        self.done += count
        self._report(force=self.done >= self.total)

    def update(self, stage: str, done: int, total: int) -> None:
        """Record a report made elsewhere, such as in a worker process, and pass it on."""
        new_stage = stage != self.stage
        self.stage, self.done, self.total = stage, done, total
        self._report(force=new_stage or done >= total)

    def cancel(self) -> None:
        """Ask the work to stop at its next check (safe from any thread)."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        """Raise Cancelled when a cancel was requested."""
        if self._cancel.is_set():
            raise Cancelled("Cancelled; nothing was written to the project.")

    def _report(self, force: bool) -> None:
        now = time.monotonic()
        if self._on_report is None or (not force and now - self._last < REPORT_INTERVAL_S):
            return
        self._last = now
        self._on_report(self.stage, self.done, self.total)


def format_count(count: int, singular: str, plural: str | None = None) -> str:
    """Format a count with its noun in the matching number: "1 file", "3 files"."""
    noun = singular if count == 1 else plural or singular + "s"
    return f"{count} {noun}"


def tqdm_progress() -> Progress:
    """Return a Progress that draws one tqdm bar per stage on standard error.

    The bar is drawn only when standard error is a terminal.
    """
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def report(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            for old in bars.values():
                old.close()
            bar = bars[stage] = tqdm(total=total, desc=stage, unit="file", disable=None,
                                     leave=True, dynamic_ncols=True)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return Progress(report)
