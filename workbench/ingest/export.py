"""Export a project's labels: a CSV manifest, JSON lines with provenance, or a folder tree.

The CSV and JSON lines files list paths relative to their own folder, so
``workbench import csv`` reads them back with the same labels. The folder
tree is ImageNet-style, ``OUT/<class>/<file>``, with unlabeled items under
``unlabeled/``. A class name that cannot be a folder name as it is (a ``/``,
a leading dot, the name ``unlabeled``) gets a safe folder name. The file
``.workbench-classes.json`` maps folder names back to the exact class names
for the folder import.
"""

from __future__ import annotations

import csv
import errno
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from workbench.ingest.folder import CLASS_MAP_FILE, UNLABELED_FOLDER
from workbench.ingest.images import sha256_bytes
from workbench.ingest.progress import Progress, format_count
from workbench.store.engine import Project
from workbench.store.schema import Item, Job, LabelClass, LabelEvent, Proposal

log = logging.getLogger(__name__)

FORMATS = ("csv", "jsonl", "folders")
LINK_MODES = ("copy", "hardlink", "symlink")
CSV_COLUMNS = ("path", "label", "source", "confidence", "actor", "time", "split", "sha256")
# Characters that are not allowed, or not safe, in a folder name on some system.
UNSAFE_IN_FOLDER = re.compile(r'[/\\:*?"<>|\x00-\x1f]')
MAX_FOLDER_BYTES = 200


class ExportError(ValueError):
    """An export that cannot start (the output exists, an unknown format)."""


@dataclass
class ExportRow:
    """One item as an export writes it."""

    item_id: int
    path: str
    file: Path
    sha256: str
    width: int
    height: int
    split: str | None
    meta: dict[str, Any]
    label: str | None
    source: str | None
    confidence: float | None
    actor: str | None
    time: datetime | None


@dataclass
class ExportReport:
    format: str
    out: Path
    written: int = 0
    labeled: int = 0
    # (path, reason) for each item whose file could not be exported as it was imported.
    problems: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"Exported {format_count(self.written, 'item')} ({self.labeled} labeled) "
                 f"as {self.format} to {self.out}."]
        if self.problems:
            verb = "needs" if len(self.problems) == 1 else "need"
            lines.append(f"{format_count(len(self.problems), 'file')} {verb} attention:")
            lines += [f"  {path}: {reason}" for path, reason in self.problems]
        lines += [f"Warning: {message}" for message in self.warnings]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": self.format, "out": str(self.out), "written": self.written,
            "labeled": self.labeled, "warnings": list(self.warnings),
            "problems": [{"path": p, "reason": r} for p, r in self.problems],
        }


def iso_time(value: datetime | None) -> str:
    """Format a stored UTC time as ISO 8601 with a Z, or return an empty string."""
    return value.isoformat() + "Z" if value is not None else ""


def export_rows(project: Project, *, labeled_only: bool = False) -> list[ExportRow]:
    query = (
        select(Item.id, Item.path, Item.sha256, Item.width, Item.height, Item.split, Item.meta,
               LabelClass.name, Item.label_source, Item.label_confidence, Item.label_actor,
               Item.label_updated_at)
        .outerjoin(LabelClass, LabelClass.id == Item.label_class_id)
        .order_by(Item.id)
    )
    if labeled_only:
        query = query.where(Item.label_class_id.is_not(None))
    with project.read() as session:
        rows = session.execute(query).all()
    return [
        ExportRow(row[0], row[1], project.resolve(row[1]), *row[2:6], dict(row[6] or {}),
                  *row[7:])
        for row in rows
    ]


def _relative_to(file: Path, folder: Path) -> str:
    try:
        return Path(os.path.relpath(file, folder)).as_posix()
    except ValueError:
        # Another drive on Windows: no relative path exists.
        return file.as_posix()


