"""Bundle contents for workbench.spec: the modules and files left out, and the marker.

Every entry left out here is one the workbench never loads: test and build
tools, headers and static libraries, Qt translations and plugins for
modules the window does not use, and torch's compiler stack (triton), which
only ``torch.compile`` needs. The shared libraries torch links against stay,
because ``import torch`` fails without any one of them.
"""

from __future__ import annotations

import datetime
import fnmatch
import importlib.metadata
import json
import platform
import re
import sys
from pathlib import Path

MARKER_NAME = "workbench-bundle.json"

EXCLUDED_MODULES = [
    # Test and development tools.
    "pytest", "_pytest", "pytestqt", "pluggy", "iniconfig", "pygments",
    "IPython", "tkinter", "_tkinter", "setuptools", "pip",
    # torch.compile's GPU kernel compiler; eager torch never imports it.
    "triton",
    # torch's TensorBoard writer. torch.testing._internal stays: import
    # torch reaches it through torch.utils.checkpoint (torch 2.14.1).
    "torch.utils.tensorboard", "tensorboard",
    # open_clip's training scripts (the library is open_clip).
    "open_clip_train",
]

# Glob patterns on the path inside the bundle (forward slashes).
EXCLUDED_FILES = [
    "*.a", "*.h", "*.hpp", "*.cuh", "*.pyi",
    "*/include/*",
    # The protobuf compiler that torch's wheel carries for building extensions.
    "torch/bin/protoc*",
    # The window is in English only; Qt's own translations are not loaded.
    "PySide6/Qt/translations/*",
    # Qt plugins for modules the window does not import (QtNetwork, QML).
    "PySide6/Qt/plugins/tls/*",
    "PySide6/Qt/plugins/networkinformation/*",
    "PySide6/Qt/plugins/qmltooling/*",
]


def excluded(dest_name: str) -> bool:
    path = dest_name.replace("\\", "/")
    return any(fnmatch.fnmatch(path, pattern) for pattern in EXCLUDED_FILES)


def filter_entries(entries):
    """Drop the TOC entries (dest_name, src_name, typecode) matched by EXCLUDED_FILES."""
    included = [entry for entry in entries if not excluded(entry[0])]
    print(f"bundle_contents: left out {len(entries) - len(included)} of {len(entries)} files")
    return included


def version() -> str:
    try:
        return importlib.metadata.version("workbench")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


def torch_build() -> dict[str, str | None]:
    """Read torch's version and CUDA version without importing torch."""
    try:
        torch_version = importlib.metadata.version("torch")
        files = importlib.metadata.distribution("torch").locate_file("torch/version.py")
        text = Path(str(files)).read_text(encoding="utf-8")
    except (importlib.metadata.PackageNotFoundError, OSError):
        return {"torch": None, "cuda": None}
    match = re.search(r"^cuda(?:: [^=]+)? = '([^']+)'", text, re.MULTILINE)
    return {"torch": torch_version, "cuda": match.group(1) if match else None}


def write_marker(folder: Path) -> Path:
    """Write the marker file that makes the app run as an installed bundle."""
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / MARKER_NAME
    info = {
        "name": "workbench",
        "version": version(),
        "built_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": sys.platform,
        **torch_build(),
    }
    marker.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return marker
