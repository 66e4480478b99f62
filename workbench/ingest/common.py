"""Write imported files into a project in one transaction, with a report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from workbench.ingest.images import ImageError, ImageInfo, inspect_image
from workbench.store.actions import ensure_classes, record_import_labels
from workbench.store.engine import Project
from workbench.store.schema import SOURCE_IMPORTED, ImportIssue, Item


@dataclass
class Entry:
    """One file to import, with the label and metadata it came with."""

    file: Path
    class_name: str | None = None
    split: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class ImportReport:
    added: int = 0
    labeled: int = 0
    # (path, reason) for each file that was not imported.
    skipped: list[tuple[str, str]] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"Imported {self.added} images ({self.labeled} labeled)."]
        if self.skipped:
            lines.append(f"Skipped {len(self.skipped)} files already in the project.")
        if self.unreadable:
            lines.append(f"{len(self.unreadable)} files could not be read:")
            lines += [f"  {path}: {reason}" for path, reason in self.unreadable]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added, "labeled": self.labeled, "classes": self.classes,
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "unreadable": [{"path": p, "reason": r} for p, r in self.unreadable],
        }


def _inspect_all(entries: list[Entry], report: ImportReport) -> list[tuple[Entry, ImageInfo]]:
    readable = []
    for entry in entries:
        try:
            readable.append((entry, inspect_image(entry.file)))
        except ImageError as exc:
            report.unreadable.append((str(entry.file), str(exc)))
    return readable


def write_entries(
    project: Project,
    entries: list[Entry],
    *,
    actor: str,
    source: str = SOURCE_IMPORTED,
    shortcuts: dict[str, str] | None = None,
    unreadable: list[tuple[str, str]] | None = None,
) -> ImportReport:
    """Decode and hash every entry, then add the readable new ones in one transaction.

    A file whose path or content hash is already in the project is skipped
    and reported, so importing the same folder twice adds nothing. Files in
    ``unreadable`` (path, reason) were rejected before decoding; they are
    recorded and reported with the files that fail to decode.
    """
    report = ImportReport(unreadable=list(unreadable or []))
    readable = _inspect_all(entries, report)
    class_names = sorted({e.class_name for e, _ in readable if e.class_name is not None})
    with project.write() as session:
        class_ids = ensure_classes(session, class_names, shortcuts)
        known_paths = set(session.scalars(select(Item.path)))
        known_hashes = set(session.scalars(select(Item.sha256)))
        labels: list[tuple[Item, int]] = []
        for entry, info in readable:
            path = project.relative(entry.file)
            if path in known_paths:
                report.skipped.append((path, "already in the project"))
                continue
            if info.sha256 in known_hashes:
                report.skipped.append((path, "same content as an image already in the project"))
                continue
            item = Item(path=path, sha256=info.sha256, width=info.width, height=info.height,
                        split=entry.split, meta=entry.meta)
            session.add(item)
            known_paths.add(path)
            known_hashes.add(info.sha256)
            if entry.class_name is not None:
                labels.append((item, class_ids[entry.class_name]))
            report.added += 1
        session.flush()
        record_import_labels(session, labels, actor=actor, source=source)
        for path, reason in report.unreadable:
            session.add(ImportIssue(path=path, reason=reason))
    report.labeled = len(labels)
    report.classes = class_names
    return report
