"""Imports and exports run in a worker process and report back through a Progress."""

from __future__ import annotations

import resource
import time

import numpy as np
import pytest
from PIL import Image

from workbench.ingest.common import ImportReport
from workbench.ingest.progress import Cancelled, Progress
from workbench.ingest.worker import TaskFailed, run_in_worker
from workbench.store import open_project, queries


@pytest.fixture
def project(tmp_path):
    with open_project(tmp_path / "project", create=True) as project:
        yield project


@pytest.fixture
def images(tmp_path):
    root = tmp_path / "images"
    rng = np.random.default_rng(1)
    for i in range(30):
        folder = root / ("cat" if i % 2 else "dog")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (10, 10), dtype=np.uint8), mode="L").save(
            folder / f"{i}.png")
    return root


def test_folder_import_in_worker(project, images):
    reports = []
    report = run_in_worker("import-folder", project.folder, {"root": str(images)},
                           Progress(lambda *args: reports.append(args)))
    assert isinstance(report, ImportReport)
    assert (report.added, report.labeled) == (30, 30)
    with project.read() as session:
        assert queries.item_count(session) == 30
    # The child's reports reached this process, ending with a finished stage.
    assert reports
    _, done, total = reports[-1]
    assert done == total


def test_worker_error_names_value(project, tmp_path):
    missing = tmp_path / "no such folder"
    with pytest.raises(TaskFailed, match="no such folder"):
        run_in_worker("import-folder", project.folder, {"root": str(missing)}, Progress())


def test_worker_cancel_writes_nothing(project, images):
    progress = Progress()
    progress.cancel()
    with pytest.raises(Cancelled):
        run_in_worker("import-folder", project.folder, {"root": str(images)}, progress)
    with project.read() as session:
        assert queries.item_count(session) == 0


def test_worker_cancel_while_running(project, tmp_path):
    root = tmp_path / "many"
    root.mkdir()
    rng = np.random.default_rng(2)
    for i in range(3000):
        Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8), mode="L").save(
            root / f"{i}.png")
    progress = Progress(lambda stage, done, total: done > 0 and progress.cancel())
    with pytest.raises(Cancelled):
        run_in_worker("import-folder", project.folder, {"root": str(root)}, progress)
    with project.read() as session:
        assert queries.item_count(session) == 0


def test_worker_unknown_task(project):
    with pytest.raises(ValueError, match="import-zip"):
        run_in_worker("import-zip", project.folder, {}, Progress())


def test_worker_export(project, images, tmp_path):
    run_in_worker("import-folder", project.folder, {"root": str(images)}, Progress())
    out = tmp_path / "labels.csv"
    report = run_in_worker("export", project.folder,
                           {"fmt": "csv", "out": str(out), "mode": "copy"}, Progress())
    assert report.written == 30
    assert len(out.read_text().splitlines()) == 31


def test_worker_runs_off_calling_thread(project, images):
    # The calling thread only waits on the pipe, so its CPU time stays far
    # below the child's, which reads the files and writes the rows.
    thread_start = time.thread_time()
    children_start = resource.getrusage(resource.RUSAGE_CHILDREN)
    run_in_worker("import-folder", project.folder, {"root": str(images)}, Progress())
    thread_cpu = time.thread_time() - thread_start
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    children_cpu = (children.ru_utime + children.ru_stime
                    - children_start.ru_utime - children_start.ru_stime)
    assert children_cpu > 0.1
    assert thread_cpu < children_cpu / 4


def test_worker_export_overwrites_when_asked(project, images, tmp_path):
    # The window's save dialog confirms a replace, then passes overwrite=True.
    run_in_worker("import-folder", project.folder, {"root": str(images)}, Progress())
    out = tmp_path / "labels.csv"
    out.write_text("mine")
    options = {"fmt": "csv", "out": str(out), "mode": "copy"}
    with pytest.raises(TaskFailed, match="already exists"):
        run_in_worker("export", project.folder, options, Progress())
    assert out.read_text() == "mine"
    report = run_in_worker("export", project.folder, {**options, "overwrite": True},
                           Progress())
    assert report.written == 30
    assert len(out.read_text().splitlines()) == 31
