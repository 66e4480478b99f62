"""Import MNIST-format IDX files (``*-images-idx3-ubyte[.gz]`` with their labels file).

Each image becomes a PNG file in the project folder, under
``images/<dataset>/<split>/``. Only a chosen part of the labels is imported
(``labels_per_class`` or ``labeled_fraction``, picked with ``seed``). The
withheld labels go to ``truth.csv`` in the project folder for evaluation,
never into the label columns.

The PNG bytes are hashed as they are encoded, so no file is read back or
decoded again, and a file whose content the project has is never written.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from workbench.ingest.common import (
    ImportReport,
    IngestError,
    KnownItems,
    NewItem,
    clean_class_names,
    existing_class_names,
    write_items,
)
from workbench.ingest.images import sha256_bytes
from workbench.ingest.progress import Progress, format_count
from workbench.store.engine import Project

TRUTH_FILE = "truth.csv"
IMAGES_MAGIC, LABELS_MAGIC = 0x0803, 0x0801
UBYTE = 0x08
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
SPLIT_PREFIXES = {"train": "train", "test": "t10k"}
CANCEL_CHECK_EVERY = 256
MAX_LISTED_LABELS = 20


@dataclass(frozen=True)
class IdxSource:
    images: Path
    labels: Path
    split: str
    dataset: str


def read_idx(file: Path, ndim: int | None = None) -> np.ndarray:
    """Read an unsigned-byte IDX file (gzip or plain) into an array of its shape.

    With ``ndim``, a file whose header declares another number of
    dimensions raises IngestError before its size is checked.
    """
    opener = gzip.open if file.suffix == ".gz" else open
    try:
        with opener(file, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as exc:
        raise IngestError(f"Cannot read {file}: {exc}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != UBYTE:
        raise IngestError(f"{file} is not an unsigned-byte IDX file (bad magic number).")
    declared = data[3]
    if ndim is not None and declared != ndim:
        raise IngestError(f"{file} declares {format_count(declared, 'dimension')}, but this "
                          f"file must have {ndim}. Check that the images and labels files "
                          "are not swapped.")
    header = 4 + 4 * declared
    if len(data) < header:
        raise IngestError(f"{file} ends inside its IDX header.")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=declared, offset=4))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        data_bytes = len(data) - header
        unit = "byte" if data_bytes == 1 else "bytes"
        raise IngestError(f"{file} contains {data_bytes:,} data {unit}, but its "
                          f"header {shape} needs {expected - header:,}. The file is "
                          "damaged or cut short; copy it again.")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def _existing(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def find_source(path: str | Path, split: str | None = None,
                labels: str | Path | None = None) -> IdxSource:
    """Find the images and labels files from a file or a folder and the split.

    A folder gives ``train-`` or ``t10k-images-idx3-ubyte[.gz]`` by the
    split (train by default). The labels file is the images file's sibling
    named ``*-labels-idx1-ubyte[.gz]`` unless ``labels`` names one. The split
    defaults to the one the file name starts with.
    """
    path = Path(path).expanduser().resolve()
    if split is not None and split not in SPLIT_PREFIXES:
        raise IngestError(f"Unknown split {split!r}; use train or test.")
    if path.is_dir():
        prefix = SPLIT_PREFIXES[split or "train"]
        images = _existing(path, f"{prefix}-images-idx3-ubyte")
        if images is None:
            raise FileNotFoundError(f"No {prefix}-images-idx3-ubyte[.gz] in {path}.")
    elif path.is_file():
        images = path
    else:
        raise FileNotFoundError(f"IDX images file {path} not found.")
    if "images-idx3-ubyte" not in images.name:
        raise IngestError(f"{images.name} is not named like *-images-idx3-ubyte[.gz].")
    if labels is None:
        stem = images.name.replace("images-idx3-ubyte", "labels-idx1-ubyte").removesuffix(".gz")
        found = _existing(images.parent, stem)
        if found is None:
            raise FileNotFoundError(f"No labels file {stem}[.gz] beside {images}.")
        labels = found
    labels = Path(labels).expanduser().resolve()
    if split is None:
        split = "test" if images.name.startswith(("t10k", "test")) else "train"
    return IdxSource(images, labels, split, images.parent.name)


def default_class_names(source: IdxSource, count: int) -> list[str]:
    """Fashion-MNIST's names for files in a folder named like it, else the label numbers."""
    if "fashion" in source.dataset.lower() or "fashion" in source.images.name.lower():
        if count <= len(FASHION_MNIST_CLASSES):
            return list(FASHION_MNIST_CLASSES)
    return [str(i) for i in range(count)]


def _warn_label_gaps(source: IdxSource, values: list[int], report: ImportReport) -> None:
    """Warn when the label values are not 0, 1, 2, ... without a gap.

    A stray value (200 among 0-9) usually means a damaged or wrong labels file.
    """
    run = 0
    while run < len(values) and values[run] == run:
        run += 1
    odd = values[run:]
    if not odd:
        return
    listed = ", ".join(str(value) for value in odd[:MAX_LISTED_LABELS])
    if len(odd) > MAX_LISTED_LABELS:
        listed += f" and {len(odd) - MAX_LISTED_LABELS} more"
    start = f"after 0-{run - 1}" if run else "without a label 0"
    report.warn(f"Label values in {source.labels.name} are not contiguous from 0: {listed} "
                f"{'occurs' if len(odd) == 1 else 'occur'} {start}. Each value got its own "
                "class. Check that this is the labels file of these images.")


