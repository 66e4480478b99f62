"""Co-training as a real trainer process: precision and both views in the evidence."""

from __future__ import annotations

import pytest

from tests.jobs.jobhelpers import job_proposals, last_job, run_job

pytestmark = pytest.mark.slow


def test_co_training_holds_both_views(demo_folder):
    # Measured on the digits demo (pixels-pca and pixels views, 5 rounds of
    # 10 per class): 936 proposals, precision 0.96.
    result = run_job(demo_folder, "co-training")
    assert result.returncode == 0, result.stderr
    job = last_job(demo_folder)
    proposals = job_proposals(demo_folder, job.id)
    precision = sum(p["truth"] == p["class"] for p in proposals) / len(proposals)
    assert len(proposals) >= 500
    assert precision >= 0.9
    assert len(job.metrics["added_per_round"]) == 5
    for proposal in proposals:
        views = proposal["evidence"]["views"]
        assert [view["space"] for view in views] == ["pixels-pca", "pixels"]
        assert all(0.0 <= view["p"] <= 1.0 for view in views)
