"""Import a ``root/<class>/...`` folder tree; nested folders keep the top folder's class."""

from __future__ import annotations

import json
import os
from pathlib import Path

from workbench.ingest.common import Entry, ImportReport, IngestError, write_entries
from workbench.ingest.images import IMAGE_SUFFIXES
from workbench.ingest.progress import Progress
from workbench.store.engine import Project

UNLABELED_FOLDER = "unlabeled"
# Written by the folder export: folder name to exact class name, for names
# that cannot be a folder name as they are (a "/" in "T-shirt/top").
CLASS_MAP_FILE = ".workbench-classes.json"


def read_class_map(root: Path) -> dict[str, str]:
    """Return the folder-to-class map an export left in ``root``, or an empty one."""
    file = root / CLASS_MAP_FILE
    if not file.exists():
        return {}
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        classes = data["classes"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IngestError(f"{file} is not a class map written by 'workbench export': "
                          f"{exc}") from None
    if not isinstance(classes, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in classes.items()):
        raise IngestError(f"{file}: 'classes' must map folder names to class names.")
    return classes


def _reason_not_a_file(path: Path) -> str | None:
    """Return why a path that is not a regular file is skipped, or None for a plain folder."""
    if path.is_symlink() and not path.exists():
        return f"broken symbolic link: its target {os.readlink(path)} does not exist"
    if path.is_dir():
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return "a folder named like an image file; the files in it are imported as usual"
        return None
    return "not a regular file"


def scan_folder(root: Path, class_map: dict[str, str] | None = None
                ) -> tuple[list[Entry], list[tuple[str, str]], list[tuple[str, str]]]:
    """List the image files under ``root`` with the class their top folder names.

    Files directly in ``root`` or under ``unlabeled/`` get no class. Hidden
    files and folders are left out, and ``class_map`` renames top folders.
    Returns the entries, (path, reason) for files rejected by their suffix,
    and (path, reason) for paths that are not regular files: broken symbolic
    links and folders named like image files.
    """
    class_map = class_map or {}
    entries, ignored, skipped = [], [], []
    for file in sorted(root.rglob("*")):
        parts = file.relative_to(root).parts
        if any(part.startswith(".") for part in parts):
            continue
        if not file.is_file():
            reason = _reason_not_a_file(file)
            if reason is not None:
                skipped.append((str(file), reason))
            continue
        if file.suffix.lower() not in IMAGE_SUFFIXES:
            ignored.append((str(file), f"not an image file suffix ({file.suffix or 'none'})"))
            continue
        folder = parts[0] if len(parts) > 1 else None
        if folder in class_map:
            class_name = class_map[folder]
        elif folder == UNLABELED_FOLDER:
            class_name = None
        else:
            class_name = folder
        entries.append(Entry(file=file, class_name=class_name))
    return entries, ignored, skipped


def import_folder(project: Project, root: str | Path, *,
                  progress: Progress | None = None) -> ImportReport:
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"Image folder {root} not found or not a folder.")
    class_map = read_class_map(root)
    entries, ignored, skipped = scan_folder(root, class_map)
    ignored = [(project.relative(Path(path)), reason) for path, reason in ignored]
    report = ImportReport(skipped=skipped)
    # An exported tree's map also keeps the classes' order.
    return write_entries(project, entries, actor=f"import:folder:{root.name}",
                         classes=list(class_map.values()) or None, unreadable=ignored,
                         report=report, progress=progress)
