"""The self-training job as a real trainer process on the digits demo."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sqlalchemy import select

from workbench.ingest.demo import read_truth
from workbench.store import open_project
from workbench.store.schema import Job, Proposal

pytestmark = pytest.mark.slow

# Measured on the digits demo (5 labels per class, threshold 0.9, pixel
# features, logistic head): precision 0.96 with seeds 0 to 3 and about
# 1,300 proposals. The floor leaves room for solver and BLAS differences.
PRECISION_FLOOR = 0.90
MIN_PROPOSALS = 800


def _workbench(*args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def test_self_training_proposals_beat_floor(demo_folder):
    result = _workbench("job", "run", "self-training", demo_folder)
    assert result.returncode == 0, result.stderr
    proposals = json.loads(_workbench("proposals", demo_folder, "--json").stdout)
    truth = read_truth(demo_folder)
    correct = sum(truth[row["path"]] == row["class"] for row in proposals)
    assert len(proposals) >= MIN_PROPOSALS
    assert correct / len(proposals) >= PRECISION_FLOOR
    assert all(row["score"] >= 0.9 for row in proposals)


def test_job_state_and_metrics_are_stored(demo_folder):
    result = _workbench("job", "run", "self-training", demo_folder, "--threshold", "0.95",
                        "--rounds", "2")
    assert result.returncode == 0, result.stderr
    status = json.loads(_workbench("status", demo_folder, "--json").stdout)
    assert status["jobs"] == {"succeeded": 1}
    with open_project(demo_folder) as project, project.read() as session:
        job = session.scalars(select(Job)).one()
        scores = list(session.scalars(select(Proposal.score)))
        labeled = {p for p in session.scalars(
            select(Proposal.item_id).join(Job).where(Job.id == job.id))}
    assert job.params["threshold"] == 0.95
    assert job.params["rounds"] == 2
    assert job.device == "cpu"
    assert job.metrics["stored"] == len(scores)
    assert len(job.metrics["added_per_round"]) == 2
    assert min(scores) >= 0.95
    assert status["proposals"]["pseudo_label"]["pending"] == len(labeled)


def test_json_progress_lines(demo_folder):
    result = _workbench("job", "run", "self-training", demo_folder, "--json", "--rounds", "1")
    assert result.returncode == 0, result.stderr
    messages = [json.loads(line) for line in result.stdout.splitlines()]
    events = [m["event"] for m in messages]
    assert events[0] == "started"
    assert events[-1] == "finished"
    assert messages[-1]["state"] == "succeeded"
    progress = [m["value"] for m in messages if m["event"] == "progress"]
    assert progress == sorted(progress)
    assert progress[-1] == 1.0


def test_unused_device_warned(demo_folder):
    # The logistic head runs in scikit-learn, so a requested GPU is not used.
    result = _workbench("job", "run", "self-training", demo_folder, "--json", "--rounds", "1",
                        "--device", "cuda")
    assert result.returncode == 0, result.stderr
    messages = [json.loads(line) for line in result.stdout.splitlines()]
    warnings = [m["message"] for m in messages
                if m["event"] == "log" and m.get("level") == "warning"]
    assert any("Device 'cuda' ignored" in text for text in warnings)
    assert messages[0]["device"] == "cpu"


def test_bad_parameter_is_rejected_before_start(demo_folder):
    result = _workbench("job", "run", "self-training", demo_folder, "--threshold", "1.5")
    assert result.returncode == 2
    assert "threshold must be at most 1.0, got 1.5" in result.stderr
    status = json.loads(_workbench("status", demo_folder, "--json").stdout)
    assert status["jobs"] == {}


def test_one_labeled_class_is_rejected(tmp_path):
    from workbench.ingest.demo import build_demo

    project, _ = build_demo(tmp_path / "d", labels_per_class=0)
    project.close()
    result = _workbench("job", "run", "self-training", tmp_path / "d")
    assert result.returncode == 2
    assert "at least two classes" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_kind_lists_the_known_ones(demo_folder):
    result = _workbench("job", "run", "no-such-method", demo_folder)
    assert result.returncode == 2
    assert "Unknown job kind 'no-such-method'" in result.stderr
    assert "self-training" in result.stderr


def test_embed_runs_without_labels(tmp_path):
    from workbench.ingest.demo import build_demo

    project, _ = build_demo(tmp_path / "d", labels_per_class=0)
    project.close()
    result = _workbench("job", "run", "embed", tmp_path / "d", "--space", "pixels")
    assert result.returncode == 0, result.stderr
    status = json.loads(_workbench("status", tmp_path / "d", "--json").stdout)
    assert status["jobs"] == {"succeeded": 1}
