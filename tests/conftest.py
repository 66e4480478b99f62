"""Shared fixtures: isolated user folders, demo projects, no leftover processes."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Point every user folder at a temporary one before Qt or platformdirs read
# them, so tests never touch the developer's settings, logs or data.
_USER_ROOT = Path(tempfile.mkdtemp(prefix="workbench-tests-"))
for _name in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
    os.environ[_name] = str(_USER_ROOT / _name.lower())
os.environ["WORKBENCH_LOG_DIR"] = str(_USER_ROOT / "logs")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_USER_ROOT, ignore_errors=True)


def _is_resource_tracker(pid: int) -> bool:
    """Return whether ``pid`` is multiprocessing's resource tracker.

    The first spawned process pool (the window's thumbnail workers) starts
    it, and it lives as long as the test process by design.
    """
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"multiprocessing.resource_tracker" in command


def _child_pids() -> set[int]:
    children: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").glob("*"):
        try:
            children |= {int(p) for p in (task / "children").read_text().split()}
        except OSError:
            continue
    return {pid for pid in children if not _is_resource_tracker(pid)}


@pytest.fixture(autouse=True)
def no_leftover_processes():
    """Fail a test that leaves a trainer process running."""
    before = _child_pids()
    yield
    leftover = _child_pids() - before
    for pid in leftover:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    assert not leftover, f"processes left running by the test: {sorted(leftover)}"


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    from workbench.ingest.demo import build_demo

    folder = tmp_path_factory.mktemp("demo-template") / "digits"
    project, _ = build_demo(folder, labels_per_class=5, seed=0)
    project.close()
    return folder


@pytest.fixture
def demo_folder(demo_template, tmp_path) -> Path:
    """A fresh copy of the digits demo project (1,797 items, 5 labeled per class)."""
    folder = tmp_path / "digits"
    shutil.copytree(demo_template, folder, ignore=shutil.ignore_patterns("*-wal", "*-shm"))
    return folder


@pytest.fixture
def demo_project(demo_folder):
    from workbench.store import open_project

    project = open_project(demo_folder)
    yield project
    project.close()
