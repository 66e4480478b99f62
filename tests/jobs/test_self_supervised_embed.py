"""Self-supervised spaces pretrain and embed in a real embed job."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.jobs.jobhelpers import last_job, run_job, space_vectors, workbench

pytestmark = pytest.mark.slow


@pytest.fixture
def bars_project(tmp_path):
    """A project of 40 generated 28 x 28 gray images of horizontal or vertical bars."""
    images = tmp_path / "images"
    rng = np.random.default_rng(0)
    for index in range(40):
        folder = images / ("unlabeled" if index >= 8 else f"class{index % 2}")
        folder.mkdir(parents=True, exist_ok=True)
        array = rng.integers(0, 30, (28, 28), dtype=np.uint8)
        position = int(rng.integers(4, 24))
        if index % 2:
            array[:, position - 2:position + 2] = 255
        else:
            array[position - 2:position + 2, :] = 255
        Image.fromarray(array).save(folder / f"image{index}.png")
    project = tmp_path / "project"
    result = workbench("import", "folder", project, images)
    assert result.returncode == 0, result.stderr
    return project


@pytest.mark.parametrize("space", ["simclr", "rotation"])
def test_pretrains_on_a_sample(bars_project, space):
    result = run_job(bars_project, "embed", "--space", space, "--pretrain-epochs", "2",
                     "--pretrain-items", "24", "--batch-size", "16")
    assert result.returncode == 0, result.stderr
    job = last_job(bars_project)
    vectors = np.stack(list(space_vectors(bars_project, space).values()))
    assert job.metrics["computed"] == 40
    assert vectors.shape == (40, 768)
    assert np.isfinite(vectors).all()
    assert vectors.std(axis=0).max() > 0
    # The network standardizes its features on the pretraining sample, which
    # is 24 of these 40 images, so the means are near zero rather than zero.
    assert np.abs(vectors.mean(axis=0)).mean() < 0.5
    again = run_job(bars_project, "embed", "--space", space)
    assert again.returncode == 0, again.stderr
    assert last_job(bars_project).metrics["computed"] == 0


def test_older_network_is_retrained(bars_project):
    """Vectors and a network file left by the 128-value network are replaced."""
    from workbench.store import open_project

    from trainers.data import load_dataset
    from trainers.features import cache

    with open_project(bars_project) as project:
        data = load_dataset(project)
        with project.write() as session:
            cache.store_vectors(session, "simclr", data.item_ids, data.sha256,
                                np.ones((len(data.item_ids), 128), dtype=np.float32))
        older = project.cache / "spaces" / "simclr.pt"
    older.parent.mkdir(parents=True, exist_ok=True)
    older.write_bytes(b"weights of the older network layout")
    result = run_job(bars_project, "embed", "--space", "simclr", "--pretrain-epochs", "1",
                     "--batch-size", "16")
    assert result.returncode == 0, result.stderr
    assert last_job(bars_project).metrics["computed"] == 40
    vectors = np.stack(list(space_vectors(bars_project, "simclr").values()))
    assert vectors.shape == (40, 768)