def choose_labeled(targets: np.ndarray, *, labels_per_class: int | None = None,
                   labeled_fraction: float | None = None, seed: int = 0) -> np.ndarray:
    """Return a mask of the items that keep their label, drawn per class with ``seed``.

    With neither option every label is kept. ``labeled_fraction`` keeps that
    share of each class, rounded to the nearest item.
    """
    if labels_per_class is not None and labeled_fraction is not None:
        raise IngestError("Give labels_per_class or labeled_fraction, not both.")
    if labels_per_class is not None and labels_per_class < 0:
        raise IngestError(f"labels_per_class must be 0 or more, got {labels_per_class}.")
    if labeled_fraction is not None and not 0.0 <= labeled_fraction <= 1.0:
        raise IngestError(f"labeled_fraction must be between 0 and 1, got {labeled_fraction}.")
    mask = np.zeros(len(targets), dtype=bool)
    if labels_per_class is None and labeled_fraction is None:
        mask[:] = True
        return mask
    rng = np.random.default_rng(seed)
    for label in np.unique(targets):
        indices = np.flatnonzero(targets == label)
        if labels_per_class is not None:
            count = min(labels_per_class, len(indices))
        else:
            count = int(round(labeled_fraction * len(indices)))
        mask[rng.choice(indices, size=count, replace=False)] = True
    return mask


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of a gray image; the same pixels always give the same bytes."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _merge_truth(folder: Path, rows: list[tuple[str, str]]) -> None:
    """Add (path, label) rows to truth.csv, keeping the rows of earlier imports."""
    if not rows:
        return
    file = folder / TRUTH_FILE
    truth: dict[str, str] = {}
    if file.exists():
        with open(file, newline="", encoding="utf-8") as handle:
            truth = {row["path"]: row["label"] for row in csv.DictReader(handle)}
    truth.update(rows)
    partial = file.with_name(f".{TRUTH_FILE}.{os.getpid()}.part")
    with open(partial, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        writer.writerows(truth.items())
    os.replace(partial, file)


def _write_pngs(project: Project, source: IdxSource, images: np.ndarray, names: dict[int, str],
                targets: np.ndarray, keep: np.ndarray, report: ImportReport,
                progress: Progress) -> tuple[list[NewItem], list[tuple[str, str]]]:
    folder = Path("images") / source.dataset / source.split
    (project.folder / folder).mkdir(parents=True, exist_ok=True)
    width = max(5, len(str(len(images) - 1)))
    with project.read() as session:
        known = KnownItems(session)
    items, truth = [], []
    height, row_width = images.shape[1:3]
    progress.start("Writing PNG files", len(images))
    for index, pixels in enumerate(images):
        if index % CANCEL_CHECK_EVERY == 0:
            progress.check()
        path = (folder / f"{index:0{width}d}.png").as_posix()
        reason = known.reason_to_skip(path)
        if reason is None:
            data = encode_png(pixels)
            sha = sha256_bytes(data)
            reason = known.reason_to_skip(path, sha)
        if reason is not None:
            report.skipped.append((path, reason))
            progress.step()
            continue
        (project.folder / path).write_bytes(data)
        known.add(path, sha)
        name = names[int(targets[index])]
        items.append(NewItem(path, sha, int(row_width), int(height),
                             name if keep[index] else None, source.split,
                             {"idx_file": source.images.name, "idx_index": index}))
        if not keep[index]:
            truth.append((path, name))
        progress.step()
    return items, truth


def import_idx(
    project: Project,
    path: str | Path,
    *,
    labels: str | Path | None = None,
    split: str | None = None,
    labels_per_class: int | None = None,
    labeled_fraction: float | None = None,
    seed: int = 0,
    class_names: list[str] | None = None,
    limit: int | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import an IDX images file and its labels; see the module docstring.

    ``limit`` imports only the first that many images.
    """
    progress = progress or Progress()
    source = find_source(path, split, labels)
    if limit is not None and limit < 0:
        raise IngestError(f"limit must be 0 or more, got {limit}.")
    images, targets = read_idx(source.images, ndim=3), read_idx(source.labels, ndim=1)
    if images.ndim != 3 or targets.ndim != 1 or len(images) != len(targets):
        raise IngestError(f"{source.images.name} {images.shape} and {source.labels.name} "
                          f"{targets.shape} do not match as images and labels.")
    if limit is not None:
        images, targets = images[:limit], targets[:limit]
    values = [int(value) for value in np.unique(targets)]
    count = values[-1] + 1 if values else 0
    raw_names = list(class_names) if class_names else default_class_names(source, count)
    if len(raw_names) < count:
        given = "class name was" if len(raw_names) == 1 else "class names were"
        raise IngestError(f"{source.labels.name} has labels up to {count - 1}, but only "
                          f"{len(raw_names)} {given} given.")
    report = ImportReport()
    _warn_label_gaps(source, values, report)
    # Named classes (given or Fashion-MNIST's) are the data set's class list, so
    # all of them up to the largest label are created. Classes named by their
    # number are created only for the label values that occur.
    named = bool(class_names) or raw_names[:count] != [str(i) for i in range(count)]
    created = range(count) if named else values
    used_names = [raw_names[value] for value in created]
    cleaned = clean_class_names(used_names, existing_class_names(project), report)
    names = {value: cleaned[raw_names[value]] or str(value) for value in created}
    keep = choose_labeled(targets, labels_per_class=labels_per_class,
                          labeled_fraction=labeled_fraction, seed=seed)
    items, truth = _write_pngs(project, source, images, names, targets, keep, report, progress)
    shortcuts = {name: str(value) for value, name in names.items() if value < 10}
    write_items(project, items, report, actor=f"import:idx:{source.images.name}",
                classes=list(names.values()), shortcuts=shortcuts, progress=progress)
    _merge_truth(project.folder, truth)
    return report
