"""Semi-supervised methods on Fashion-MNIST against scikit-learn, supervised and full labels.

For each labels-per-class N and seed, the training images keep N labels per
class and lose the rest; the test images measure accuracy. Every method is
the project's own class (the code the jobs run): SelfTraining,
CosineLabelSpreading, CoTraining and FixMatch. A cycle runs the method and
accepts every proposal at or above its threshold as a label. The final
classifier (logistic regression on the features, or FixMatch's own network)
trains on the human labels plus the accepted ones, and the next cycle
starts from those labels. A simulated reviewer instead goes through the first
cycle's proposals by score and accepts the correct ones and rejects the
wrong ones, for a budget of decisions.

    python benchmarks/bench_methods.py [--quick] [--labels-per-class 10 100]
        [--seeds 0 1 2] [--train-size N] [--spaces pixels-pca rotation]

Peers in the same run: logistic regression on the labels alone,
scikit-learn's SelfTrainingClassifier and LabelSpreading on the same
features, the small CNN trained on the labels alone with weak augmentation
(FixMatch with the unlabeled loss off), and logistic regression on every
training label (the fully supervised limit). Peak memory is the peak of
NumPy allocations during the method (tracemalloc); torch tensors are not
counted, so the process's peak RSS is reported too.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import resource
import sys
import time
import tracemalloc
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

DATASET = Path("/usr/share/datasets/fashion-mnist")
PEERS = ("supervised", "full labels", "sklearn SelfTrainingClassifier",
         "sklearn LabelSpreading")
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
           "Sneaker", "Bag", "Ankle boot")


def load_fashion(folder: Path = DATASET):
    """Return train images, train labels, test images, test labels; images in [0, 1]."""
    def read(name, offset):
        for candidate in (folder / f"{name}.gz", folder / name):
            if candidate.exists():
                opener = gzip.open if candidate.suffix == ".gz" else open
                with opener(candidate, "rb") as handle:
                    return np.frombuffer(handle.read(), dtype=np.uint8, offset=offset)
        sys.exit(f"Missing {name}[.gz] in {folder}. Install Debian's dataset-fashion-mnist "
                 f"package or pass --data DIR.")

    images = [read(f"{split}-images-idx3-ubyte", 16).reshape(-1, 28, 28) / 255.0
              for split in ("train", "t10k")]
    labels = [read(f"{split}-labels-idx1-ubyte", 8).astype(np.int64)
              for split in ("train", "t10k")]
    return (images[0].astype(np.float32), labels[0], images[1].astype(np.float32), labels[1])


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def bar_chart(path: Path, title: str, bars: list[tuple[str, float]], *,
              unit: str = "", maximum: float | None = None) -> None:
    """Write a horizontal bar chart as a PNG with Pillow (no plotting library needed)."""
    from PIL import Image, ImageDraw

    row, left, width = 22, 330, 360
    image = Image.new("RGB", (left + width + 90, 40 + row * len(bars)), "white")
    draw = ImageDraw.Draw(image)
    draw.text((10, 10), title, fill="black")
    top = maximum or max((value for _, value in bars), default=1.0) or 1.0
    for i, (label, value) in enumerate(bars):
        y = 35 + i * row
        draw.text((10, y + 4), label[:52], fill="black")
        draw.rectangle((left, y + 3, left + int(width * value / top), y + row - 4),
                       fill=(70, 110, 180))
        draw.text((left + int(width * value / top) + 6, y + 4), f"{value:.3g}{unit}",
                  fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def _plot(results: list[dict], json_path: Path) -> None:
    """Plot the median test accuracy per method for each labels-per-class N."""
    for per_class in sorted({r["labels_per_class"] for r in results}):
        values: dict[str, list[float]] = {}
        for r in results:
            if r["labels_per_class"] != per_class:
                continue
            for key, value in r.items():
                name = f"{key} ({r['space']})"
                if isinstance(value, float) and key in PEERS:
                    values.setdefault(name, []).append(value)
                elif isinstance(value, dict) and "cycles" in value:
                    for cycle in (value["cycles"][0], value["cycles"][-1]):
                        values.setdefault(f"{name}, cycle {cycle['cycle']}", []).append(
                            cycle["accuracy"])
                elif isinstance(value, dict) and "accuracy" in value:
                    values.setdefault(name, []).append(value["accuracy"])
        bars = [(name, float(np.median(v))) for name, v in values.items()]
        bar_chart(json_path.with_name(f"{json_path.stem}-{per_class}.png"),
                  f"Fashion-MNIST test accuracy, {per_class} labels per class", bars,
                  maximum=1.0)


def subset_labels(y: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Return a copy of ``y`` with -1 everywhere except ``per_class`` items per class."""
    rng = np.random.default_rng(seed)
    kept = np.full(len(y), -1)
    for k in np.unique(y):
        chosen = rng.choice(np.flatnonzero(y == k), per_class, replace=False)
        kept[chosen] = k
    return kept


