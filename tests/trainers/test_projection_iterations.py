"""How many iterations a t-SNE projection runs."""

from __future__ import annotations

import numpy as np
import pytest

from trainers.methods.projection import (
    TSNE_ITERATIONS,
    TSNE_ITERATIONS_LARGE,
    TSNE_LARGE,
    FitProgress,
    project_2d,
    tsne_iterations,
)


def test_default_iterations_follow_size():
    assert tsne_iterations(1_797) == TSNE_ITERATIONS == 1000
    assert tsne_iterations(TSNE_LARGE) == 1000
    assert tsne_iterations(TSNE_LARGE + 1) == TSNE_ITERATIONS_LARGE == 500
    assert tsne_iterations(60_000) == 500


@pytest.mark.slow
def test_requested_iterations_are_run():
    points = np.random.default_rng(0).normal(size=(200, 8)).astype(np.float32)
    progress = FitProgress()
    coordinates = project_2d(points, "tsne", max_iter=300, progress=progress)
    assert coordinates.shape == (200, 2)
    assert progress.total == 300
    assert progress.done == 300


def test_too_few_iterations_rejected():
    points = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="at least 250"):
        project_2d(points, "tsne", max_iter=100)
