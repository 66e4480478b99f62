"""Markdown tables of a bench_methods.py result file, with mean ± standard deviation over seeds.

``python benchmarks/bench_methods.py --markdown FILE.json`` prints them;
``--markdown A.json B.json --combine`` pools runs split by seed or N. The
standard deviation is the sample one (ddof=1); a figure from one seed is
printed alone. Ratios are taken per seed and then averaged.
"""

from __future__ import annotations

import numpy as np

METHOD_NAMES = {
    "self-training": "self-training (`SelfTraining`)",
    "label-propagation": "label propagation (`CosineLabelSpreading`)",
    "co-training": "co-training (`CoTraining`, second view raw pixels)",
}
PEER_NAMES = {
    "supervised": "supervised only (logistic regression)",
    "sklearn SelfTrainingClassifier": "sklearn `SelfTrainingClassifier`",
    "sklearn LabelSpreading": "sklearn `LabelSpreading`",
    "full labels": "full labels (logistic regression)",
}
# The peer each method's ratio is taken to, in the same run, N and seed.
COUNTERPART = {"self-training": "sklearn SelfTrainingClassifier",
               "label-propagation": "sklearn LabelSpreading",
               "fixmatch": "small CNN, labels only"}
SPACE_NAMES = {"pixels-pca": "pixels+PCA", "simclr": "SimCLR", "rotation": "rotation",
               "clip": "CLIP", "images": "images"}


def mean_sd(values, digits=3, unit="") -> str:
    values = [v for v in values if v is not None]
    if not values:
        return ""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}{unit}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}{unit}"


def _pair(first, second, digits=3, unit="") -> str:
    """Format two figures as ``first / second``, leaving out an empty one."""
    parts = [text for text in (mean_sd(first, digits, unit), mean_sd(second, digits, unit)) if text]
    return " / ".join(parts)


def _groups(results):
    """Yield (N, space, rows), one row per seed, by N with FixMatch's images last."""
    keys = []
    for row in results:
        key = (row["labels_per_class"], row["space"])
        if key not in keys:
            keys.append(key)
    for per_class, space in sorted(keys, key=lambda k: (k[0], k[1] == "images")):
        yield per_class, space, [r for r in results
                                 if (r["labels_per_class"], r["space"]) == (per_class, space)]


def _ratio(rows, numerator, denominator):
    return [numerator(r) / denominator(r) for r in rows
            if numerator(r) is not None and denominator(r)]


def _peer_accuracy(name):
    return lambda r: r["peers"][name]["accuracy"] if name in r["peers"] else None


def _method_accuracy(method, cycle):
    return lambda r: r["methods"][method]["cycles"][cycle]["accuracy"]


def _accuracy_rows(per_class, space, rows):
    label = SPACE_NAMES.get(space, space)
    seeds = len(rows)
    supervised = _peer_accuracy("supervised")
    lines = []
    for name in ("supervised", "sklearn SelfTrainingClassifier", "sklearn LabelSpreading"):
        if name in rows[0]["peers"]:
            accuracy = _peer_accuracy(name)
            ratio = mean_sd(_ratio(rows, accuracy, supervised)) if name != "supervised" else ""
            lines.append([per_class, label, PEER_NAMES[name], seeds,
                          mean_sd([accuracy(r) for r in rows]), "", "", "", ratio, ""])
    for method in rows[0]["methods"]:
        first, last = _method_accuracy(method, 0), _method_accuracy(method, -1)
        review = [mean_sd([r["methods"][method]["reviewer"][b]["accuracy"] for r in rows])
                  for b in ("200", "1000")]
        counterpart = COUNTERPART.get(method)
        to_peer = (mean_sd(_ratio(rows, first, _peer_accuracy(counterpart)))
                   if counterpart in rows[0]["peers"] else "")
        lines.append([per_class, label, METHOD_NAMES.get(method, method), seeds,
                      mean_sd([first(r) for r in rows]), mean_sd([last(r) for r in rows]),
                      *review, mean_sd(_ratio(rows, first, supervised)), to_peer])
    full = rows[0]["peers"].get("full labels")
    if full:
        name = f"{PEER_NAMES['full labels']}, {full['labels']:,} labels"
        ratio = mean_sd(_ratio(rows, _peer_accuracy("full labels"), supervised))
        lines.append([per_class, label, name, 1, mean_sd([full["accuracy"]]),
                      "", "", "", ratio, ""])
    return lines


