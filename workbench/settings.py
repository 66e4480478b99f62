"""Typed user preferences stored as JSON in the platform's user config folder.

Window geometry and dock layout live in QSettings; everything a person
chooses on purpose lives here, with a schema version so an older file can be
migrated instead of being silently dropped. Project facts belong in the
project database, not here.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from platformdirs import user_config_dir

from workbench.jobs.threads import AUTOMATIC, MAX_THREADS

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
FILE_NAME = "settings.json"
MAX_RECENT = 10
DEVICES = ("auto", "cpu", "cuda", "mps")
THUMBNAIL_SIZES = (48, 64, 96, 128)


class SettingsError(ValueError):
    """A preference value that is out of range; the message names the value."""


@dataclass
class Settings:
    """User preferences. Validated on load and before every save."""

    device: str = "auto"
    thumbnail_size: int = 64
    # Score threshold the review panel's "Accept all above" starts from.
    accept_threshold: float = 0.95
    # Threshold a new job's form starts from when its kind has one.
    job_threshold: float = 0.9
    # Threads per BLAS, OpenMP and torch pool of each job. AUTOMATIC (0)
    # lets the runner choose from the usable cores and the running jobs.
    job_threads: int = AUTOMATIC
    recent_projects: list[str] = field(default_factory=list)

    def validate(self) -> None:
        if self.device not in DEVICES:
            raise SettingsError(
                f"Invalid device {self.device!r}; use one of {', '.join(DEVICES)}.")
        if self.thumbnail_size not in THUMBNAIL_SIZES:
            sizes = ", ".join(map(str, THUMBNAIL_SIZES))
            raise SettingsError(
                f"Invalid thumbnail size {self.thumbnail_size}; use one of {sizes} pixels.")
        for name in ("accept_threshold", "job_threshold"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise SettingsError(f"{name} must be between 0 and 1, got {value}.")
        threads = self.job_threads
        if (not isinstance(threads, int) or isinstance(threads, bool)
                or not AUTOMATIC <= threads <= MAX_THREADS):
            raise SettingsError(
                f"Invalid threads per job {threads!r}: use {AUTOMATIC} for automatic or a "
                f"whole number from 1 to {MAX_THREADS}.")

    def add_recent(self, folder: Path) -> None:
        text = str(Path(folder).resolve())
        self.recent_projects = [text] + [p for p in self.recent_projects if p != text]
        del self.recent_projects[MAX_RECENT:]


def settings_path() -> Path:
    return Path(user_config_dir("workbench", appauthor=False)) / FILE_NAME


def _migrate(data: dict) -> dict:
    """Bring a stored dict up to SCHEMA_VERSION; version 0 is a file without one."""
    version = data.get("schema_version", 0)
    if version == 0:
        # Version 0 kept a single threshold for both uses.
        if "threshold" in data:
            data.setdefault("accept_threshold", data["threshold"])
            data.setdefault("job_threshold", data.pop("threshold"))
        version = 1
    data["schema_version"] = version
    return data


def load_settings(path: Path | None = None) -> Settings:
    """Read the preferences; a missing, unreadable or invalid file gives the defaults.

    A problem is logged with the file name, never raised, so a broken file
    cannot keep the window from starting. The broken file is kept as is
    until the next save replaces it.
    """
    path = path or settings_path()
    if not path.exists():
        return Settings()
    try:
        data = _migrate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, AttributeError) as exc:
        log.warning("Ignoring unreadable settings file %s: %s", path, exc)
        return Settings()
    if data["schema_version"] > SCHEMA_VERSION:
        log.warning("Settings file %s has schema %s, newer than %s; using defaults",
                    path, data["schema_version"], SCHEMA_VERSION)
        return Settings()
    known = {f.name for f in fields(Settings)}
    try:
        settings = Settings(**{k: v for k, v in data.items() if k in known})
        settings.validate()
    except (TypeError, SettingsError) as exc:
        log.warning("Ignoring invalid settings file %s: %s", path, exc)
        return Settings()
    return settings


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Validate and write the preferences atomically; raises SettingsError."""
    settings.validate()
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"schema_version": SCHEMA_VERSION, **asdict(settings)}
    partial = path.with_suffix(f".{os.getpid()}.part")
    partial.write_text(json.dumps(data, indent=2), encoding="utf-8")
    os.replace(partial, path)
    return path
