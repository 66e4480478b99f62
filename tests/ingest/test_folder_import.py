"""Folder import with good, broken and duplicate files."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from workbench.ingest.export import export_project
from workbench.ingest.folder import import_folder
from workbench.store import open_project, queries
from workbench.store.schema import ImportIssue


def _png(path, value: int, size=(8, 8)):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    Image.fromarray(rng.integers(0, 255, size, dtype=np.uint8), mode="L").save(path)


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "images"
    _png(root / "cat" / "a.png", 1)
    _png(root / "cat" / "nested" / "b.png", 2)
    _png(root / "dog" / "a.png", 3)
    _png(root / "unlabeled" / "c.png", 4)
    _png(root / "d.png", 5)
    Image.fromarray(np.full((6, 6, 3), 200, np.uint8)).save(root / "dog" / "photo.jpg")
    (root / "dog" / "empty.png").write_bytes(b"")
    (root / "cat" / "notes.txt").write_text("not an image")
    good = (root / "cat" / "a.png").read_bytes()
    (root / "cat" / "truncated.png").write_bytes(good[: len(good) // 2])
    (root / "dog" / "fake.png").write_bytes(b"GIF89a but not really")
    return root


def test_import_labels_by_top_folder(tmp_path, tree):
    with open_project(tmp_path / "p", create=True) as project:
        report = import_folder(project, tree)
        with project.read() as session:
            rows = {row.path: row for row in queries.items(session)}
            names = {c.id: c.name for c in queries.classes(session)}
    labels = {path.split("images/")[-1]: names.get(row.class_id) for path, row in rows.items()}
    assert labels == {
        "cat/a.png": "cat", "cat/nested/b.png": "cat", "dog/a.png": "dog",
        "dog/photo.jpg": "dog", "unlabeled/c.png": None, "d.png": None,
    }
    assert report.added == 6
    assert report.labeled == 4
    assert all(row.source == "imported" for row in rows.values() if row.class_id)


def test_import_reports_each_bad_file(tmp_path, tree):
    with open_project(tmp_path / "p", create=True) as project:
        report = import_folder(project, tree)
        with project.read() as session:
            recorded = set(session.scalars(select(ImportIssue.path)))
    reasons = {path.split("images/")[-1]: reason for path, reason in report.unreadable}
    assert set(reasons) == {"dog/empty.png", "cat/notes.txt", "cat/truncated.png", "dog/fake.png"}
    assert "empty file" in reasons["dog/empty.png"]
    assert "suffix" in reasons["cat/notes.txt"]
    assert "truncated" in reasons["cat/truncated.png"]
    assert "not an image" in reasons["dog/fake.png"]
    assert recorded == {path for path, _ in report.unreadable}


def test_reimport_adds_nothing(tmp_path, tree):
    with open_project(tmp_path / "p", create=True) as project:
        import_folder(project, tree)
        again = import_folder(project, tree)
        with project.read() as session:
            count = queries.item_count(session)
    assert again.added == 0
    assert len(again.skipped) == 6
    assert count == 6


def test_same_content_under_two_names_is_reported(tmp_path, tree):
    (tree / "dog" / "copy-of-a.png").write_bytes((tree / "dog" / "a.png").read_bytes())
    with open_project(tmp_path / "p", create=True) as project:
        report = import_folder(project, tree)
    assert report.added == 6
    (path, reason), = report.duplicates
    assert path.endswith("dog/copy-of-a.png")
    assert reason == f"duplicate: same content as {tree / 'dog' / 'a.png'}"


def test_cli_import_folder_json(tmp_path, tree):
    result = subprocess.run(
        [sys.executable, "-m", "workbench", "import", "folder", str(tmp_path / "p"),
         str(tree), "--json"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["added"] == 6
    assert len(report["unreadable"]) == 4


def test_missing_folder_is_a_clear_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "workbench", "import", "folder", str(tmp_path / "p"),
         str(tmp_path / "no-such-folder")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "no-such-folder not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_report_singular_counts(tmp_path):
    root = tmp_path / "one"
    _png(root / "cat" / "a.png", 1)
    _png(root / "cat" / "copy.png", 1)
    (root / "cat" / "empty.png").write_bytes(b"")
    command = [sys.executable, "-m", "workbench", "import", "folder", str(tmp_path / "p"),
               str(root)]
    first = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "Imported 1 image (1 labeled)." in first.stdout
    assert "Skipped 1 duplicate of other images:" in first.stdout
    assert "1 file could not be read:" in first.stdout
    status = subprocess.run([sys.executable, "-m", "workbench", "status", str(tmp_path / "p")],
                            capture_output=True, text=True, timeout=120)
    assert status.stdout.startswith("1 item, 1 labeled")
    _png(root / "cat" / "b.png", 2)
    second = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert "Skipped 1 file already in the project." in second.stdout


def test_export_report_singular_counts(tmp_path):
    root = tmp_path / "one"
    _png(root / "cat" / "a.png", 1)
    with open_project(tmp_path / "p", create=True) as project:
        import_folder(project, root)
        (root / "cat" / "a.png").unlink()
        summary = export_project(project, "csv", tmp_path / "out.csv").summary()
    assert summary.startswith("Exported 1 item (1 labeled)")
    assert "1 file needs attention:" in summary


def _near_duplicate_warnings(report) -> list[str]:
    return [w for w in report.warnings if w.startswith("Near-duplicate")]


def test_near_duplicate_warned_once(tmp_path):
    _png(tmp_path / "first" / "Cat" / "a.png", 1)
    _png(tmp_path / "first" / "cat" / "b.png", 2)
    _png(tmp_path / "second" / "dog" / "c.png", 3)
    _png(tmp_path / "second" / "cat" / "d.png", 4)
    _png(tmp_path / "third" / "CAT" / "e.png", 5)
    with open_project(tmp_path / "p", create=True) as project:
        first = import_folder(project, tmp_path / "first")
        second = import_folder(project, tmp_path / "second")
        third = import_folder(project, tmp_path / "third")
    assert len(_near_duplicate_warnings(first)) == 1
    assert second.added == 2
    assert _near_duplicate_warnings(second) == []
    third_warnings = _near_duplicate_warnings(third)
    assert len(third_warnings) == 1
    assert "'CAT', 'Cat', 'cat'" in third_warnings[0]


def test_broken_link_and_image_named_folder(tmp_path):
    root = tmp_path / "images"
    _png(root / "cat" / "a.png", 1)
    _png(root / "cat" / "x.png" / "inside.png", 2)
    (root / "cat" / "gone.png").symlink_to(root / "cat" / "missing.png")
    with open_project(tmp_path / "p", create=True) as project:
        report = import_folder(project, root)
    assert report.added == 2
    reasons = dict(report.skipped)
    assert reasons[str(root / "cat" / "gone.png")] == (
        f"broken symbolic link: its target {root / 'cat' / 'missing.png'} does not exist")
    assert reasons[str(root / "cat" / "x.png")].startswith("a folder named like an image file")
    summary = report.summary()
    assert "Skipped 2 other paths:" in summary
    assert "already in the project" not in summary
    assert f"{root / 'cat' / 'gone.png'}: broken symbolic link" in summary
