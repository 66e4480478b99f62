"""Import a ``class_name/*.png|jpg`` folder tree."""

from __future__ import annotations

from pathlib import Path

from workbench.ingest.common import Entry, ImportReport, write_entries
from workbench.ingest.images import IMAGE_SUFFIXES
from workbench.store.engine import Project

UNLABELED_FOLDER = "unlabeled"


def scan_folder(root: Path) -> tuple[list[Entry], list[tuple[str, str]]]:
    """List the image files under ``root`` with the class their top folder names.

    Files directly in ``root`` or under ``unlabeled/`` get no class. Returns
    the entries and (path, reason) for files skipped by their suffix.
    """
    entries, ignored = [], []
    for file in sorted(root.rglob("*")):
        if not file.is_file() or any(part.startswith(".") for part in file.relative_to(root).parts):
            continue
        if file.suffix.lower() not in IMAGE_SUFFIXES:
            ignored.append((str(file), f"not an image file suffix ({file.suffix or 'none'})"))
            continue
        parts = file.relative_to(root).parts
        class_name = parts[0].strip() if len(parts) > 1 else None
        if class_name == UNLABELED_FOLDER:
            class_name = None
        entries.append(Entry(file=file, class_name=class_name))
    return entries, ignored


def import_folder(project: Project, root: str | Path) -> ImportReport:
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"Image folder {root} not found or not a folder.")
    entries, ignored = scan_folder(root)
    return write_entries(project, entries, actor=f"import:folder:{root.name}",
                         unreadable=ignored)