def _make_folder(folder: Path) -> None:
    """Create ``folder`` and its parents, or raise ExportError when a file is in the way."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ExportError(f"Cannot create the folder {folder}: a file is in its path. "
                          "Choose another output path.") from None


def _check_file_target(out: Path, overwrite: bool) -> None:
    """Raise ExportError when ``out`` is a folder, or an existing file and not ``overwrite``."""
    if out.is_dir():
        raise ExportError(f"{out} is a folder. Give the path of a file to write, such as a "
                          "new file name inside it.")
    if out.exists() and not overwrite:
        raise ExportError(f"{out} already exists. Pass --overwrite to replace it, or choose "
                          "another file name.")


def _write_atomic(out: Path, write: Callable[[Any], None], overwrite: bool) -> None:
    """Write ``out`` through a temporary file beside it, so a failed export leaves no partial file.

    Raises ExportError, naming ``out`` and not the temporary file, when
    ``out`` is a folder, exists and ``overwrite`` is false, or cannot be written.
    """
    _check_file_target(out, overwrite)
    _make_folder(out.parent)
    partial = out.with_name(f".{out.name}.{os.getpid()}.part")
    try:
        with open(partial, "w", newline="", encoding="utf-8") as handle:
            write(handle)
        os.replace(partial, out)
    except OSError as exc:
        raise ExportError(f"Cannot write {out}: {exc.strerror or exc}. Choose a folder "
                          "you can write to.") from None
    finally:
        partial.unlink(missing_ok=True)


def _check_files(rows: list[ExportRow], report: ExportReport) -> None:
    for row in rows:
        if not row.file.is_file():
            report.problems.append((row.path, "file not found; its row was written anyway"))


def export_csv(project: Project, out: str | Path, *, labeled_only: bool = False,
               overwrite: bool = False, progress: Progress | None = None) -> ExportReport:
    """Write path, label, source, confidence, actor, time (and split, sha256) per item.

    An existing ``out`` raises ExportError unless ``overwrite`` is true.
    """
    out = Path(out).expanduser().resolve()
    _check_file_target(out, overwrite)
    progress = progress or Progress()
    report = ExportReport("csv", out)
    rows = export_rows(project, labeled_only=labeled_only)
    progress.start("Exporting", len(rows))

    def write(handle) -> None:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            progress.check()
            confidence = "" if row.confidence is None else repr(row.confidence)
            writer.writerow([_relative_to(row.file, out.parent), row.label or "",
                             row.source or "", confidence, row.actor or "", iso_time(row.time),
                             row.split or "", row.sha256])
            progress.step()

    _write_atomic(out, write, overwrite)
    _check_files(rows, report)
    report.written = len(rows)
    report.labeled = sum(1 for row in rows if row.label is not None)
    return report


def _history(session: Session) -> dict[int, list[dict[str, Any]]]:
    old, new = aliased(LabelClass), aliased(LabelClass)
    query = (
        select(LabelEvent.item_id, LabelEvent.decision, LabelEvent.action, old.name, new.name,
               LabelEvent.old_source, LabelEvent.new_source, LabelEvent.old_confidence,
               LabelEvent.new_confidence, LabelEvent.actor, LabelEvent.undoes_decision,
               LabelEvent.created_at, Proposal.id, Proposal.kind, Proposal.score,
               Proposal.job_id, Job.kind)
        .outerjoin(old, old.id == LabelEvent.old_class_id)
        .outerjoin(new, new.id == LabelEvent.new_class_id)
        .outerjoin(Proposal, Proposal.id == LabelEvent.proposal_id)
        .outerjoin(Job, Job.id == Proposal.job_id)
        .order_by(LabelEvent.item_id, LabelEvent.id)
    )
    history: dict[int, list[dict[str, Any]]] = {}
    for row in session.execute(query):
        proposal = None
        if row[12] is not None:
            proposal = {"id": row[12], "kind": row[13], "score": row[14], "job_id": row[15],
                        "job_kind": row[16]}
        history.setdefault(row[0], []).append({
            "decision": row[1], "action": row[2], "old_label": row[3], "new_label": row[4],
            "old_source": row[5], "new_source": row[6], "old_confidence": row[7],
            "new_confidence": row[8], "actor": row[9], "undoes_decision": row[10],
            "time": iso_time(row[11]), "proposal": proposal,
        })
    return history


def export_jsonl(project: Project, out: str | Path, *, labeled_only: bool = False,
                 overwrite: bool = False, progress: Progress | None = None) -> ExportReport:
    """Write one JSON object per item: file, label and its whole label history.

    An existing ``out`` raises ExportError unless ``overwrite`` is true.
    """
    out = Path(out).expanduser().resolve()
    _check_file_target(out, overwrite)
    progress = progress or Progress()
    report = ExportReport("jsonl", out)
    rows = export_rows(project, labeled_only=labeled_only)
    with project.read() as session:
        history = _history(session)
    progress.start("Exporting", len(rows))

    def write(handle) -> None:
        for row in rows:
            progress.check()
            record = {
                "path": _relative_to(row.file, out.parent), "sha256": row.sha256,
                "width": row.width, "height": row.height, "split": row.split,
                "label": row.label, "source": row.source, "confidence": row.confidence,
                "actor": row.actor, "time": iso_time(row.time) or None,
                "project_path": row.path, "meta": row.meta,
                "history": history.get(row.item_id, []),
            }
            handle.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            progress.step()

    _write_atomic(out, write, overwrite)
    _check_files(rows, report)
    report.written = len(rows)
    report.labeled = sum(1 for row in rows if row.label is not None)
    return report


# Folder tree ---------------------------------------------------------------


def safe_folder_name(name: str) -> str:
    """Return a folder name for a class: no separators, not hidden, not too long."""
    safe = UNSAFE_IN_FOLDER.sub("_", name).strip()
    if safe.startswith("."):
        safe = "_" + safe[1:]
    safe = safe.rstrip(".") or "_"
    while len(safe.encode("utf-8")) > MAX_FOLDER_BYTES:
        safe = safe[:-1]
    return safe


def class_folders(names: list[str]) -> dict[str, str]:
    """Map each class name to a distinct folder name, also on case-blind file systems."""
    taken = {UNLABELED_FOLDER.casefold()}
    folders = {}
    for name in names:
        base = safe_folder_name(name)
        folder, number = base, 2
        while folder.casefold() in taken:
            folder, number = f"{base} ({number})", number + 1
        taken.add(folder.casefold())
        folders[name] = folder
    return folders


def _target_name(row: ExportRow, used: set[str]) -> str:
    name = row.file.name
    if name.casefold() in used:
        name = f"{row.file.stem}-{row.sha256[:12]}{row.file.suffix}"
    used.add(name.casefold())
    return name


def _copy(row: ExportRow, target: Path, report: ExportReport) -> None:
    data = row.file.read_bytes()
    if sha256_bytes(data) != row.sha256:
        report.problems.append((row.path, "changed since import (its SHA-256 differs); "
                                          "exported as it is now"))
    target.write_bytes(data)
    shutil.copystat(row.file, target)


def _place(row: ExportRow, target: Path, mode: str, report: ExportReport) -> bool:
    """Copy or link one file; a copy is checked against the hash taken at import."""
    try:
        if mode == "symlink":
            os.symlink(row.file, target)
        elif mode == "hardlink":
            try:
                os.link(row.file, target)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                message = "hard links cannot cross file systems; files were copied instead"
                if message not in report.warnings:
                    report.warnings.append(message)
                _copy(row, target, report)
        else:
            _copy(row, target, report)
    except FileNotFoundError:
        report.problems.append((row.path, "file not found; not exported"))
        return False
    except OSError as exc:
        report.problems.append((row.path, f"not exported: {exc.strerror or exc}"))
        return False
    return True


def export_folders(project: Project, out: str | Path, *, mode: str = "copy",
                   labeled_only: bool = False, progress: Progress | None = None) -> ExportReport:
    """Write ``OUT/<class>/<file>`` (and ``OUT/unlabeled/``) by copying or linking."""
    if mode not in LINK_MODES:
        raise ExportError(f"Unknown mode {mode!r}; use one of {', '.join(LINK_MODES)}.")
    out = Path(out).expanduser().resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"{out} exists and is not an empty folder; choose a new folder.")
    progress = progress or Progress()
    report = ExportReport("folders", out)
    rows = export_rows(project, labeled_only=labeled_only)
    with project.read() as session:
        names = list(session.scalars(select(LabelClass.name).order_by(LabelClass.position)))
    folders = class_folders(names)
    created = not out.exists()
    _make_folder(out)
    try:
        _write_tree(rows, folders, out, mode, report, progress)
    except BaseException:
        # The folder was new or empty, so everything in it is this export's.
        # A half-written tree would look like a complete export.
        # NOTE: a killed process (SIGKILL) skips this and leaves the partial tree.
        _remove_contents(out, remove_folder=created)
        raise
    return report


def _write_tree(rows: list[ExportRow], folders: dict[str, str], out: Path, mode: str,
                report: ExportReport, progress: Progress) -> None:
    (out / CLASS_MAP_FILE).write_text(json.dumps(
        {"version": 1, "classes": {folder: name for name, folder in folders.items()}},
        ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    used: dict[str, set[str]] = {}
    progress.start("Exporting", len(rows))
    for row in rows:
        progress.check()
        folder = folders[row.label] if row.label is not None else UNLABELED_FOLDER
        if folder not in used:
            (out / folder).mkdir(exist_ok=True)
        target = out / folder / _target_name(row, used.setdefault(folder, set()))
        if _place(row, target, mode, report):
            report.written += 1
            report.labeled += row.label is not None
        progress.step()


def _remove_contents(out: Path, *, remove_folder: bool) -> None:
    """Delete what an export wrote into ``out``. Links are removed, never followed."""
    if remove_folder:
        shutil.rmtree(out, ignore_errors=True)
        return
    for child in out.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def export_project(project: Project, fmt: str, out: str | Path, *, mode: str = "copy",
                   labeled_only: bool = False, overwrite: bool = False,
                   progress: Progress | None = None) -> ExportReport:
    """Export in one of FORMATS.

    ``mode`` applies to the folder tree only. ``overwrite`` lets a csv or
    jsonl export replace an existing file. The folder tree ignores it and
    always needs a new or empty folder.
    """
    if fmt == "csv":
        return export_csv(project, out, labeled_only=labeled_only, overwrite=overwrite,
                          progress=progress)
    if fmt == "jsonl":
        return export_jsonl(project, out, labeled_only=labeled_only, overwrite=overwrite,
                            progress=progress)
    if fmt == "folders":
        return export_folders(project, out, mode=mode, labeled_only=labeled_only,
                              progress=progress)
    raise ExportError(f"Unknown export format {fmt!r}; use one of {', '.join(FORMATS)}.")
