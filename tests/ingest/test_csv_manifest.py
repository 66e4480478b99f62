"""CSV and JSON lines manifests: relative paths, empty labels, metadata, bad rows."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from workbench.ingest.common import IngestError
from workbench.ingest.csv_manifest import import_manifest
from workbench.store import open_project
from workbench.store.schema import Item, LabelClass


def _png(path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(path)


def _items(project) -> dict[str, tuple[str | None, str | None, dict]]:
    """File name to (label, split, meta)."""
    with project.read() as session:
        names = dict(session.execute(select(LabelClass.id, LabelClass.name)).all())
        return {item.path.rsplit("/", 1)[-1]: (names.get(item.label_class_id), item.split,
                                               item.meta)
                for item in session.scalars(select(Item))}


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "data"
    _png(folder / "imgs" / "a.png", 1)
    _png(folder / "imgs" / "sub dir" / "ü b.png", 2)
    _png(folder / "imgs" / "c.png", 3)
    _png(tmp_path / "elsewhere" / "d.png", 4)
    _png(folder / "imgs" / "e.png", 5)
    return folder


def test_csv_labels_splits_metadata(tmp_path, data):
    manifest = data / "manifest.csv"
    manifest.write_text(
        "path,label,split,source_id,notes\n"
        "imgs/a.png,T-shirt/top,train,17,first\n"
        "imgs/sub dir/ü b.png,Ünï cödé,test,18,\n"
        "imgs/c.png,,train,19,no label yet\n"
        f"{tmp_path / 'elsewhere' / 'd.png'},  Bag ,,20,absolute path\n"
        "imgs/missing.png,Bag,train,21,\n"
        "imgs/a.png,Other,train,22,listed again\n"
        ",Bag,train,23,no path\n"
        "imgs/e.png,Bag,train,24,extra,cells\n",
        encoding="utf-8-sig")
    with open_project(tmp_path / "p", create=True) as project:
        report = import_manifest(project, manifest)
        items = _items(project)
    assert items == {
        "a.png": ("T-shirt/top", "train", {"source_id": "17", "notes": "first"}),
        "ü b.png": ("Ünï cödé", "test", {"source_id": "18", "notes": ""}),
        "c.png": (None, "train", {"source_id": "19", "notes": "no label yet"}),
        "d.png": ("Bag", None, {"source_id": "20", "notes": "absolute path"}),
        "e.png": ("Bag", "train", {"source_id": "24", "notes": "extra"}),
    }
    assert report.added == 5
    assert report.labeled == 4
    assert [(p.rsplit("/", 1)[-1], r) for p, r in report.unreadable] == [
        ("missing.png", "file not found")]
    assert report.warnings == [
        "imgs/a.png is on lines 2 and 7 of manifest.csv with labels 'T-shirt/top' and "
        "'Other'; the first was kept.",
        "manifest.csv line 8 has no path; the row was ignored.",
        "manifest.csv line 9 has more cells than the header; the extra cells were ignored.",
        "Class name '  Bag ' trimmed to 'Bag'.",
        "Near-duplicate class names '  Bag ', 'Bag' were merged into 'Bag'.",
    ]


def test_jsonl_manifest(tmp_path, data):
    manifest = data / "manifest.jsonl"
    rows = [{"path": "imgs/a.png", "label": "cat", "meta": {"k": 1}, "extra": "x"},
            {"path": "imgs/c.png", "label": None, "split": "test"}]
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with open_project(tmp_path / "p", create=True) as project:
        import_manifest(project, manifest)
        items = _items(project)
    assert items == {"a.png": ("cat", None, {"k": 1, "extra": "x"}),
                     "c.png": (None, "test", {})}


def test_no_label_column_is_unlabeled(tmp_path, data):
    (data / "m.csv").write_text("path\nimgs/a.png\n")
    with open_project(tmp_path / "p", create=True) as project:
        report = import_manifest(project, data / "m.csv")
    assert (report.added, report.labeled) == (1, 0)


@pytest.mark.parametrize("content, message", [
    (b"name,label\na.png,cat\n", "no 'path' column"),
    (b"", "is empty"),
    ("path,label\nimgs/a.png,Kätzchen\n".encode("latin-1"), "is not UTF-8 text"),
])
def test_bad_manifest_imports_nothing(tmp_path, data, content, message):
    (data / "bad.csv").write_bytes(content)
    with open_project(tmp_path / "p", create=True) as project:
        with pytest.raises(IngestError, match=message):
            import_manifest(project, data / "bad.csv")
        assert _items(project) == {}


def test_cli_import_csv(tmp_path, data):
    (data / "m.csv").write_text("path,label\nimgs/a.png,cat\nimgs/c.png,\n")
    result = subprocess.run(
        [sys.executable, "-m", "workbench", "import", "csv", str(tmp_path / "p"),
         str(data / "m.csv"), "--json"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["added"], report["labeled"], report["classes"]) == (2, 1, ["cat"])


def test_cli_bad_manifest_exits_2(tmp_path, data):
    (data / "m.csv").write_text("name\nx\n")
    result = subprocess.run(
        [sys.executable, "-m", "workbench", "import", "csv", str(tmp_path / "p"),
         str(data / "m.csv")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "no 'path' column" in result.stderr
    assert "Traceback" not in result.stderr


def test_unclosed_quote_names_line(tmp_path):
    _png(tmp_path / "a.png", 1)
    _png(tmp_path / "b.png", 2)
    manifest = tmp_path / "labels.csv"
    manifest.write_text('path,label\na.png,cat\n"b.png,dog\nc.png,cat\n', encoding="utf-8")
    with open_project(tmp_path / "p", create=True) as project:
        with pytest.raises(IngestError) as error:
            import_manifest(project, manifest)
        assert _items(project) == {}
    message = str(error.value)
    assert "line 3:" in message
    assert "quote on line 3 is probably not closed" in message
    assert "not found" not in message


def test_csv_error_names_line(tmp_path):
    manifest = tmp_path / "labels.csv"
    manifest.write_text("path,label\na.png,cat\n" + "x" * 200_000 + ",dog\n", encoding="utf-8")
    with open_project(tmp_path / "p", create=True) as project:
        with pytest.raises(IngestError, match="line 3 is not valid CSV: field larger"):
            import_manifest(project, manifest)