def _fixmatch_accuracy_rows(per_class, rows):
    lines = []
    peer = COUNTERPART["fixmatch"]
    for name, run in rows[0]["runs"].items():
        accuracy = [r["runs"][name]["accuracy"] for r in rows]
        ratio = ""
        if name == "fixmatch":
            ratio = mean_sd([r["runs"][name]["accuracy"] / r["runs"][peer]["accuracy"]
                           for r in rows])
        lines.append([per_class, "images", _run_name(name, run), len(rows),
                      mean_sd(accuracy), "", "", "", "", ratio])
    return lines


def _run_name(name, run):
    budget = run.get("training_budget")
    if run.get("init"):
        network = f"small ResNet pretrained by {SPACE_NAMES.get(run['init'], run['init'])}"
        title = (f"FixMatch ({network})" if name == "fixmatch" else
                 f"{network}, labels only")
    else:
        title = "FixMatch (small CNN)" if name == "fixmatch" else name
    return f"{title}, {budget:.0f} s of training" if budget else title


def _cost_rows(per_class, space, rows):
    label = SPACE_NAMES.get(space, space)
    lines = []
    for name in ("supervised", "sklearn SelfTrainingClassifier", "sklearn LabelSpreading"):
        if name in rows[0]["peers"]:
            peers = [r["peers"][name] for r in rows]
            lines.append([per_class, label, PEER_NAMES[name],
                          mean_sd([p.get("pseudo_precision") for p in peers]),
                          mean_sd([p.get("coverage") for p in peers]), "",
                          mean_sd([p["seconds"] for p in peers], 1, " s"),
                          _memory(peers)])
    for method in rows[0]["methods"]:
        runs = [r["methods"][method] for r in rows]
        cycles = [run["cycles"] for run in runs]
        accepted = " / ".join(mean_sd([run["reviewer"][b]["accepted"] for run in runs], 0)
                              for b in ("200", "1000"))
        lines.append([
            per_class, label, METHOD_NAMES.get(method, method),
            _pair([c[0]["pseudo_precision"] for c in cycles],
                  [c[-1]["pseudo_precision"] for c in cycles]),
            _pair([c[0]["coverage"] for c in cycles], [c[-1]["coverage"] for c in cycles]),
            accepted,
            _pair([c[0]["seconds"] for c in cycles], [run["seconds"] for run in runs], 1, " s"),
            _memory(runs)])
    return lines


def _fixmatch_cost_rows(per_class, rows):
    lines = []
    for name, run in rows[0]["runs"].items():
        runs = [r["runs"][name] for r in rows]
        lines.append([per_class, "images", _run_name(name, run),
                      mean_sd([x["pseudo_precision"] for x in runs]),
                      mean_sd([x["coverage"] for x in runs]),
                      f"{mean_sd([x['steps'] for x in runs], 0)} steps",
                      mean_sd([x["seconds"] for x in runs], 1, " s"), _memory(runs)])
    return lines


def _memory(records) -> str:
    numpy_peak = mean_sd([r.get("peak_mb") for r in records], 0)
    growth = mean_sd([r.get("rss_growth_mb") for r in records], 0)
    return f"{numpy_peak} / {growth} MiB" if numpy_peak or growth else ""


def _table(header, lines) -> str:
    text = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    text += ["| " + " | ".join(str(cell) for cell in line) + " |" for line in lines]
    return "\n".join(text)


