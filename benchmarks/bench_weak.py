"""Label model (Dawid-Skene EM) against majority vote on the Fashion-MNIST test images.

Two kinds of weak source vote on the 10,000 labeled test images:

- classifier sources: logistic regression on 10 training labels per class,
  each over another view of the image (PCA of the whole image, of the top
  half, the bottom half, the left half, or a 7 x 7 thumbnail). They vote
  on every item, with different accuracies;
- rule sources: simulated rules that each vote one class, as path rules do;
  a precise rule fires on 40 % of its class and 1 % of the rest, a broad
  one on 70 % and 5 %, a sloppy one on 70 % and 15 %.

Each configuration reports the accuracy of both aggregations on the items
at least one source votes on, and their share.

    python benchmarks/bench_weak.py [--seeds 0 1 2] [--quick]
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
    DATASET, ROOT, add_seed_table_options, bar_chart, load_fashion, machine, read_report,
    subset_labels)

VIEWS = ("whole", "top half", "bottom half", "left half", "7x7 thumbnail")
FAMILIES = (("precise", 0.4, 0.01), ("broad", 0.7, 0.05), ("sloppy", 0.7, 0.15))


def view(images, name):
    if name == "top half":
        return images[:, :14]
    if name == "bottom half":
        return images[:, 14:]
    if name == "left half":
        return images[:, :, :14]
    if name == "7x7 thumbnail":
        return images.reshape(len(images), 7, 4, 7, 4).mean(axis=(2, 4))
    return images


def classifier_votes(train, y_train, test, seed):
    from sklearn.linear_model import LogisticRegression

    from trainers.features.pixels import apply_pca, fit_pca

    labels = subset_labels(y_train, 10, seed)
    known = labels >= 0
    columns = []
    for name in VIEWS:
        flat_train = view(train, name).reshape(len(train), -1)
        flat_test = view(test, name).reshape(len(test), -1)
        pca = fit_pca(flat_train, n_components=min(30, flat_train.shape[1]))
        model = LogisticRegression(max_iter=1000).fit(apply_pca(pca, flat_train)[known],
                                                      labels[known])
        columns.append(model.predict(apply_pca(pca, flat_test)))
    return np.stack(columns, axis=1)


def rule_votes(truth, families, seed):
    rng = np.random.default_rng(seed)
    columns = []
    for k in range(10):
        for _, hit, false in families:
            fires = rng.random(len(truth)) < np.where(truth == k, hit, false)
            columns.append(np.where(fires, k, -1))
    return np.stack(columns, axis=1)


def compare(votes, truth):
    from trainers.methods.label_model import DawidSkene, majority_vote

    covered = (votes >= 0).any(axis=1)
    majority, _ = majority_vote(votes, 10)
    start = time.perf_counter()
    model = DawidSkene().fit(votes, 10)
    seconds = time.perf_counter() - start
    return {"sources": votes.shape[1], "coverage": float(covered.mean()),
            "majority": float((majority[covered] == truth[covered]).mean()),
            "label model": float((model.predict()[covered] == truth[covered]).mean()),
            "best source": float(max(((v[v >= 0] == truth[v >= 0]).mean() for v in votes.T))),
            "label model seconds": seconds, "iterations": model.n_iter_}


def markdown(report: dict) -> str:
    """Return a Markdown table of a result file: mean ± standard deviation over seeds."""
    from methods_markdown import mean_sd

    lines = ["| sources | count | seeds | coverage | majority vote | label model "
             "| ratio | best single source | EM iterations |",
             "|---|---|---|---|---|---|---|---|---|"]
    kinds = list(dict.fromkeys(row["kind"] for row in report["results"]))
    for kind in kinds:
        rows = [r for r in report["results"] if r["kind"] == kind]
        cells = [mean_sd([r[key] for r in rows])
                 for key in ("coverage", "majority", "label model")]
        ratio = mean_sd([r["label model"] / r["majority"] for r in rows])
        lines.append(f"| {kind} | {rows[0]['sources']} | {len(rows)} | {' | '.join(cells)} "
                     f"| {ratio} | {mean_sd([r['best source'] for r in rows])} "
                     f"| {mean_sd([r['iterations'] for r in rows], 0)} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATASET)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--quick", action="store_true", help="One seed.")
    add_seed_table_options(parser)
    parser.add_argument("--json", type=Path, default=ROOT / "docs/bench/weak.json")
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown(read_report(args.markdown)))
        return 0
    if args.quick:
        args.seeds = [0]
    limits = threadpool_limits(args.threads)
    load_start = os.getloadavg()[0]
    train, y_train, test, truth = load_fashion(args.data)
    started = time.perf_counter()
    results = []
    for seed in args.seeds:
        classifiers = classifier_votes(train, y_train, test, seed)
        for count in (2, 3, 5):
            results.append({"seed": seed, "kind": f"{count} classifier sources",
                            **compare(classifiers[:, :count], truth)})
        for count in (1, 2, 3):
            results.append({"seed": seed, "kind": f"{count} rule per class",
                            **compare(rule_votes(truth, FAMILIES[:count], seed), truth)})
        results.append({"seed": seed, "kind": "5 classifiers and 3 rules per class",
                        **compare(np.hstack([classifiers, rule_votes(truth, FAMILIES, seed)]),
                                  truth)})
        for row in results[-7:]:
            print(row["kind"], round(row["majority"], 4), round(row["label model"], 4),
                  flush=True)
    report = {"script": "benchmarks/bench_weak.py", "argv": sys.argv[1:],
              "machine": machine(), "date": date.today().isoformat(),
              "seconds": time.perf_counter() - started, "threads": args.threads,
              "load_start": load_start, "load_end": os.getloadavg()[0], "results": results}
    limits.unregister()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1))
    bars = [(f"{row['kind']}, {name}", row[name]) for row in results
            if row["seed"] == args.seeds[0] for name in ("majority", "label model")]
    bar_chart(args.json.with_suffix(".png"), "Weak labels: accuracy on covered items "
              "(first seed)", bars, maximum=1.0)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
