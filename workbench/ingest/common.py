"""Write imported files into a project in one transaction, with a report.

Every importer ends here. A file is identified by its path and its SHA-256:
a path or a content hash the project already has is skipped and reported,
so importing the same source twice adds nothing. Rows go in with bulk
inserts, so 60,000 items take seconds, not minutes.
"""

from __future__ import annotations

import logging
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from workbench.ingest.images import ImageError, inspect_image
from workbench.ingest.progress import Progress, format_count
from workbench.store.actions import ensure_classes
from workbench.store.engine import Project
from workbench.store.schema import (
    ACTION_IMPORT,
    SOURCE_IMPORTED,
    ImportIssue,
    Item,
    LabelClass,
    LabelEvent,
    utcnow,
)

log = logging.getLogger(__name__)

INSERT_BATCH = 5000
ALREADY_THERE = "already in the project"
DUPLICATE = "duplicate: same content as"


class IngestError(ValueError):
    """A source that cannot be imported at all (a bad manifest, a bad IDX header)."""


@dataclass
class Entry:
    """One file to import, with the label and metadata it came with."""

    file: Path
    class_name: str | None = None
    split: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class NewItem:
    """A readable file ready to become a row; ``path`` is as the project stores it."""

    path: str
    sha256: str
    width: int
    height: int
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
    warnings: list[str] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)

    @property
    def duplicates(self) -> list[tuple[str, str]]:
        return [(path, reason) for path, reason in self.skipped if reason.startswith(DUPLICATE)]

    def warn(self, message: str) -> None:
        log.warning("%s", message)
        self.warnings.append(message)

    def summary(self) -> str:
        lines = [f"Imported {format_count(self.added, 'image')} ({self.labeled} labeled)."]
        known = sum(1 for _, reason in self.skipped if reason == ALREADY_THERE)
        if known:
            lines.append(f"Skipped {format_count(known, 'file')} already in the project.")
        if self.duplicates:
            lines.append(f"Skipped {format_count(len(self.duplicates), 'duplicate')} of "
                         "other images:")
            lines += [f"  {path}: {reason}" for path, reason in self.duplicates]
        others = [(path, reason) for path, reason in self.skipped
                  if reason != ALREADY_THERE and not reason.startswith(DUPLICATE)]
        if others:
            lines.append(f"Skipped {format_count(len(others), 'other path')}:")
            lines += [f"  {path}: {reason}" for path, reason in others]
        if self.unreadable:
            lines.append(f"{format_count(len(self.unreadable), 'file')} could not be read:")
            lines += [f"  {path}: {reason}" for path, reason in self.unreadable]
        if self.warnings:
            lines.append("Warnings:")
            lines += [f"  {message}" for message in self.warnings]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added, "labeled": self.labeled, "classes": self.classes,
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "duplicates": [{"path": p, "reason": r} for p, r in self.duplicates],
            "unreadable": [{"path": p, "reason": r} for p, r in self.unreadable],
            "warnings": list(self.warnings),
        }


# Class names ----------------------------------------------------------------