ACCURACY_HEADER = ("N", "features", "method", "seeds", "test accuracy (1 cycle)",
                   "after 3 cycles", "reviewer, 200 decisions", "reviewer, 1,000 decisions",
                   "ratio to supervised", "ratio to counterpart")
COST_HEADER = ("N", "features", "method", "pseudo-label precision, 1 / 3 cycles",
               "coverage of the unlabeled, 1 / 3 cycles", "reviewer accepted, 200 / 1,000",
               "wall time, 1 / 3 cycles", "peak memory, NumPy / RSS growth")


def _conditions(report: dict) -> str:
    spaces = {r["space"]: r["space_seconds"] for r in report["results"] if "space_seconds" in r}
    space_text = ", ".join(f"{SPACE_NAMES.get(k, k)} {v:.0f} s" for k, v in spaces.items())
    return (
        f"`{report['script']} {' '.join(report['argv'])}`: {report['machine']}, "
        f"{report['date']}, {report['seconds']:.0f} s in all"
        f"{'' if report['complete'] else ' (stopped before the end)'}, load average "
        f"{report.get('load_start', float('nan')):.1f} at the start and "
        f"{report.get('load_end', float('nan')):.1f} at the end, torch threads "
        f"{report.get('torch_threads', '?')}, BLAS and OpenMP threads "
        f"{report.get('sklearn_threads', '?')}, process peak RSS "
        f"{report['peak_rss_mb']:.0f} MiB. Features computed in: {space_text or 'none'}.")


def markdown(*reports: dict) -> str:
    """Return the runs' conditions, an accuracy table and a cost table in Markdown.

    Several reports are pooled into one pair of tables, for runs of one
    configuration split by seed or by N. Each run's conditions are listed.
    """
    results, seen = [], {}
    for number, report in enumerate(reports, 1):
        if any("runs" not in row and "peers" not in row for row in report["results"]):
            raise ValueError("The result file was written by an older bench_methods.py, "
                             "whose rows have no 'peers' or 'runs'. Rerun the benchmark.")
        for row in report["results"]:
            key = (row["labels_per_class"], row["space"], row["seed"])
            if key in seen:
                raise ValueError(
                    f"Seed {key[2]} at N = {key[0]} on {SPACE_NAMES.get(key[1], key[1])} is in "
                    f"result files {seen[key]} and {number}. Pass each run once.")
            seen[key] = number
            results.append(row)
    accuracy, cost = [], []
    for per_class, space, rows in _groups(results):
        if space == "images":
            accuracy += _fixmatch_accuracy_rows(per_class, rows)
            cost += _fixmatch_cost_rows(per_class, rows)
        else:
            accuracy += _accuracy_rows(per_class, space, rows)
            cost += _cost_rows(per_class, space, rows)
    return "\n\n".join([*(_conditions(report) for report in reports),
                         _table(ACCURACY_HEADER, accuracy), _table(COST_HEADER, cost)])


def accuracies(results: list[dict], per_class: int) -> dict[str, list[float]]:
    """Return {label: accuracies over seeds} of every method and peer at one N."""
    values: dict[str, list[float]] = {}
    for r in results:
        if r["labels_per_class"] != per_class:
            continue
        space = SPACE_NAMES.get(r["space"], r["space"])
        for name, run in r.get("runs", {}).items():
            values.setdefault(f"{name} ({space})", []).append(run["accuracy"])
        for name, peer in r.get("peers", {}).items():
            values.setdefault(f"{name} ({space})", []).append(peer["accuracy"])
        for name, method in r.get("methods", {}).items():
            for cycle in (method["cycles"][0], method["cycles"][-1]):
                values.setdefault(f"{name} ({space}), cycle {cycle['cycle']}", []).append(
                    cycle["accuracy"])
            budget = max(int(key) for key in method["reviewer"])
            values.setdefault(f"{name} ({space}), reviewer {budget:,}", []).append(
                method["reviewer"][str(budget)]["accuracy"])
    return values
