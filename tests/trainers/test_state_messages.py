"""Progress messages a trainer sends."""

from __future__ import annotations

import io
import json

from trainers.state import TaskState


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
