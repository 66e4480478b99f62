"""Import a manifest: a CSV file with ``path,label[,split]``, or JSON lines with those keys.

Paths are relative to the manifest's folder, and absolute ones are taken as
they are. An empty label means unlabeled. Every other column is kept as item
metadata. The CSV and JSON lines files that ``workbench export``
writes are manifests too, so an export imports back with the same labels.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Iterator

from workbench.ingest.common import Entry, ImportReport, IngestError, write_entries
from workbench.ingest.progress import Progress
from workbench.store.engine import Project

PATH, LABEL, SPLIT = "path", "label", "split"
# JSON lines keys that describe the exported item itself, not metadata to keep.
JSONL_SKIPPED_KEYS = {"meta", "history", "width", "height"}


def _csv_rows(file: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with open(file, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise IngestError(f"{file} is empty; a manifest needs a header row with 'path'.")
        names = [name.strip() for name in header]
        known = {name.lower(): i for i, name in enumerate(names)
                 if name.lower() in (PATH, LABEL, SPLIT)}
        if PATH not in known:
            raise IngestError(f"{file} has no 'path' column (its header is {header}).")
        while True:
            first_line = reader.line_num + 1
            try:
                row = next(reader, None)
            except csv.Error as exc:
                raise IngestError(f"{file} line {first_line} is not valid CSV: {exc}.") from None
            if row is None:
                break
            if not any(cell.strip() for cell in row):
                continue
            _check_line_breaks(file, row, known, first_line, reader.line_num)
            values: dict[str, Any] = {}
            for i, name in enumerate(names):
                if i < len(row):
                    values[name] = row[i]
            for key, i in known.items():
                values[key] = values.pop(names[i], None)
            if len(row) > len(names):
                values["__extra__"] = len(row) - len(names)
            yield reader.line_num, values


def _check_line_breaks(file: Path, row: list[str], known: dict[str, int], first_line: int,
                       last_line: int) -> None:
    """Raise IngestError when a path, label or split cell spans lines.

    A quote that is never closed makes the csv module read the following
    lines, up to the next quote or the end of the file, into one cell.
    """
    for key, i in known.items():
        if i < len(row) and ("\n" in row[i] or "\r" in row[i]):
            raise IngestError(
                f"{file} line {first_line}: the {key} cell runs on to line {last_line}, so a "
                f"quote on line {first_line} is probably not closed. Close or remove the "
                "quote and import again.")


def _jsonl_rows(file: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with open(file, encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise IngestError(f"{file} line {number} is not JSON: {exc}") from None
            if not isinstance(data, dict):
                raise IngestError(f"{file} line {number} is not a JSON object.")
            meta = dict(data.get("meta") or {})
            meta.update({k: v for k, v in data.items()
                         if k not in JSONL_SKIPPED_KEYS | {PATH, LABEL, SPLIT}})
            yield number, {PATH: data.get(PATH), LABEL: data.get(LABEL),
                           SPLIT: data.get(SPLIT), "__meta__": meta}


def manifest_rows(file: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, row) from a CSV or JSON lines manifest."""
    rows = _jsonl_rows(file) if file.suffix.lower() in (".jsonl", ".ndjson") else _csv_rows(file)
    try:
        yield from rows
    except UnicodeDecodeError as exc:
        raise IngestError(f"{file} is not UTF-8 text ({exc.reason} at byte {exc.start}). "
                          "Save it as UTF-8 and import again.") from None
    except csv.Error as exc:
        raise IngestError(f"{file} is not a readable CSV file: {exc}") from None


def _text(value: Any) -> str | None:
    """Return a manifest cell as text, or None for an empty or missing one."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text if text != "" else None


def read_manifest(file: Path, report: ImportReport) -> list[Entry]:
    """Turn manifest rows into entries; rows without a path or listed twice are reported."""
    entries: dict[Path, Entry] = {}
    rows_of: dict[Path, int] = {}
    for number, row in manifest_rows(file):
        if row.pop("__extra__", 0):
            report.warn(f"{file.name} line {number} has more cells than the header; "
                        "the extra cells were ignored.")
        path = _text(row.pop(PATH, None))
        if path is None:
            report.warn(f"{file.name} line {number} has no path; the row was ignored.")
            continue
        target = Path(path).expanduser()
        target = target if target.is_absolute() else file.parent / target
        label, split = _text(row.pop(LABEL, None)), _text(row.pop(SPLIT, None))
        meta = row.pop("__meta__", None) or {k: v for k, v in row.items() if v is not None}
        if target in entries:
            first = entries[target]
            if first.class_name != label:
                report.warn(f"{path} is on lines {rows_of[target]} and {number} of "
                            f"{file.name} with labels {first.class_name!r} and {label!r}; "
                            "the first was kept.")
            continue
        entries[target] = Entry(file=target, class_name=label,
                                split=split.strip() if split else None, meta=meta)
        rows_of[target] = number
    return list(entries.values())


def import_manifest(project: Project, manifest: str | Path, *,
                    progress: Progress | None = None) -> ImportReport:
    """Import the files a CSV or JSON lines manifest lists, with their labels."""
    manifest = Path(manifest).expanduser().resolve()
    if not manifest.is_file():
        raise FileNotFoundError(f"Manifest {manifest} not found or not a file.")
    report = ImportReport()
    entries = read_manifest(manifest, report)
    return write_entries(project, entries, actor=f"import:csv:{manifest.name}",
                         report=report, progress=progress)
