"""The ``--smoke-test`` mode of the development install, and the bundle paths.

The smoke tests start ``python -m workbench --smoke-test`` as its own
process, as the bundle test starts the frozen executable, so the window, the
QProcess supervisor and the trainer process are all real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench import paths

SMOKE_TIMEOUT_S = 240


def run_smoke(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.run(
        [sys.executable, "-m", "workbench", "--smoke-test", "--json", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=SMOKE_TIMEOUT_S,
    )


def report_of(result: subprocess.CompletedProcess) -> dict:
    start = result.stdout.index("{")
    return json.loads(result.stdout[start:])


@pytest.mark.slow
def test_smoke_test_passes_on_generated_project(tmp_path):
    result = run_smoke(cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = report_of(result)
    assert report["ok"] is True
    assert report["items"] == 150
    assert report["job_state"] == "succeeded"
    assert report["proposals"] > 0
    assert report["bundle"] is None
    assert "smoke test: window shown" in result.stdout
    # Nothing is written to the working folder: the temporary project is gone.
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_smoke_test_opens_demo_project(demo_folder, tmp_path):
    result = run_smoke("--project", str(demo_folder), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = report_of(result)
    assert report["items"] == 1797
    assert "project_built_s" not in report
    assert report["proposals"] > 0


@pytest.mark.slow
def test_smoke_test_fails_on_timeout(tmp_path):
    result = run_smoke("--timeout", "0.01", "--project", str(tmp_path / "p"), cwd=tmp_path)
    assert result.returncode == 1
    assert "did not finish in" in result.stderr
    assert report_of(result)["ok"] is False


def test_smoke_test_fails_on_broken_project(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "project.sqlite").write_text("not a database", encoding="utf-8")
    result = run_smoke("--project", str(folder), cwd=tmp_path)
    assert result.returncode == 1
    assert "smoke test failed at open" in result.stderr
    assert "Traceback" not in result.stderr


def test_paths_outside_bundle():
    assert paths.bundle_root() is None
    assert paths.bundle_info() is None
    assert paths.resource_path("icon.svg").is_file()
    assert paths.resource_path("icon.png").is_file()
    environ: dict[str, str] = {}
    assert paths.prepare_bundle_environment(environ) is False
    assert environ == {}


def test_resource_path_names_missing_file():
    with pytest.raises(FileNotFoundError, match="'missing.svg' not found"):
        paths.resource_path("missing.svg")


@pytest.fixture
def fake_bundle(tmp_path, monkeypatch):
    """Make this interpreter look frozen, with tmp_path as the bundle's data folder."""
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    return tmp_path


def test_bundle_marker_read(fake_bundle):
    (fake_bundle / paths.MARKER_NAME).write_text('{"version": "9.9"}', encoding="utf-8")
    assert paths.bundle_info() == {"version": "9.9"}
    assert paths.resources_folder() == fake_bundle / "resources"


def test_frozen_without_marker_is_no_bundle(fake_bundle):
    assert paths.bundle_info() is None
    assert paths.prepare_bundle_environment({}) is False


def test_damaged_marker_still_bundle(fake_bundle):
    (fake_bundle / paths.MARKER_NAME).write_text("{", encoding="utf-8")
    assert "unreadable" in paths.bundle_info()["error"]


def test_bundle_caches_go_to_user_folder(fake_bundle):
    (fake_bundle / paths.MARKER_NAME).write_text("{}", encoding="utf-8")
    environ: dict[str, str] = {}
    assert paths.prepare_bundle_environment(environ) is True
    cache = Path(environ["NUMBA_CACHE_DIR"])
    assert cache == paths.user_folders()["cache"] / "numba"
    assert fake_bundle not in cache.parents
    assert Path(os.environ["XDG_CACHE_HOME"]) in cache.parents


def test_bundle_keeps_user_numba_cache(fake_bundle):
    (fake_bundle / paths.MARKER_NAME).write_text("{}", encoding="utf-8")
    environ = {"NUMBA_CACHE_DIR": "/somewhere/else"}
    paths.prepare_bundle_environment(environ)
    assert environ["NUMBA_CACHE_DIR"] == "/somewhere/else"
