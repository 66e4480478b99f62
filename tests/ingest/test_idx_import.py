"""MNIST-format IDX files: PNG files in the project, chosen labels in, the rest in truth.csv."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from workbench.ingest.common import IngestError
from workbench.ingest.idx import (
    FASHION_MNIST_CLASSES,
    TRUTH_FILE,
    choose_labeled,
    import_idx,
    read_idx,
)
from workbench.store import open_project
from workbench.store.schema import Item, LabelClass, LabelEvent

FASHION = Path("/usr/share/datasets/fashion-mnist")
COUNT, HEIGHT, WIDTH, CLASSES = 60, 6, 5, 3


def _idx(path: Path, array: np.ndarray, magic: int) -> None:
    data = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    data += array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as handle:
            handle.write(data)
    else:
        path.write_bytes(data)


@pytest.fixture
def source(tmp_path):
    """train- and t10k- IDX files (gzip and plain) of 6x5 random images, 3 classes."""
    rng = np.random.default_rng(7)
    folder = tmp_path / "digits-idx"
    images = rng.integers(0, 255, (COUNT, HEIGHT, WIDTH), dtype=np.uint8)
    labels = np.arange(COUNT) % CLASSES
    _idx(folder / "train-images-idx3-ubyte.gz", images, 0x0803)
    _idx(folder / "train-labels-idx1-ubyte.gz", labels, 0x0801)
    _idx(folder / "t10k-images-idx3-ubyte", images[:12][:, ::-1], 0x0803)
    _idx(folder / "t10k-labels-idx1-ubyte", labels[:12], 0x0801)
    return folder, images, labels


def _rows(project):
    with project.read() as session:
        names = dict(session.execute(select(LabelClass.id, LabelClass.name)).all())
        return [(item.path, names.get(item.label_class_id), item.split, item.sha256,
                 item.width, item.height, item.meta)
                for item in session.scalars(select(Item).order_by(Item.id))]


def _truth(folder: Path) -> dict[str, str]:
    with open(folder / TRUTH_FILE, newline="", encoding="utf-8") as handle:
        return {row["path"]: row["label"] for row in csv.DictReader(handle)}


def test_labels_per_class_withholds_rest(tmp_path, source):
    folder, images, labels = source
    with open_project(tmp_path / "p", create=True) as project:
        report = import_idx(project, folder / "train-images-idx3-ubyte.gz",
                            labels_per_class=2, seed=1)
        rows = _rows(project)
        with project.read() as session:
            classes = list(session.scalars(select(LabelClass.name).order_by(LabelClass.position)))
            events = session.scalars(select(LabelEvent)).all()
    assert (report.added, report.labeled) == (COUNT, 2 * CLASSES)
    assert classes == ["0", "1", "2"]
    assert len(events) == 2 * CLASSES and {e.action for e in events} == {"import"}
    truth = _truth(tmp_path / "p")
    assert len(truth) == COUNT - 2 * CLASSES
    for index, (path, label, split, sha, width, height, meta) in enumerate(rows):
        assert path == f"images/digits-idx/train/{index:05d}.png"
        assert (split, width, height) == ("train", WIDTH, HEIGHT)
        assert meta == {"idx_file": "train-images-idx3-ubyte.gz", "idx_index": index}
        file = tmp_path / "p" / path
        assert hashlib.sha256(file.read_bytes()).hexdigest() == sha
        assert np.array_equal(np.asarray(Image.open(file)), images[index])
        if label is None:
            assert truth[path] == str(labels[index])
        else:
            assert label == str(labels[index])
            assert path not in truth


def test_seed_picks_labeled_items():
    targets = np.arange(300) % 3
    first = choose_labeled(targets, labels_per_class=5, seed=3)
    assert np.array_equal(first, choose_labeled(targets, labels_per_class=5, seed=3))
    assert not np.array_equal(first, choose_labeled(targets, labels_per_class=5, seed=4))
    assert [int(first[targets == c].sum()) for c in range(3)] == [5, 5, 5]
    fraction = choose_labeled(targets, labeled_fraction=0.1, seed=0)
    assert [int(fraction[targets == c].sum()) for c in range(3)] == [10, 10, 10]
    assert choose_labeled(targets).all()
    with pytest.raises(IngestError, match="not both"):
        choose_labeled(targets, labels_per_class=1, labeled_fraction=0.5)
    with pytest.raises(IngestError, match="between 0 and 1"):
        choose_labeled(targets, labeled_fraction=1.5)


def test_reimport_and_test_split(tmp_path, source):
    folder, _, _ = source
    with open_project(tmp_path / "p", create=True) as project:
        import_idx(project, folder, split="train", labeled_fraction=0.5, seed=0)
        first = tmp_path / "p" / "images/digits-idx/train/00000.png"
        stamp = first.stat().st_mtime_ns
        again = import_idx(project, folder, split="train", labeled_fraction=0.5, seed=0)
        assert again.added == 0
        assert {reason for _, reason in again.skipped} == {"already in the project"}
        assert first.stat().st_mtime_ns == stamp
        train_truth = _truth(tmp_path / "p")
        test = import_idx(project, folder, split="test", labels_per_class=0,
                          class_names=["zero", "one", "two"])
        rows = _rows(project)
    assert (test.added, test.labeled) == (12, 0)
    truth = _truth(tmp_path / "p")
    assert {k: v for k, v in truth.items() if "/train/" in k} == train_truth
    test_rows = [row for row in rows if row[2] == "test"]
    assert len(test_rows) == 12 and all(row[1] is None for row in test_rows)
    assert {truth[row[0]] for row in test_rows} == {"zero", "one", "two"}


def test_identical_images_written_once(tmp_path):
    images = np.zeros((4, 3, 3), dtype=np.uint8)
    images[1] = 9
    _idx(tmp_path / "x" / "train-images-idx3-ubyte", images, 0x0803)
    _idx(tmp_path / "x" / "train-labels-idx1-ubyte", np.array([0, 1, 0, 1]), 0x0801)
    with open_project(tmp_path / "p", create=True) as project:
        report = import_idx(project, tmp_path / "x")
    assert report.added == 2
    assert [reason for _, reason in report.duplicates] == [
        "duplicate: same content as images/x/train/00000.png"] * 2
    assert sorted(p.name for p in (tmp_path / "p/images/x/train").iterdir()) == [
        "00000.png", "00001.png"]


@pytest.mark.parametrize("damage, message", [
    (lambda data: b"\x00\x00\x0d\x03" + data[4:], "not an unsigned-byte IDX file"),
    (lambda data: data[:-7], "damaged or cut short"),
    (lambda data: data[:6], "ends inside its IDX header"),
])
def test_damaged_idx_file_errors(tmp_path, source, damage, message):
    folder, _, _ = source
    plain = folder / "t10k-images-idx3-ubyte"
    plain.write_bytes(damage(plain.read_bytes()))
    with open_project(tmp_path / "p", create=True) as project:
        with pytest.raises(IngestError, match=message):
            import_idx(project, plain)
        assert _rows(project) == []


def test_images_and_labels_must_match(tmp_path, source):
    folder, _, labels = source
    _idx(folder / "t10k-labels-idx1-ubyte", labels[:5], 0x0801)
    with open_project(tmp_path / "p", create=True) as project:
        with pytest.raises(IngestError, match="do not match"):
            import_idx(project, folder, split="test")


def test_missing_labels_file_is_named(tmp_path, source):
    folder, _, _ = source
    (folder / "t10k-labels-idx1-ubyte").unlink()
    with open_project(tmp_path / "p", create=True) as project:
        with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
            import_idx(project, folder, split="test")


def test_cli_import_idx(tmp_path, source):
    folder, _, _ = source
    result = subprocess.run(
        [sys.executable, "-m", "workbench", "import", "idx", str(tmp_path / "p"), str(folder),
         "--labels-per-class", "1", "--seed", "2", "--json"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["added"], report["labeled"]) == (COUNT, CLASSES)
    result = subprocess.run(
        [sys.executable, "-m", "workbench", "import", "idx", str(tmp_path / "p"), str(folder),
         "--labels-per-class", "1", "--labeled-fraction", "0.5"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "not allowed with" in result.stderr


@pytest.mark.skipif(not (FASHION / "t10k-images-idx3-ubyte.gz").exists(),
                    reason=f"Fashion-MNIST is not in {FASHION}; install the Debian package "
                           "dataset-fashion-mnist (apt-get install dataset-fashion-mnist)")
def test_fashion_mnist_debian_package(tmp_path):
    with open_project(tmp_path / "p", create=True) as project:
        report = import_idx(project, FASHION, split="test", labels_per_class=5, seed=0,
                            limit=1000)
        rows = _rows(project)
        with project.read() as session:
            classes = list(session.scalars(select(LabelClass.name).order_by(LabelClass.position)))
    assert (report.added, report.labeled) == (1000, 50)
    assert classes == list(FASHION_MNIST_CLASSES)
    assert len(_truth(tmp_path / "p")) == 950
    originals = read_idx(FASHION / "t10k-images-idx3-ubyte.gz")
    first = tmp_path / "p" / rows[0][0]
    assert np.array_equal(np.asarray(Image.open(first)), originals[0])
    assert rows[0][4:6] == (28, 28)


def test_shortcuts_stay_distinct(tmp_path, source):
    folder, _, _ = source
    with open_project(tmp_path / "p", create=True) as project:
        with project.write() as session:
            session.add(LabelClass(name="earlier", shortcut="1", position=0))
        import_idx(project, folder, labels_per_class=1)
        with project.read() as session:
            keys = list(session.scalars(select(LabelClass.shortcut)))
    assert len(keys) == 4
    assert len(set(keys)) == 4


def test_swapped_idx_files_named(tmp_path, source):
    folder, images, labels = source
    swapped = tmp_path / "swapped"
    _idx(swapped / "train-images-idx3-ubyte", labels, 0x0801)
    _idx(swapped / "train-labels-idx1-ubyte", images, 0x0803)
    with open_project(tmp_path / "p", create=True) as project:
        with pytest.raises(IngestError, match="declares 1 dimension, but this file must have 3"):
            import_idx(project, swapped)
        assert _rows(project) == []


def test_negative_limit_rejected(tmp_path, source):
    folder, _, _ = source
    with open_project(tmp_path / "p", create=True) as project:
        with pytest.raises(IngestError, match="limit must be 0 or more, got -5"):
            import_idx(project, folder, limit=-5)
        assert _rows(project) == []


def test_stray_label_value_warned(tmp_path):
    folder = tmp_path / "stray"
    images = np.zeros((11, 2, 2), dtype=np.uint8) + np.arange(11).reshape(11, 1, 1)
    labels = np.array([*range(10), 200])
    _idx(folder / "train-images-idx3-ubyte", images, 0x0803)
    _idx(folder / "train-labels-idx1-ubyte", labels, 0x0801)
    with open_project(tmp_path / "p", create=True) as project:
        report = import_idx(project, folder)
        with project.read() as session:
            classes = list(session.scalars(select(LabelClass.name).order_by(LabelClass.position)))
    assert classes == [*(str(i) for i in range(10)), "200"]
    assert report.added == 11
    gaps = [w for w in report.warnings if "not contiguous from 0" in w]
    assert len(gaps) == 1
    assert "200 occurs after 0-9" in gaps[0]


def test_labels_from_one_warned(tmp_path):
    folder = tmp_path / "one-based"
    _idx(folder / "train-images-idx3-ubyte", np.arange(12).reshape(3, 2, 2), 0x0803)
    _idx(folder / "train-labels-idx1-ubyte", np.array([1, 2, 3]), 0x0801)
    with open_project(tmp_path / "p", create=True) as project:
        report = import_idx(project, folder)
        with project.read() as session:
            classes = list(session.scalars(select(LabelClass.name).order_by(LabelClass.position)))
    assert classes == ["1", "2", "3"]
    assert any("1, 2, 3 occur without a label 0" in w for w in report.warnings)


def test_contiguous_labels_not_warned(tmp_path, source):
    folder, _, _ = source
    with open_project(tmp_path / "p", create=True) as project:
        report = import_idx(project, folder)
    assert not [w for w in report.warnings if "contiguous" in w]


def _damage_labels(folder: Path) -> None:
    """Cut the train labels file short, so the import fails after the project is created."""
    labels = folder / "train-labels-idx1-ubyte.gz"
    data = gzip.decompress(labels.read_bytes())
    labels.write_bytes(gzip.compress(data[:-5]))


def _cli_import(project: Path, folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workbench", "import", "idx", str(project), str(folder)],
        capture_output=True, text=True, timeout=120)


def test_failed_import_removes_new_project(tmp_path, source):
    folder, _, _ = source
    _damage_labels(folder)
    target = tmp_path / "new" / "project"
    result = _cli_import(target, folder)
    assert result.returncode == 2
    assert "damaged or cut short" in result.stderr
    assert f"Removed {tmp_path / 'new'}, which this command created." in result.stderr
    assert not (tmp_path / "new").exists()


def test_failed_import_keeps_existing_files(tmp_path, source):
    folder, _, _ = source
    _damage_labels(folder)
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep")
    result = _cli_import(target, folder)
    assert result.returncode == 2
    assert "cache, project.sqlite" in result.stderr
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]


def test_failed_import_keeps_existing_project(tmp_path, source):
    folder, _, _ = source
    with open_project(tmp_path / "p", create=True):
        pass
    _damage_labels(folder)
    result = _cli_import(tmp_path / "p", folder)
    assert result.returncode == 2
    assert "Removed" not in result.stderr
    assert (tmp_path / "p" / "project.sqlite").exists()