class Measured:
    """Wall time and NumPy peak memory of a block."""

    def __enter__(self):
        tracemalloc.start()
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        self.peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()


def _logistic(X, y, weights=None):
    return LogisticRegression(max_iter=1000, C=1.0).fit(X, y, sample_weight=weights)


def spaces(train_images, test_images, names, args):
    """Return {space: (train vectors, test vectors, seconds to compute)}."""
    from trainers.features.pixels import apply_pca, fit_pca

    flat_train = train_images.reshape(len(train_images), -1)
    flat_test = test_images.reshape(len(test_images), -1)
    result = {}
    for name in names:
        start = time.perf_counter()
        if name == "pixels-pca":
            model = fit_pca(flat_train, n_components=50)
            train, test = apply_pca(model, flat_train), apply_pca(model, flat_test)
        elif name in ("rotation", "simclr"):
            from trainers.features import self_supervised

            rng = np.random.default_rng(0)
            sample = rng.choice(len(train_images), min(args.pretrain_items,
                                                       len(train_images)), replace=False)
            network = self_supervised.pretrain(train_images[sample], name,
                                               epochs=args.pretrain_epochs, batch_size=256)
            train = self_supervised.features(network, train_images, "cpu")
            test = self_supervised.features(network, test_images, "cpu")
        else:
            raise SystemExit(f"Unknown space {name!r} for this benchmark.")
        if name != "pixels-pca":
            # PCA components keep the pixels' units, and standardizing them
            # inflates the noisy trailing ones (digits, 5 labels per class:
            # logistic regression 0.84 raw, 0.64 standardized).
            scaler = StandardScaler().fit(train)
            train, test = scaler.transform(train), scaler.transform(test)
        result[name] = (train, test, time.perf_counter() - start)
        print(f"space {name}: {time.perf_counter() - start:.0f} s", flush=True)
    return result




