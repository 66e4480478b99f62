"""Label-noise detection on Fashion-MNIST against cleanlab and kNN disagreement alone.

5,000 training images keep their true labels, then a share of them is
flipped: symmetric flips go to any other class, class-pair flips to the
confusable partner (T-shirt and Shirt, Pullover and Coat, Sandal and
Sneaker, Trouser and Dress, Bag and Ankle boot). The project's NoiseFinder
(the noise job's class) computes out-of-fold probabilities on PCA of the
pixels. Every detector is scored at a budget equal to the number of flips
(its top-scored items). cleanlab's find_label_issues and the job's own
flags are also scored as the sets they return.

    python benchmarks/bench_noise.py [--items 5000] [--seeds 0] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_methods import (  # noqa: E402
    DATASET, ROOT, add_seed_table_options, bar_chart, load_fashion, machine, read_report)

PAIRS = ((0, 6), (2, 4), (5, 7), (1, 3), (8, 9))


def flip(y, rate, kind, rng):
    """Return noisy labels and the mask of flipped items."""
    noisy = y.copy()
    flipped = np.zeros(len(y), dtype=bool)
    flipped[rng.choice(len(y), int(round(rate * len(y))), replace=False)] = True
    if kind == "symmetric":
        noisy[flipped] = (y[flipped] + rng.integers(1, 10, flipped.sum())) % 10
    else:
        partner = {a: b for a, b in PAIRS} | {b: a for a, b in PAIRS}
        noisy[flipped] = [partner[int(c)] for c in y[flipped]]
    return noisy, flipped


def scores(flagged, flipped):
    hits = (flagged & flipped).sum()
    precision = hits / flagged.sum() if flagged.any() else 0.0
    recall = hits / flipped.sum()
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1),
            "flagged": int(flagged.sum())}


def top(values, budget):
    mask = np.zeros(len(values), dtype=bool)
    mask[np.argsort(-values)[:budget]] = True
    return mask


def run_case(X, y, rate, kind, seed):
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    from trainers.methods.noise import NoiseFinder

    noisy, flipped = flip(y, rate, kind, np.random.default_rng(seed))
    start = time.perf_counter()
    finder = NoiseFinder(seed=seed).fit(X, noisy)
    seconds = time.perf_counter() - start
    budget = int(flipped.sum())
    start = time.perf_counter()
    cleanlab_set = find_label_issues(noisy, finder.probabilities_)
    cleanlab_seconds = time.perf_counter() - start
    quality = get_label_quality_scores(noisy, finder.probabilities_)
    return {
        "rate": rate, "kind": kind, "seed": seed, "flips": budget,
        "workbench at budget": scores(top(finder.scores_, budget), flipped),
        "workbench flags": scores(finder.flags_, flipped),
        "cleanlab at budget": scores(top(-quality, budget), flipped),
        "cleanlab find_label_issues": scores(cleanlab_set, flipped),
        "kNN disagreement at budget": scores(top(finder.disagreement_, budget), flipped),
        "workbench seconds": seconds, "cleanlab seconds": cleanlab_seconds,
    }


DETECTORS = ("workbench at budget", "workbench flags", "cleanlab at budget",
             "cleanlab find_label_issues", "kNN disagreement at budget")


def markdown(report: dict) -> str:
    """Return a Markdown table of a result file: mean ± standard deviation over seeds."""
    from methods_markdown import mean_sd

    lines = ["| flips | detector | seeds | precision | recall | F1 | flagged "
             "| F1 ratio to cleanlab at budget |", "|---|---|---|---|---|---|---|---|"]
    cases = []
    for row in report["results"]:
        if (row["kind"], row["rate"]) not in cases:
            cases.append((row["kind"], row["rate"]))
    for kind, rate in cases:
        rows = [r for r in report["results"] if (r["kind"], r["rate"]) == (kind, rate)]
        flips = f"{kind} {rate:.0%} ({rows[0]['flips']})"
        for name in DETECTORS:
            ratio = ""
            if name == "workbench at budget":
                ratio = mean_sd([r[name]["f1"] / r["cleanlab at budget"]["f1"] for r in rows])
            cells = [mean_sd([r[name][key] for r in rows]) for key in ("precision", "recall", "f1")]
            lines.append(f"| {flips} | {name} | {len(rows)} | {' | '.join(cells)} "
                         f"| {mean_sd([r[name]['flagged'] for r in rows], 0)} | {ratio} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATASET)
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--quick", action="store_true", help="One seed.")
    add_seed_table_options(parser)
    parser.add_argument("--json", type=Path, default=ROOT / "docs/bench/noise.json")
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown(read_report(args.markdown)))
        return 0
    if args.quick:
        args.seeds = [0]
    limits = threadpool_limits(args.threads)
    load_start = os.getloadavg()[0]
    from trainers.features.pixels import apply_pca, fit_pca

    images, labels, _, _ = load_fashion(args.data)
    keep = np.random.default_rng(7).choice(len(images), args.items, replace=False)
    flat, y = images[keep].reshape(args.items, -1), labels[keep]
    X = apply_pca(fit_pca(flat, n_components=50), flat)
    started = time.perf_counter()
    results = []
    for seed in args.seeds:
        for kind in ("symmetric", "class-pair"):
            for rate in (0.1, 0.3):
                results.append(run_case(X, y, rate, kind, seed))
                row = results[-1]
                print(kind, rate, seed, {k: round(v["f1"], 3) for k, v in row.items()
                                         if isinstance(v, dict)}, flush=True)
    report = {"script": "benchmarks/bench_noise.py", "argv": sys.argv[1:],
              "machine": machine(), "date": date.today().isoformat(),
              "seconds": time.perf_counter() - started, "threads": args.threads,
              "load_start": load_start, "load_end": os.getloadavg()[0], "results": results}
    limits.unregister()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1))
    bars = [(f"{row['kind']} {row['rate']:.0%}, {name}", value["f1"])
            for row in results if row["seed"] == args.seeds[0]
            for name, value in row.items() if isinstance(value, dict)]
    bar_chart(args.json.with_suffix(".png"), "Noise flags: F1 (first seed)", bars, maximum=1.0)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
