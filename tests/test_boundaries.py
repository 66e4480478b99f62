"""The import rule: no torch in the window's process, no Qt in the trainers."""

from __future__ import annotations

import subprocess
import sys

BLOCK = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {blocked!r}:
            raise ImportError('blocked for this test: ' + name)
sys.meta_path.insert(0, Block())
"""


def _run(code: str, blocked: set[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK.format(blocked=blocked) + code],
                          capture_output=True, text=True, timeout=120)


def test_store_ingest_jobs_import_without_qt_or_torch():
    result = _run(
        "import workbench.store.actions, workbench.store.queries, workbench.ingest.folder, "
        "workbench.ingest.demo, workbench.jobs.runner, workbench.cli",
        {"PySide6", "torch", "torchvision", "open_clip"},
    )
    assert result.returncode == 0, result.stderr


def test_ui_imports_without_torch():
    result = _run(
        "import workbench.ui.main_window, workbench.ui.app",
        {"torch", "torchvision", "open_clip"},
    )
    assert result.returncode == 0, result.stderr


def test_trainers_import_without_qt():
    result = _run(
        "import trainers.main, trainers.registry, trainers.methods.self_training, "
        "trainers.device",
        {"PySide6", "pyqtgraph"},
    )
    assert result.returncode == 0, result.stderr
