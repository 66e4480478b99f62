"""The JSON-lines messages a trainer process writes on standard output.

Each line is one JSON object with an ``event`` field:

- ``{"event": "started", "job": 3, "pid": 123, "device": "cpu"}``
- ``{"event": "progress", "value": 0.4, "message": "round 2 of 3"}``
- ``{"event": "metric", "name": "loss", "value": 0.3, "step": 10}``
- ``{"event": "log", "level": "info", "message": "..."}``
- ``{"event": "finished", "state": "succeeded", "metrics": {...}}``

Anything else on standard output (a library's stray print) is passed on as a
log line, never an error.
"""

from __future__ import annotations

import json
from typing import Any

EVENTS = ("started", "progress", "metric", "log", "finished")

# Exit codes of a trainer process.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CANCELLED = 3


def encode(event: str, **fields: Any) -> str:
    return json.dumps({"event": event, **fields}, default=str, ensure_ascii=False)


def decode(line: str) -> dict[str, Any]:
    """Parse one output line; a line that is not a protocol message becomes a log event."""
    text = line.strip()
    try:
        message = json.loads(text)
    except ValueError:
        return {"event": "log", "level": "info", "message": text}
    if not isinstance(message, dict) or message.get("event") not in EVENTS:
        return {"event": "log", "level": "info", "message": text}
    return message
