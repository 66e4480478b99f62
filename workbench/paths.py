"""Where the program finds its resources and keeps its files.

The PyInstaller bundle carries a marker file, ``workbench-bundle.json``, in
its data folder. Logs and settings always go to the platform's user folders
(platformdirs and QSettings). With the marker present, the caches of bundled
libraries go there too. By default those libraries write their caches beside
their module files, which in a bundle is the bundle folder: it may be
read-only, and the next install replaces it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

APP_NAME = "workbench"
MARKER_NAME = "workbench-bundle.json"


def bundle_root() -> Path | None:
    """Return the frozen program's data folder (PyInstaller's ``sys._MEIPASS``), or None."""
    if not getattr(sys, "frozen", False):
        return None
    return Path(getattr(sys, "_MEIPASS", Path(sys.executable).resolve().parent))


def bundle_info() -> dict[str, Any] | None:
    """Return the bundle marker's contents, or None when not running from the bundle."""
    root = bundle_root()
    if root is None:
        return None
    try:
        return json.loads((root / MARKER_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        # A damaged marker still means an installed bundle.
        return {"name": APP_NAME, "error": f"unreadable {MARKER_NAME}: {exc}"}


def resources_folder() -> Path:
    """Return the folder with icons, style sheets and prompt templates."""
    root = bundle_root()
    if root is not None:
        return root / "resources"
    # A checkout and an installed wheel both put resources/ beside workbench/.
    return Path(__file__).resolve().parents[1] / "resources"


def resource_path(name: str) -> Path:
    """Return the path of one resource file; raise FileNotFoundError naming it."""
    path = resources_folder() / name
    if not path.is_file():
        raise FileNotFoundError(
            f"Resource {name!r} not found in {resources_folder()}; reinstall the workbench."
        )
    return path


def user_folders() -> dict[str, Path]:
    """Return the user's config, data, cache and log folders for the workbench."""
    from platformdirs import PlatformDirs

    dirs = PlatformDirs(APP_NAME, appauthor=False)
    return {
        "config": Path(dirs.user_config_dir),
        "data": Path(dirs.user_data_dir),
        "cache": Path(dirs.user_cache_dir),
        "log": Path(os.environ.get("WORKBENCH_LOG_DIR") or dirs.user_log_dir),
    }


def prepare_bundle_environment(environ: dict[str, str] | None = None) -> bool:
    """Point the caches of bundled libraries at the user cache folder.

    Runs only from the bundle (the marker is present) and returns whether it
    did. numba, which umap-learn and pynndescent use, writes its compiled
    functions beside the module sources, inside the bundle, unless
    NUMBA_CACHE_DIR names another folder. Trainer processes
    inherit the variables. Values the user has set are kept.
    """
    if bundle_info() is None:
        return False
    environ = os.environ if environ is None else environ
    cache = user_folders()["cache"]
    environ.setdefault("NUMBA_CACHE_DIR", str(cache / "numba"))
    return True
