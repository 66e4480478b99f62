"""A full disk or a read-only project folder gives a clear error and writes nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import event

from workbench.ingest.common import Entry, write_entries
from workbench.store import actions, open_project, queries
from workbench.store.engine import ProjectError, StoreWriteError


def _images(folder, count):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    files = []
    for i in range(count):
        file = folder / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8), mode="L").save(file)
        files.append(file)
    return files


def test_disk_full_during_import(tmp_path):
    project = open_project(tmp_path / "p", create=True)
    files = _images(tmp_path / "images", 400)

    # SQLite reports SQLITE_FULL once the file would pass max_page_count, the
    # same error a full disk gives.
    @event.listens_for(project.engine, "connect")
    def limit_pages(dbapi_connection, _record):
        dbapi_connection.execute("PRAGMA max_page_count = 40")

    project.engine.dispose()
    entries = [Entry(file=f, class_name="a" if i % 2 else None) for i, f in enumerate(files)]
    with pytest.raises(StoreWriteError, match="is full; nothing was saved"):
        write_entries(project, entries, actor="test")
    event.remove(project.engine, "connect", limit_pages)
    project.engine.dispose()
    with project.read() as session:
        assert queries.item_count(session) == 0
        assert queries.classes(session) == []
    project.close()


@pytest.fixture
def read_only_mount(tmp_path):
    """A project folder on a tmpfs remounted read-only (needs root and mount)."""
    mount_point = tmp_path / "mnt"
    mount_point.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount_point)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _holders(folder) -> list[str]:
    """Return ``pid: path`` for every open file descriptor under ``folder``."""
    holders = []
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith(str(folder)):
            holders.append(f"{fd.parts[2]}: {target}")
    return holders


def _remount(mount_point, mode: str, attempts: int = 5) -> None:
    """Remount ``mount_point`` read-only or read-write, waiting out a brief "busy"."""
    for _ in range(attempts):
        result = subprocess.run(["mount", "-o", f"remount,{mode}", str(mount_point)],
                                capture_output=True, text=True)
        if result.returncode == 0:
            return
        time.sleep(0.5)
    raise AssertionError(f"remount,{mode} failed: {result.stderr.strip()}; "
                         f"open files: {_holders(mount_point)}")


def test_read_only_project_folder(read_only_mount, demo_template):
    folder = read_only_mount / "digits"
    shutil.copytree(demo_template, folder)
    with open_project(folder) as project, project.read() as session:
        before = queries.status(session)
    _remount(read_only_mount, "ro")
    with pytest.raises(ProjectError, match="is read-only"):
        open_project(folder)
    subprocess.run(["mount", "-o", "remount,rw", str(read_only_mount)], check=True)
    with open_project(folder) as project, project.read() as session:
        assert queries.status(session) == before


def test_read_only_file_on_label(tmp_path, demo_template):
    folder = tmp_path / "digits"
    shutil.copytree(demo_template, folder)
    project = open_project(folder)
    with project.read() as session:
        item = queries.items(session, "unlabeled")[0].id
        class_id = queries.classes(session)[0].id
    project.engine.dispose()

    @event.listens_for(project.engine, "connect")
    def read_only(dbapi_connection, _record):
        dbapi_connection.execute("PRAGMA query_only = ON")

    with pytest.raises(StoreWriteError, match="read-only; nothing was saved"):
        actions.label_items(project, [item], class_id, actor="user:test")
    event.remove(project.engine, "connect", read_only)
    project.engine.dispose()
    with project.read() as session:
        assert queries.items(session, "unlabeled")[0].id == item
    project.close()


def test_window_shows_failed_write(qtbot, window):
    from PySide6.QtCore import Qt

    project = window.project
    project.engine.dispose()

    @event.listens_for(project.engine, "connect")
    def read_only(dbapi_connection, _record):
        dbapi_connection.execute("PRAGMA query_only = ON")

    window.grid.setCurrentIndex(window.item_model.index(0))
    window.grid.setFocus()
    qtbot.keyClick(window.grid, Qt.Key.Key_3)
    assert "read-only; nothing was saved" in window.statusBar().currentMessage()
    event.remove(project.engine, "connect", read_only)
    project.engine.dispose()
    with project.read() as session:
        assert queries.status(session)["per_source"].get("human", 0) == 0
