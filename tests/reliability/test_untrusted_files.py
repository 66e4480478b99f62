"""Crafted and corrupt checkpoints are rejected with a message and run no code."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


class _WritesMarker:
    """Unpickling this object with plain pickle would create a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _embed_with_weights(folder, weights):
    return subprocess.run(
        [sys.executable, "-m", "workbench", "job", "run", "embed", str(folder),
         "--space", "resnet18", "--weights", str(weights)],
        capture_output=True, text=True, timeout=300)


def _job_error(folder):
    from workbench.store import open_project, queries

    with open_project(folder) as project, project.read() as session:
        job = queries.jobs(session)[0]
    return job["state"], job["error"]


def test_crafted_pickle_runs_no_code(demo_folder, tmp_path):
    marker = tmp_path / "code-ran"
    checkpoint = tmp_path / "evil.pt"
    checkpoint.write_bytes(pickle.dumps({"state_dict": _WritesMarker(marker)}))
    result = _embed_with_weights(demo_folder, checkpoint)
    assert result.returncode == 1
    assert not marker.exists()
    state, error = _job_error(demo_folder)
    assert state == "failed"
    assert "is not a plain PyTorch state dict" in error
    assert "Traceback" not in error


def test_corrupt_checkpoint_is_rejected(demo_folder, tmp_path):
    checkpoint = tmp_path / "broken.pt"
    checkpoint.write_bytes(os.urandom(4096))
    result = _embed_with_weights(demo_folder, checkpoint)
    assert result.returncode == 1
    state, error = _job_error(demo_folder)
    assert state == "failed"
    assert str(checkpoint) in error
    assert "Traceback" not in error


def test_checkpoint_for_another_model(demo_folder, tmp_path):
    import torch

    checkpoint = tmp_path / "other.pt"
    torch.save({"layer.weight": torch.zeros(2, 2)}, checkpoint)
    result = _embed_with_weights(demo_folder, checkpoint)
    assert result.returncode == 1
    state, error = _job_error(demo_folder)
    assert state == "failed"
    assert "does not fit resnet18" in error
    status = json.loads(subprocess.run(
        [sys.executable, "-m", "workbench", "status", str(demo_folder), "--json"],
        capture_output=True, text=True, timeout=120).stdout)
    assert status["proposals"] == {}
