"""Progress messages a trainer sends."""

from __future__ import annotations

import io
import json
import threading
import time

import pytest

from trainers.state import Cancelled, TaskState, run_in_worker


def _events(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_new_phase_is_never_dropped():
    buffer = io.StringIO()
    state = TaskState(out=buffer, min_interval_s=60.0)
    state.progress(0.1, "reading images")
    state.progress(0.2, "reading images")
    state.progress(0.95, "writing results")
    messages = [(e["value"], e["message"]) for e in _events(buffer)]
    assert messages == [(0.1, "reading images"), (0.95, "writing results")]


def test_final_progress_always_sent():
    buffer = io.StringIO()
    state = TaskState(out=buffer, min_interval_s=60.0)
    state.progress(0.5, "done")
    state.progress(1.0, "done")
    assert [e["value"] for e in _events(buffer)] == [0.5, 1.0]


def test_worker_reports_while_running():
    buffer = io.StringIO()
    state = TaskState(out=buffer, min_interval_s=0.0)

    def work() -> str:
        time.sleep(0.5)
        return "fitted"

    result = run_in_worker(state, work, lambda elapsed: (0.5, f"fitting, {elapsed:.1f} s"),
                           report_interval_s=0.1, poll_interval_s=0.02)
    messages = [e["message"] for e in _events(buffer)]
    assert result == "fitted"
    assert len(messages) >= 3
    assert messages[0] == "fitting, 0.0 s"


def test_worker_cancel_is_prompt():
    state = TaskState(out=io.StringIO())
    release = threading.Event()
    threading.Timer(0.2, lambda: setattr(state, "cancel_requested", True)).start()
    started = time.monotonic()
    try:
        with pytest.raises(Cancelled):
            run_in_worker(state, lambda: release.wait(30), lambda elapsed: (0.5, "fitting"),
                          poll_interval_s=0.02)
        assert time.monotonic() - started < 1.0
    finally:
        release.set()


def test_worker_error_is_raised_again():
    def work():
        raise ValueError("too few rows")

    with pytest.raises(ValueError, match="too few rows"):
        run_in_worker(TaskState(out=io.StringIO()), work, lambda elapsed: (0.5, "fitting"))
