"""The Markdown tables that bench_noise.py and bench_weak.py --markdown print from a result file."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_noise
import bench_weak


def _detector(f1, flagged=500):
    return {"precision": f1, "recall": f1, "f1": f1, "flagged": flagged}


def _noise_row(seed, workbench, cleanlab):
    row = {"rate": 0.1, "kind": "symmetric", "seed": seed, "flips": 500}
    for name in bench_noise.DETECTORS:
        row[name] = _detector(0.5)
    row["workbench at budget"] = _detector(workbench)
    row["cleanlab at budget"] = _detector(cleanlab)
    return row


def _cells(text, label):
    line = next(line for line in text.splitlines() if f"| {label} |" in line)
    return [cell.strip() for cell in line.split("|")[1:-1]]


def test_noise_table_mean_over_seeds():
    text = bench_noise.markdown({"results": [_noise_row(0, 0.8, 0.8), _noise_row(1, 0.9, 0.6)]})
    cells = _cells(text, "workbench at budget")
    assert cells[0] == "symmetric 10% (500)"
    assert cells[2] == "2"
    assert cells[5] == "0.850 ± 0.071"
    assert cells[7] == "1.250 ± 0.354"


def _weak_row(seed, majority, model):
    return {"seed": seed, "kind": "3 rule per class", "sources": 30, "coverage": 0.9,
            "majority": majority, "label model": model, "best source": 0.85,
            "iterations": 40 + seed}


def test_weak_table_ratio_per_seed():
    text = bench_weak.markdown({"results": [_weak_row(0, 0.5, 0.6), _weak_row(1, 0.8, 0.8)]})
    cells = _cells(text, "3 rule per class")
    assert cells[2] == "2"
    assert cells[4] == "0.650 ± 0.212"
    assert cells[6] == "1.100 ± 0.141"
    assert cells[8] == "40 ± 1"
