"""The Markdown tables that bench_methods.py --markdown prints from a result file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_methods
from methods_markdown import markdown


def _cycle(number, accuracy):
    return {"cycle": number, "accuracy": accuracy, "pseudo_precision": 0.9,
            "coverage": 0.5, "proposed": 10, "seconds": 1.0}


def _peer(accuracy):
    return {"accuracy": accuracy, "seconds": 0.5, "peak_mb": 1.0, "rss_growth_mb": 0.0}


def _row(seed, supervised, first, last):
    reviewer = {budget: {"accuracy": 0.6, "decided": int(budget), "accepted": 5}
                for budget in ("200", "1000")}
    return {
        "labels_per_class": 10, "seed": seed, "space": "pixels-pca", "space_seconds": 1.0,
        "peers": {"supervised": _peer(supervised),
                  "sklearn SelfTrainingClassifier": {**_peer(0.5), "pseudo_precision": 0.8,
                                                     "coverage": 0.7},
                  "full labels": {**_peer(0.8), "labels": 6000}},
        "methods": {"self-training": {
            "cycles": [_cycle(1, first), _cycle(2, first), _cycle(3, last)],
            "seconds": 3.0, "peak_mb": 2.0, "rss_growth_mb": 1.0, "reviewer": reviewer}},
    }


def _report(results):
    return {"script": "benchmarks/bench_methods.py", "argv": ["--quick"], "machine": "CPU",
            "date": "2026-12-04", "seconds": 10.0, "complete": True, "load_start": 1.0,
            "load_end": 2.0, "peak_rss_mb": 100.0, "results": results}


def _line(text, method):
    return next(line for line in text.splitlines() if f"| {method}" in line)


def test_markdown_mean_and_deviation():
    text = markdown(_report([_row(0, 0.5, 0.6, 0.7), _row(1, 0.5, 0.8, 0.9)]))
    cells = [cell.strip() for cell in _line(text, "self-training").split("|")]
    assert cells[5] == "0.700 ± 0.141"
    assert cells[6] == "0.800 ± 0.141"
    assert cells[9] == "1.400 ± 0.283"


def test_markdown_ratio_per_seed():
    text = markdown(_report([_row(0, 0.5, 0.6, 0.6)]))
    cells = [cell.strip() for cell in _line(text, "self-training").split("|")]
    assert cells[5] == "0.600"
    assert cells[9] == "1.200"
    assert cells[10] == "1.200"


def test_markdown_rejects_old_format():
    old = {"labels_per_class": 10, "seed": 0, "space": "pixels-pca", "supervised": 0.7}
    with pytest.raises(ValueError, match="older bench_methods.py"):
        markdown(_report([old]))


def _fixmatch_row(init):
    def run(accuracy, budget):
        return {"accuracy": accuracy, "pseudo_precision": 0.9, "coverage": 0.5,
                "seconds": budget + 5.0, "training_budget": budget, "steps": 100,
                "network": "resnet" if init else "cnn", "init": init}

    return {"labels_per_class": 10, "seed": 0, "space": "images", "init_seconds": 300.0,
            "runs": {"small CNN, labels only": run(0.70, 120.0),
                     "fixmatch": run(0.77, 480.0)}}


def test_markdown_names_fixmatch_network():
    text = markdown(_report([_fixmatch_row("simclr")]))
    line = _line(text, "FixMatch")
    assert "FixMatch (small ResNet pretrained by SimCLR), 480 s of training" in line
    assert "small ResNet pretrained by SimCLR, labels only, 120 s of training" in text
    assert line.split("|")[-2].strip() == "1.100"
    plain = markdown(_report([_fixmatch_row(None)]))
    assert "FixMatch (small CNN), 480 s of training" in plain


def test_markdown_pools_runs_split_by_seed():
    first = _report([_row(0, 0.5, 0.6, 0.7)])
    second = {**_report([_row(1, 0.5, 0.8, 0.9)]), "argv": ["--seeds", "1"], "seconds": 20.0}
    text = markdown(first, second)
    cells = [cell.strip() for cell in _line(text, "self-training").split("|")]
    assert cells[4] == "2"
    assert cells[6] == "0.800 ± 0.141"
    assert "--quick`" in text
    assert "--seeds 1`" in text
    assert "20 s in all" in text


def test_markdown_rejects_repeated_seed():
    report = _report([_row(0, 0.5, 0.6, 0.7)])
    with pytest.raises(ValueError, match="Seed 0 at N = 10 on pixels\\+PCA is in result files 1 and 2"):
        markdown(report, report)


def test_combine_writes_pooled_charts(tmp_path, capsys):
    files = []
    for seed in (0, 1):
        path = tmp_path / f"seed-{seed}.json"
        path.write_text(json.dumps(_report([_row(seed, 0.5, 0.6, 0.7)])))
        files.append(str(path))
    stem = tmp_path / "pooled"
    assert bench_methods.main(["--markdown", *files, "--combine", "--plot", str(stem)]) == 0
    assert "| 2 |" in _line(capsys.readouterr().out, "self-training")
    assert (tmp_path / "pooled-10.png").stat().st_size > 0


def test_plot_needs_combine(tmp_path):
    with pytest.raises(SystemExit):
        bench_methods.main(["--markdown", str(tmp_path / "a.json"), "--plot", "x"])
