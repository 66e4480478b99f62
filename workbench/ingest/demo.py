"""Build the demo project from scikit-learn's bundled handwritten digits."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from workbench.ingest.common import Entry, ImportReport, write_entries
from workbench.store.engine import Project, open_project
from workbench.store.queries import item_count

TRUTH_FILE = "truth.csv"


def _write_digit_images(folder: Path) -> tuple[list[Path], np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    image_folder = folder / "images"
    image_folder.mkdir(parents=True, exist_ok=True)
    files = []
    for index, pixels in enumerate(digits.images):
        # The digits hold 0..16 ink levels; scale them to 8-bit gray.
        array = np.clip(pixels * (255.0 / 16.0) + 0.5, 0, 255).astype(np.uint8)
        file = image_folder / f"digit_{index:04d}.png"
        if not file.exists():
            Image.fromarray(array, mode="L").save(file)
        files.append(file)
    return files, digits.target


def _choose_labeled(targets: np.ndarray, per_class: int, seed: int) -> set[int]:
    rng = np.random.default_rng(seed)
    chosen: set[int] = set()
    for label in np.unique(targets):
        indices = np.flatnonzero(targets == label)
        chosen.update(rng.choice(indices, size=min(per_class, len(indices)), replace=False))
    return {int(i) for i in chosen}


def build_demo(folder: str | Path, *, labels_per_class: int = 5, seed: int = 0) -> tuple[Project, ImportReport | None]:
    """Create the digits demo project in ``folder``, or reopen it if it exists.

    ``labels_per_class`` items per digit keep their label (source
    "imported"); the rest are unlabeled, and every true label is written to
    ``truth.csv`` for tests and benchmarks only. No job reads that file.
    """
    if labels_per_class < 0:
        raise ValueError(f"labels_per_class must be 0 or more, got {labels_per_class}.")
    project = open_project(folder, create=True)
    with project.read() as session:
        if item_count(session) > 0:
            return project, None
    files, targets = _write_digit_images(project.folder)
    labeled = _choose_labeled(targets, labels_per_class, seed)
    entries = [
        Entry(file=file, class_name=str(targets[i]) if i in labeled else None)
        for i, file in enumerate(files)
    ]
    shortcuts = {str(digit): str(digit) for digit in range(10)}
    report = write_entries(project, entries, actor="demo:digits", shortcuts=shortcuts)
    with open(project.folder / TRUTH_FILE, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        for file, target in zip(files, targets):
            writer.writerow([project.relative(file), int(target)])
    return project, report


def read_truth(folder: str | Path) -> dict[str, str]:
    """Return the withheld true label per item path of a demo project."""
    with open(Path(folder) / TRUTH_FILE, newline="", encoding="utf-8") as handle:
        return {row["path"]: row["label"] for row in csv.DictReader(handle)}
