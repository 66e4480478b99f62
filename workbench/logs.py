"""One logging set-up at start-up: standard error plus a rotating file."""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_folder() -> Path:
    from platformdirs import user_log_dir

    return Path(os.environ.get("WORKBENCH_LOG_DIR") or user_log_dir("workbench"))


def setup_logging(verbose: bool = False) -> Path | None:
    """Log to standard error and to ``workbench.log`` in the user log folder.

    Returns the log file, or None when the folder cannot be written (the
    program then logs to standard error only).
    """
    root = logging.getLogger()
    if getattr(root, "_workbench_configured", False):
        return None
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    stderr = logging.StreamHandler()
    stderr.setLevel(logging.DEBUG if verbose else logging.WARNING)
    stderr.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(stderr)
    root._workbench_configured = True  # type: ignore[attr-defined]
    try:
        folder = log_folder()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "workbench.log"
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    except OSError as exc:
        logging.getLogger(__name__).warning("Logging to standard error only: %s", exc)
        return None
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    return path
