"""Export in every format, then import into a new project: the same labels come back."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from workbench.ingest.csv_manifest import import_manifest
from workbench.ingest.export import (
    CSV_COLUMNS,
    ExportError,
    class_folders,
    export_project,
    safe_folder_name,
)
from workbench.ingest.folder import CLASS_MAP_FILE, import_folder
from workbench.ingest.progress import Cancelled, Progress
from workbench.store import actions, open_project
from workbench.store.schema import Item, Job, LabelClass, Proposal

CLASSES = ["T-shirt/top", "Ünï cödé", "unlabeled", ".dot", "a\\b:c"]


def _png(path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(path)


def class_order(project) -> list[str]:
    with project.read() as session:
        return list(session.scalars(select(LabelClass.name).order_by(LabelClass.position)))


def labels_by_hash(project) -> dict[str, str | None]:
    with project.read() as session:
        names = dict(session.execute(select(LabelClass.id, LabelClass.name)).all())
        return {item.sha256: names.get(item.label_class_id)
                for item in session.scalars(select(Item))}


@pytest.fixture
def source(tmp_path):
    """A project with imported, human and accepted pseudo labels and unlabeled items."""
    images = tmp_path / "source images"
    lines = ["path,label"]
    for i, name in enumerate(CLASSES * 2 + [""] * 3):
        folder = "same" if i % 2 else "other place"
        _png(images / folder / f"图 {i // 2}.png", i)
        lines.append(f'"{folder}/图 {i // 2}.png",{name}')
    (images / "manifest.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    project = open_project(tmp_path / "a", create=True)
    report = import_manifest(project, images / "manifest.csv")
    assert report.added == 13
    assert not report.unreadable
    with project.write() as session:
        unlabeled = session.scalars(select(Item.id).where(Item.label_class_id.is_(None))).all()
        ids = dict(session.execute(select(LabelClass.name, LabelClass.id)).all())
        job = Job(kind="self-training")
        session.add(job)
        session.flush()
        proposal = Proposal(job_id=job.id, item_id=unlabeled[0], kind="pseudo_label",
                            class_id=ids["Ünï cödé"], score=0.875)
        session.add(proposal)
        session.flush()
        proposal_id = proposal.id
    actions.label_items(project, [unlabeled[1]], ids["T-shirt/top"], actor="user:ann")
    actions.accept_proposals(project, [proposal_id], actor="user:bob")
    yield project
    project.close()


def test_csv_round_trip(tmp_path, source):
    out = tmp_path / "out" / "labels.csv"
    report = export_project(source, "csv", out)
    assert (report.written, report.labeled) == (13, 12)
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS
    human = next(r for r in rows if r["actor"] == "user:ann")
    assert (human["label"], human["source"], human["confidence"]) == ("T-shirt/top", "human",
                                                                      "1.0")
    assert human["time"].endswith("Z")
    pseudo = next(r for r in rows if r["source"] == "pseudo")
    assert (pseudo["label"], pseudo["confidence"], pseudo["actor"]) == ("Ünï cödé", "0.875",
                                                                        "user:bob")
    with open_project(tmp_path / "b", create=True) as copy:
        again = import_manifest(copy, out)
        assert not again.unreadable
        assert not again.warnings
        assert labels_by_hash(copy) == labels_by_hash(source)


def test_jsonl_round_trip_provenance(tmp_path, source):
    out = tmp_path / "out" / "labels.jsonl"
    export_project(source, "jsonl", out)
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 13
    accepted = next(r for r in records if r["source"] == "pseudo")
    assert [e["action"] for e in accepted["history"]] == ["accept"]
    event = accepted["history"][0]
    assert (event["new_label"], event["actor"], event["new_confidence"]) == ("Ünï cödé",
                                                                             "user:bob", 0.875)
    assert event["proposal"]["job_kind"] == "self-training"
    assert event["proposal"]["score"] == 0.875
    imported = next(r for r in records if r["source"] == "imported")
    assert imported["history"][0]["action"] == "import"
    with open_project(tmp_path / "b", create=True) as copy:
        import_manifest(copy, out)
        assert labels_by_hash(copy) == labels_by_hash(source)


@pytest.mark.parametrize("mode", ["copy", "hardlink", "symlink"])
def test_folder_tree_round_trip(tmp_path, source, mode):
    out = tmp_path / "tree"
    report = export_project(source, "folders", out, mode=mode)
    assert (report.written, report.problems) == (13, [])
    top = sorted(p.name for p in out.iterdir())
    assert top == sorted([CLASS_MAP_FILE, "unlabeled", *class_folders(CLASSES).values()])
    assert all(p.is_file() for folder in out.iterdir() if folder.is_dir()
               for p in folder.iterdir()), "a class name made a nested folder"
    assert not (out / "T-shirt").exists()
    if mode == "symlink":
        assert all(p.is_symlink() for p in (out / "unlabeled").iterdir())
    with open_project(tmp_path / "b", create=True) as copy:
        again = import_folder(copy, out)
        assert not again.unreadable
        assert not again.warnings
        assert labels_by_hash(copy) == labels_by_hash(source)
        assert class_order(copy) == class_order(source)


def test_folder_names_safe_distinct():
    assert safe_folder_name("T-shirt/top") == "T-shirt_top"
    assert safe_folder_name(".hidden") == "_hidden"
    assert safe_folder_name("a\\b:c") == "a_b_c"
    assert class_folders(["Cat", "cat", "unlabeled", "a/b", "a_b"]) == {
        "Cat": "Cat", "cat": "cat (2)", "unlabeled": "unlabeled (2)", "a/b": "a_b",
        "a_b": "a_b (2)"}


def test_folder_export_needs_empty_folder(tmp_path, source):
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="not an empty folder"):
        export_project(source, "folders", tmp_path / "tree")
    assert [p.name for p in (tmp_path / "tree").iterdir()] == ["keep.txt"]


def test_missing_changed_files_reported(tmp_path, source):
    with source.read() as session:
        first, second = session.scalars(select(Item.path).order_by(Item.id).limit(2)).all()
    source.resolve(first).unlink()
    _png(source.resolve(second), 99)
    report = export_project(source, "folders", tmp_path / "tree")
    assert report.written == 12
    assert report.problems == [
        (first, "file not found; not exported"),
        (second, "changed since import (its SHA-256 differs); exported as it is now")]


def test_cli_export(tmp_path, source):
    source.close()
    out = tmp_path / "labels.csv"
    result = subprocess.run(
        [sys.executable, "-m", "workbench", "export", str(tmp_path / "a"), "--format", "csv",
         str(out), "--labeled-only", "--json"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["written"] == 12
    assert len(out.read_text(encoding="utf-8").splitlines()) == 13


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_file_export_onto_folder_rejected(tmp_path, source, fmt):
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="is a folder"):
        export_project(source, fmt, tmp_path / "tree")
    assert [p.name for p in (tmp_path / "tree").iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "source images", "tree"]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "folders"])
def test_export_below_a_file_rejected(tmp_path, source, fmt):
    (tmp_path / "notes").write_text("mine")
    with pytest.raises(ExportError, match="a file is in its path"):
        export_project(source, fmt, tmp_path / "notes" / "out")
    assert (tmp_path / "notes").read_text() == "mine"


def test_cli_export_onto_folder_message(tmp_path, source):
    source.close()
    (tmp_path / "tree").mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "workbench", "export", str(tmp_path / "a"), "--format", "csv",
         str(tmp_path / "tree")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "is a folder" in result.stderr


class _CancelAfter(Progress):
    """A Progress whose cancel is requested after ``steps`` exported items."""

    def __init__(self, steps: int):
        super().__init__()
        self.steps = steps

    def step(self, count: int = 1) -> None:
        super().step(count)
        if self.done >= self.steps:
            self.cancel()


@pytest.mark.parametrize("existing", [False, True])
def test_cancelled_folder_export_removed(tmp_path, source, existing):
    out = tmp_path / "tree"
    if existing:
        out.mkdir()
    with pytest.raises(Cancelled):
        export_project(source, "folders", out, mode="symlink", progress=_CancelAfter(3))
    if existing:
        assert list(out.iterdir()) == []
    else:
        assert not out.exists()
    assert len(list((tmp_path / "source images").rglob("*.png"))) == 13


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_file_export_keeps_existing_file(tmp_path, source, fmt):
    out = tmp_path / f"labels.{fmt}"
    out.write_text("mine")
    with pytest.raises(ExportError, match="already exists. Pass --overwrite"):
        export_project(source, fmt, out)
    assert out.read_text() == "mine"
    report = export_project(source, fmt, out, overwrite=True)
    assert report.written == 13
    assert out.read_text() != "mine"


def test_cli_export_overwrite_flag(tmp_path, source):
    source.close()
    out = tmp_path / "labels.csv"
    out.write_text("mine")
    command = [sys.executable, "-m", "workbench", "export", str(tmp_path / "a"),
               "--format", "csv", str(out)]
    without_flag = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert without_flag.returncode == 2
    assert str(out) in without_flag.stderr
    assert "--overwrite" in without_flag.stderr
    assert out.read_text() == "mine"
    with_flag = subprocess.run([*command, "--overwrite"], capture_output=True, text=True,
                              timeout=120)
    assert with_flag.returncode == 0, with_flag.stderr
    assert len(out.read_text(encoding="utf-8").splitlines()) == 14
