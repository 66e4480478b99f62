"""The projection job as a real trainer process on the digits demo."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier
from sqlalchemy import select

from tests.jobs.jobhelpers import items_with_truth, last_job, run_job
from workbench.store import open_project
from workbench.store.schema import Projection

pytestmark = pytest.mark.slow


def _points(folder, method) -> dict[int, tuple[float, float]]:
    project = open_project(folder)
    try:
        with project.read() as session:
            rows = session.execute(select(Projection.item_id, Projection.x, Projection.y)
                                   .where(Projection.method == method)).all()
    finally:
        project.close()
    return {item_id: (x, y) for item_id, x, y in rows}


def _neighbour_accuracy(folder, points) -> float:
    """5-fold accuracy of 5-nearest-neighbour voting on the true classes in 2-D."""
    rows = items_with_truth(folder)
    xy = np.array([points[item_id] for item_id, _, _ in rows])
    truth = np.array([true for _, true, _ in rows])
    order = np.random.default_rng(0).permutation(len(rows))
    hits = 0
    for fold in np.array_split(order, 5):
        train = np.setdiff1d(order, fold)
        model = KNeighborsClassifier(5).fit(xy[train], truth[train])
        hits += int((model.predict(xy[fold]) == truth[fold]).sum())
    return hits / len(rows)


@pytest.mark.parametrize(("method", "floor"), [("pca", 0.5), ("tsne", 0.9)])
def test_projection_stores_every_item(demo_folder, method, floor):
    # Measured on the digits demo (pixels-pca space): 5-NN in the plane is
    # right on 0.644 of items with PCA and 0.989 with t-SNE; chance is 0.1.
    result = run_job(demo_folder, "projection", "--method", method)
    assert result.returncode == 0, result.stderr
    job = last_job(demo_folder)
    points = _points(demo_folder, method)
    assert len(points) == 1797
    assert job.metrics["points"] == 1797
    assert job.metrics["method"] == method
    assert "stored" not in job.metrics
    assert _neighbour_accuracy(demo_folder, points) > floor


def test_projection_again_replaces_points(demo_folder):
    assert run_job(demo_folder, "projection", "--method", "pca").returncode == 0
    first = _points(demo_folder, "pca")
    assert run_job(demo_folder, "projection", "--method", "pca").returncode == 0
    assert _points(demo_folder, "pca") == first
