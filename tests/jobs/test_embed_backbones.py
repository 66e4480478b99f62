"""The embed job loads real torchvision and open_clip code, without downloaded weights."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image

from tests.jobs.jobhelpers import last_job, run_job, space_vectors, workbench

pytestmark = pytest.mark.slow


@pytest.fixture
def small_project(tmp_path):
    """A project of 12 generated images in two classes, 8 of them labeled."""
    images = tmp_path / "images"
    rng = np.random.default_rng(0)
    for index in range(12):
        folder = images / ("unlabeled" if index >= 8 else f"class{index % 2}")
        folder.mkdir(parents=True, exist_ok=True)
        array = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(array).save(folder / f"image{index}.png")
    project = tmp_path / "project"
    result = workbench("import", "folder", project, images)
    assert result.returncode == 0, result.stderr
    return project


def test_resnet18_from_checkpoint(small_project, tmp_path):
    import torch
    import torchvision

    checkpoint = tmp_path / "resnet18.pt"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), checkpoint)
    result = run_job(small_project, "embed", "--space", "resnet18", "--weights", checkpoint)
    assert result.returncode == 0, result.stderr
    job = last_job(small_project)
    vectors = space_vectors(small_project, job.metrics["space"])
    assert job.metrics["space"].startswith("resnet18+")
    assert job.metrics["computed"] == 12
    assert len(vectors) == 12
    assert {len(v) for v in vectors.values()} == {512}
    again = run_job(small_project, "embed", "--space", "resnet18", "--weights", checkpoint)
    assert again.returncode == 0, again.stderr
    assert last_job(small_project).metrics["computed"] == 0


@pytest.mark.parametrize("space", ["clip", "resnet18"])
def test_missing_weights_fail_at_once(small_project, space):
    started = time.monotonic()
    result = run_job(small_project, "embed", "--space", space)
    job = last_job(small_project)
    assert result.returncode == 1
    assert time.monotonic() - started < 60
    assert job.state == "failed"
    assert "--weights PATH" in job.error
    assert "Traceback" not in job.error
