"""The projection job as a real trainer process on the digits demo."""

from __future__ import annotations

import signal
import subprocess
import time

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier
from sqlalchemy import func, select

from tests.jobs.jobhelpers import items_with_truth, last_job, run_job
from workbench.jobs import protocol, runner
from workbench.store import open_project
from workbench.store.schema import Embedding, Job, Projection

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
    if method == "tsne":
        assert job.metrics["max_iter"] == 1000
    assert _neighbour_accuracy(demo_folder, points) > floor


def test_projection_again_replaces_points(demo_folder):
    assert run_job(demo_folder, "projection", "--method", "pca").returncode == 0
    first = _points(demo_folder, "pca")
    assert run_job(demo_folder, "projection", "--method", "pca").returncode == 0
    assert _points(demo_folder, "pca") == first


def _fit_reports(process, method: str, count: int) -> list[dict]:
    """Read the trainer's output until ``count`` progress lines of the fit have arrived."""
    reports = []
    for line in process.stdout:
        message = protocol.decode(line)
        if message["event"] == "progress" and message["message"].startswith(f"{method} of"):
            reports.append(message)
            if len(reports) == count:
                break
    return reports


def test_cancel_during_tsne_fit(demo_project):
    # Perplexity 100 makes the fit take several seconds even on a fast machine,
    # so the cancel below lands while it runs.
    job_id = runner.create_job(demo_project, "projection",
                               {"method": "tsne", "perplexity": 100.0})
    process = subprocess.Popen(runner.trainer_command(demo_project, job_id),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=runner.trainer_environment())
    try:
        reports = _fit_reports(process, "tsne", 2)
        cancelled_at = time.monotonic()
        process.send_signal(signal.SIGTERM)
        rest, errors = process.communicate(timeout=30)
        exit_s = time.monotonic() - cancelled_at
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert len(reports) == 2, errors
    assert reports[0]["message"] != reports[1]["message"]
    assert exit_s < runner.CANCEL_GRACE_S
    assert process.returncode == protocol.EXIT_CANCELLED
    assert protocol.decode(rest.splitlines()[-1]) == {"event": "finished",
                                                      "state": "cancelled"}
    with demo_project.read() as session:
        assert session.get(Job, job_id).state == "cancelled"
        assert session.scalar(select(func.count(Projection.id))) == 0
        assert session.scalar(select(func.count(Embedding.id))) == 0
