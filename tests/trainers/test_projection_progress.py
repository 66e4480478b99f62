"""Progress that project_2d reads from umap-learn and scikit-learn while they fit."""

from __future__ import annotations

import numpy as np
import pytest

from trainers.methods.projection import FitProgress, project_2d

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(("method", "stage"), [("umap", "epoch"), ("tsne", "iteration")])
def test_fit_progress_reaches_total(method, stage):
    points = np.random.default_rng(0).normal(size=(200, 8)).astype(np.float32)
    progress = FitProgress()
    coordinates = project_2d(points, method, progress=progress)
    assert coordinates.shape == (200, 2)
    assert progress.stage == stage
    assert progress.total > 0
    assert progress.done == progress.total
    assert progress.fraction() == 1.0