def _name_key(name: str) -> str:
    """Return the key that two names a person would call the same class share."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def clean_class_names(
    raw_names: Iterable[str], existing: Iterable[str], report: ImportReport
) -> dict[str, str | None]:
    """Map each raw class name to the name to store: trimmed, or None when blank.

    Trimming and near-duplicates (names equal but for case, spaces or Unicode
    form, here or against the project's classes) are reported as warnings.
    Near-duplicates that the project already has are not reported again
    unless this import adds another class like them. Names are otherwise
    kept exactly, non-ASCII included.
    """
    existing = list(existing)
    mapping: dict[str, str | None] = {}
    for name in dict.fromkeys(raw_names):
        clean = name.strip()
        if not clean:
            report.warn(f"Class name {name!r} is blank; its files stay unlabeled.")
        elif clean != name:
            report.warn(f"Class name {name!r} trimmed to {clean!r}.")
        mapping[name] = clean or None
    groups: dict[str, set[str]] = defaultdict(set)
    for name in [*existing, *mapping]:
        if name.strip():
            groups[_name_key(name)].add(name)
    for names in groups.values():
        if len(names) < 2:
            continue
        listed = ", ".join(repr(n) for n in sorted(names))
        targets = {mapping.get(n, n) for n in names}
        if targets <= set(existing):
            continue
        if len(targets) == 1:
            report.warn(f"Near-duplicate class names {listed} were merged into "
                        f"{targets.pop()!r}.")
        else:
            report.warn(f"Near-duplicate class names {listed} differ only in case, spaces "
                        "or Unicode form; they are kept apart. Rename one if they are "
                        "the same class.")
    return mapping


# Known items -----------------------------------------------------------------


class KnownItems:
    """Paths and hashes already in the project, to skip files it has."""

    def __init__(self, session: Session):
        self.paths: set[str] = set()
        self.by_sha: dict[str, str] = {}
        for path, sha in session.execute(select(Item.path, Item.sha256)):
            self.add(path, sha)

    def add(self, path: str, sha256: str) -> None:
        self.paths.add(path)
        self.by_sha.setdefault(sha256, path)

    def reason_to_skip(self, path: str, sha256: str | None = None) -> str | None:
        if path in self.paths:
            return ALREADY_THERE
        if sha256 is not None and sha256 in self.by_sha:
            return f"{DUPLICATE} {self.by_sha[sha256]}"
        return None


def existing_class_names(project: Project) -> list[str]:
    with project.read() as session:
        return list(session.scalars(select(LabelClass.name)))


# Reading files ---------------------------------------------------------------


def read_entries(
    project: Project,
    entries: list[Entry],
    report: ImportReport,
    progress: Progress,
) -> list[NewItem]:
    """Decode and hash the entries the project does not have; report the rest."""
    names = clean_class_names((e.class_name for e in entries if e.class_name is not None),
                              existing_class_names(project), report)
    with project.read() as session:
        known = KnownItems(session)
    items: list[NewItem] = []
    progress.start("Reading images", len(entries))
    for entry in entries:
        progress.check()
        path = project.relative(entry.file)
        reason = known.reason_to_skip(path)
        if reason is None:
            try:
                info = inspect_image(entry.file)
            except ImageError as exc:
                report.unreadable.append((path, str(exc)))
                progress.step()
                continue
            reason = known.reason_to_skip(path, info.sha256)
        if reason is not None:
            report.skipped.append((path, reason))
        else:
            known.add(path, info.sha256)
            class_name = names[entry.class_name] if entry.class_name is not None else None
            items.append(NewItem(path, info.sha256, info.width, info.height, class_name,
                                 entry.split, entry.meta))
        progress.step()
    return items


# Writing rows ----------------------------------------------------------------


def _usable_shortcuts(session: Session, shortcuts: dict[str, str] | None) -> dict[str, str]:
    """Return the requested keys, or none when the project uses any of them.

    Keeping only some would let ensure_classes hand a skipped class a free
    key that a later class of the same import requests.
    """
    used = set(session.scalars(select(LabelClass.shortcut)))
    wanted = shortcuts or {}
    return {} if used & set(wanted.values()) else dict(wanted)


def _item_rows(items: list[NewItem], class_ids: dict[str, int], actor: str,
               source: str) -> list[dict[str, Any]]:
    now = utcnow()
    rows = []
    for item in items:
        labeled = item.class_name is not None
        rows.append({
            "path": item.path, "sha256": item.sha256, "width": item.width,
            "height": item.height, "split": item.split, "meta": item.meta,
            "label_class_id": class_ids[item.class_name] if labeled else None,
            "label_source": source if labeled else None,
            "label_confidence": 1.0 if labeled else None,
            "label_actor": actor if labeled else None,
            "label_updated_at": now if labeled else None,
            "created_at": now,
        })
    return rows


def _insert_label_events(session: Session, first_new_id: int, actor: str, source: str) -> None:
    """Give every new labeled item its "import" event, all in one decision.

    The same events as store.actions.record_import_labels writes, as one bulk
    insert instead of an ORM object per item. Undo skips "import" events.
    """
    labeled = session.execute(
        select(Item.id, Item.label_class_id)
        .where(Item.id >= first_new_id, Item.label_class_id.is_not(None))
    ).all()
    if not labeled:
        return
    decision = (session.scalar(select(func.max(LabelEvent.decision))) or 0) + 1
    now = utcnow()
    events = [
        {"item_id": item_id, "decision": decision, "action": ACTION_IMPORT,
         "new_class_id": class_id, "new_source": source, "new_confidence": 1.0,
         "actor": actor, "created_at": now}
        for item_id, class_id in labeled
    ]
    for start in range(0, len(events), INSERT_BATCH):
        session.execute(insert(LabelEvent), events[start:start + INSERT_BATCH])


def _record_issues(session: Session, unreadable: list[tuple[str, str]]) -> None:
    known = {tuple(row) for row in session.execute(select(ImportIssue.path, ImportIssue.reason))}
    fresh = [{"path": p, "reason": r, "created_at": utcnow()}
             for p, r in dict.fromkeys(unreadable) if (p, r) not in known]
    if fresh:
        session.execute(insert(ImportIssue), fresh)


def write_items(
    project: Project,
    items: list[NewItem],
    report: ImportReport,
    *,
    actor: str,
    source: str = SOURCE_IMPORTED,
    classes: list[str] | None = None,
    shortcuts: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Add the items, their labels and the unreadable files in one transaction.

    Items whose path or hash another writer added since they were read are
    skipped and reported. ``classes`` are created in their order even when no
    item is labeled with them, as a data set's classes are. The other classes
    the items use follow, sorted by name.
    """
    progress = progress or Progress()
    progress.check()
    progress.start("Saving to the project", len(items))
    with project.write() as session:
        known = KnownItems(session)
        fresh = []
        for item in items:
            reason = known.reason_to_skip(item.path, item.sha256)
            if reason is None:
                known.add(item.path, item.sha256)
                fresh.append(item)
            else:
                report.skipped.append((item.path, reason))
        used = {item.class_name for item in fresh if item.class_name is not None}
        names = list(dict.fromkeys([*(classes or []), *sorted(used)]))
        class_ids = ensure_classes(session, names, _usable_shortcuts(session, shortcuts))
        first_new_id = (session.scalar(select(func.max(Item.id))) or 0) + 1
        rows = _item_rows(fresh, class_ids, actor, source)
        for start in range(0, len(rows), INSERT_BATCH):
            batch = rows[start:start + INSERT_BATCH]
            session.execute(insert(Item), batch)
            progress.step(len(batch))
        _insert_label_events(session, first_new_id, actor, source)
        _record_issues(session, report.unreadable)
    report.added += len(fresh)
    report.labeled += sum(1 for item in fresh if item.class_name is not None)
    report.classes = sorted(set(report.classes) | used)
    return report


def write_entries(
    project: Project,
    entries: list[Entry],
    *,
    actor: str,
    source: str = SOURCE_IMPORTED,
    shortcuts: dict[str, str] | None = None,
    classes: list[str] | None = None,
    unreadable: list[tuple[str, str]] | None = None,
    report: ImportReport | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Decode and hash every entry, then add the readable new ones in one transaction.

    Files in ``unreadable`` (path, reason) were rejected before decoding;
    they are recorded and reported with the files that fail to decode.
    ``classes`` are created first, in their order (see write_items). A
    ``report`` the caller started (with warnings about its source) is
    completed and returned. Nothing but a cancel or a failed write stops the
    import.
    """
    progress = progress or Progress()
    report = report or ImportReport()
    report.unreadable.extend(unreadable or [])
    items = read_entries(project, entries, report, progress)
    return write_items(project, items, report, actor=actor, source=source,
                       classes=classes, shortcuts=shortcuts, progress=progress)