def _propose(method, X, labels, views, seed):
    """Run one method; return indices and classes of proposals at its threshold."""
    from trainers.methods.co_training import CoTraining
    from trainers.methods.label_propagation import CosineLabelSpreading
    from trainers.methods.self_training import SelfTraining

    unlabeled = labels < 0
    if method == "self-training":
        model = SelfTraining(threshold=0.9, rounds=3, seed=seed).fit(X, labels)
        p = model.probabilities_
        threshold = 0.9
    elif method == "label-propagation":
        model = CosineLabelSpreading(n_neighbors=10, alpha=0.2).fit(X, labels)
        p = model.distributions_
        threshold = 0.5
    elif method == "co-training":
        model = CoTraining(rounds=5, per_class=max(10, int((labels >= 0).sum() // 10)),
                           seed=seed).fit(views[0], views[1], labels)
        p = (model.probabilities_[0] + model.probabilities_[1]) / 2.0
        threshold = 0.9
    else:
        raise ValueError(method)
    chosen = np.flatnonzero(unlabeled & (p.max(axis=1) >= threshold))
    return chosen, p[chosen].argmax(axis=1), p


def run_cycles(method, X, X_test, y, y_test, labels, views, seed, cycles=3):
    """Return per-cycle test accuracy, pseudo-label precision and coverage."""
    current = labels.copy()
    rows = []
    first = None
    for cycle in range(1, cycles + 1):
        chosen, classes, probabilities = _propose(method, X, current, views, seed)
        if cycle == 1:
            first = (chosen, classes, probabilities)
        current = current.copy()
        current[chosen] = classes
        pseudo = current >= 0
        pseudo_only = pseudo & (labels < 0)
        precision = float((current[pseudo_only] == y[pseudo_only]).mean()) if pseudo_only.any() else 0.0
        accuracy = _logistic(X[pseudo], current[pseudo]).score(X_test, y_test)
        rows.append({"cycle": cycle, "accuracy": accuracy, "pseudo_precision": precision,
                     "coverage": float(pseudo_only.sum() / (labels < 0).sum())})
    return rows, first


def reviewer(X, X_test, y, y_test, labels, first, budgets):
    """Test accuracy after a reviewer decides ``budget`` first-cycle proposals by score."""
    chosen, classes, probabilities = first
    order = np.argsort(-probabilities[chosen].max(axis=1))
    result = {}
    for budget in budgets:
        decided = order[:budget]
        correct = classes[decided] == y[chosen[decided]]
        current = labels.copy()
        current[chosen[decided][correct]] = classes[decided][correct]
        train = current >= 0
        result[budget] = _logistic(X[train], current[train]).score(X_test, y_test)
    return result


def sklearn_peers(X, X_test, y_test, labels):
    from sklearn.semi_supervised import LabelSpreading, SelfTrainingClassifier

    out = {}
    with Measured() as m:
        model = SelfTrainingClassifier(LogisticRegression(max_iter=1000), threshold=0.9)
        out["sklearn SelfTrainingClassifier"] = model.fit(X, labels).score(X_test, y_test)
    out["sklearn SelfTrainingClassifier seconds"] = m.seconds
    with Measured() as m:
        model = LabelSpreading(kernel="knn", n_neighbors=10, alpha=0.2).fit(X, labels)
        out["sklearn LabelSpreading"] = float((model.predict(X_test) == y_test).mean())
    out["sklearn LabelSpreading seconds"] = m.seconds
    return out


def fixmatch_runs(train_images, test_images, y, y_test, labels, seed, args):
    """FixMatch and the supervised CNN (the same network, unlabeled loss off).

    Each run's wall time covers training and predicting the test and the
    unlabeled training images. The load average is read before and after.
    """
    import torch

    from trainers.methods.fixmatch import FixMatch

    out = {}
    runs = (("small CNN, labels only", 0.0, args.labels_only_budget),
            ("fixmatch", 1.0, args.fixmatch_budget))
    for name, weight, budget in runs:
        load_before = os.getloadavg()
        with Measured() as m:
            model = FixMatch(epochs=args.fixmatch_epochs, time_budget=budget,
                             width=args.fixmatch_width, lr=args.fixmatch_lr,
                             threshold=args.fixmatch_threshold,
                             unlabeled_ratio=args.fixmatch_unlabeled_ratio,
                             adaptive_threshold=args.fixmatch_adaptive_threshold,
                             distribution_alignment=args.fixmatch_distribution_alignment,
                             unlabeled_weight=weight, seed=seed).fit(train_images, labels)
            test = model.predict_proba(test_images)
            pool = model.predict_proba(train_images[labels < 0])
        confident = pool.max(axis=1) >= 0.95
        truth = y[labels < 0]
        out[name] = {
            "accuracy": float((test.argmax(axis=1) == y_test).mean()),
            "pseudo_precision": float((pool.argmax(axis=1)[confident] == truth[confident]).mean())
            if confident.any() else 0.0,
            "coverage": float(confident.mean()), "seconds": m.seconds,
            "training_budget": budget, "steps": model.steps_,
            "threads": torch.get_num_threads(),
            "load_before": load_before[0], "load_after": os.getloadavg()[0],
            "history": model.history_}
        print(f"  {name}: { {k: v for k, v in out[name].items() if k != 'history'} }",
              flush=True)
    return out


def benchmark(args, save):
    train_images, y, test_images, y_test = load_fashion(args.data)
    rng = np.random.default_rng(12345)
    if args.train_size < len(train_images):
        keep = rng.choice(len(train_images), args.train_size, replace=False)
        train_images, y = train_images[keep], y[keep]
    if args.test_size < len(test_images):
        keep = rng.choice(len(test_images), args.test_size, replace=False)
        test_images, y_test = test_images[keep], y_test[keep]
    features = spaces(train_images, test_images, args.spaces, args)
    flat = StandardScaler().fit(train_images.reshape(len(y), -1))
    raw_view = flat.transform(train_images.reshape(len(y), -1))
    results = []
    for per_class in args.labels_per_class:
        for seed in args.seeds:
            labels = subset_labels(y, per_class, seed)
            for space, (X, X_test, space_seconds) in features.items():
                row = {"labels_per_class": per_class, "seed": seed, "space": space,
                       "space_seconds": space_seconds}
                known = labels >= 0
                row["supervised"] = _logistic(X[known], labels[known]).score(X_test, y_test)
                row["full labels"] = _logistic(X, y).score(X_test, y_test)
                if args.peers:
                    row.update(sklearn_peers(X, X_test, y_test, labels))
                print(f"N={per_class} seed={seed} {space} peers: "
                      f"{ {k: round(v, 4) for k, v in row.items() if k in PEERS} }",
                      flush=True)
                for method in args.methods:
                    views = (X, raw_view)
                    with Measured() as m:
                        cycles, first = run_cycles(method, X, X_test, y, y_test, labels,
                                                   views, seed)
                    row[method] = {"cycles": cycles, "seconds": m.seconds,
                                   "peak_mb": m.peak_mb,
                                   "reviewer": reviewer(X, X_test, y, y_test, labels, first,
                                                        (200, 1000))}
                    print(f"N={per_class} seed={seed} {space} {method}: "
                          f"{[round(c['accuracy'], 4) for c in cycles]} "
                          f"{m.seconds:.0f} s", flush=True)
                results.append(row)
                save(results)
            if args.fixmatch_epochs:
                results.append({"labels_per_class": per_class, "seed": seed, "space": "images",
                                **fixmatch_runs(train_images, test_images, y, y_test, labels,
                                                seed, args)})
                save(results)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATASET)
    parser.add_argument("--quick", action="store_true",
                        help="A run of a few minutes: 6,000 training and 2,000 test "
                             "images, one seed, pixels-pca, 3 FixMatch epochs.")
    parser.add_argument("--labels-per-class", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--train-size", type=int, default=60_000)
    parser.add_argument("--test-size", type=int, default=10_000)
    parser.add_argument("--spaces", nargs="*", default=["pixels-pca", "rotation"],
                        help="Feature spaces of the feature methods. With none, only FixMatch "
                             "and its peer run.")
    parser.add_argument("--methods", nargs="*",
                        default=["self-training", "label-propagation", "co-training"])
    parser.add_argument("--no-peers", dest="peers", action="store_false",
                        help="Leave out scikit-learn's SelfTrainingClassifier and "
                             "LabelSpreading (for comparing feature spaces only).")
    parser.add_argument("--pretrain-items", type=int, default=10_000,
                        help="Images the self-supervised spaces pretrain on.")
    parser.add_argument("--pretrain-epochs", type=int, default=5)
    parser.add_argument("--fixmatch-epochs", type=int, default=10,
                        help="FixMatch epochs; 0 leaves FixMatch out.")
    parser.add_argument("--fixmatch-width", type=int, default=16)
    parser.add_argument("--fixmatch-budget", type=float, default=0.0,
                        help="Seconds of FixMatch training, or 0 to train for --fixmatch-epochs. "
                             "Prediction afterwards is not counted.")
    parser.add_argument("--labels-only-budget", type=float, default=0.0,
                        help="Seconds of training of the small CNN on the labels alone, or 0 "
                             "to train for --fixmatch-epochs.")
    parser.add_argument("--fixmatch-lr", type=float, default=0.03)
    parser.add_argument("--fixmatch-threshold", type=float, default=0.95)
    parser.add_argument("--fixmatch-unlabeled-ratio", type=int, default=4)
    parser.add_argument("--fixmatch-adaptive-threshold", action="store_true",
                        help="Train on FlexMatch's per-class thresholds instead of the fixed one.")
    parser.add_argument("--no-distribution-alignment", dest="fixmatch_distribution_alignment",
                        action="store_false",
                        help="Turn off FixMatch's distribution alignment of pseudo labels.")
    parser.add_argument("--threads", type=int, default=2,
                        help="Torch threads (at most the cores).")
    parser.add_argument("--json", type=Path, default=ROOT / "docs/bench/methods.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.train_size, args.test_size, args.seeds = 6000, 2000, [0]
        args.spaces, args.fixmatch_epochs = ["pixels-pca"], 3
    import torch

    torch.set_num_threads(max(1, min(args.threads, os.cpu_count() or 1)))
    start = time.perf_counter()

    def save(results, complete=False):
        """Write the results so far, so an interrupted run keeps its finished rows."""
        report = {"script": "benchmarks/bench_methods.py", "argv": sys.argv[1:],
                  "machine": machine(), "date": date.today().isoformat(),
                  "seconds": time.perf_counter() - start, "complete": complete,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "results": results}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
        _plot(results, args.json)

    results = benchmark(args, save)
    save(results, complete=True)
    print(f"wrote {args.json} in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
