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
        [--seeds 0 1 2] [--train-size N] [--spaces pixels-pca simclr clip]
    python benchmarks/bench_methods.py --markdown docs/bench/methods-quick.json

Peers in the same run: logistic regression on the labels alone,
scikit-learn's SelfTrainingClassifier and LabelSpreading on the same
features, the small CNN trained on the labels alone with weak augmentation
(FixMatch with the unlabeled loss off), and logistic regression on every
training label (the fully supervised limit). Peak memory is given twice:
the peak of NumPy allocations during the method (tracemalloc, which leaves
torch tensors out) and the growth of the process's resident set over its
size at the start, sampled every 20 ms.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import resource
import sys
import threading
import time
import tracemalloc
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

DATASET = Path("/usr/share/datasets/fashion-mnist")
METHODS = ("self-training", "label-propagation", "co-training")
# Probability at or above which a cycle accepts a method's proposal.
THRESHOLDS = {"self-training": 0.9, "label-propagation": 0.5, "co-training": 0.9}
REVIEW_BUDGETS = (200, 1000)
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


def read_report(path: Path) -> dict:
    """Return a result file's JSON, or exit with a message naming the file."""
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise SystemExit(f"Failed to read result file {path}: {exc.strerror}. Pass the JSON "
                         f"that a benchmark run wrote.") from None
    except ValueError as exc:
        raise SystemExit(f"Invalid result file {path}: {exc}. Pass the JSON that a "
                         f"benchmark run wrote.") from None


def add_seed_table_options(parser: argparse.ArgumentParser) -> None:
    """Add the --threads and --markdown options of the noise and weak-label benchmarks."""
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS and OpenMP threads. One is the default because two "
                             "threads spin while another process holds a core.")
    parser.add_argument("--markdown", type=Path, metavar="JSON",
                        help="Print the table of a finished result file, mean ± standard "
                             "deviation over its seeds, and exit.")


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
    """Plot the mean test accuracy over seeds per method for each labels-per-class N."""
    from methods_markdown import accuracies

    for per_class in sorted({r["labels_per_class"] for r in results}):
        bars = [(name, float(np.mean(values)))
                for name, values in accuracies(results, per_class).items()]
        bar_chart(json_path.with_name(f"{json_path.stem}-{per_class}.png"),
                  f"Fashion-MNIST test accuracy, {per_class} labels per class, mean over "
                  f"seeds", bars,
                  maximum=1.0)


def subset_labels(y: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Return a copy of ``y`` with -1 everywhere except ``per_class`` items per class."""
    rng = np.random.default_rng(seed)
    kept = np.full(len(y), -1)
    for k in np.unique(y):
        chosen = rng.choice(np.flatnonzero(y == k), per_class, replace=False)
        kept[chosen] = k
    return kept


def _resident_bytes() -> int | None:
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class Measured:
    """Wall time, NumPy peak memory and resident-set growth of a block.

    The resident set is sampled every 20 ms from /proc/self/statm, so a
    peak shorter than that can be missed. Memory the allocator kept from
    earlier blocks is reused without showing as growth. Outside Linux,
    ``rss_growth_mb`` is None.
    """

    interval = 0.02

    def __enter__(self):
        self._start_rss = _resident_bytes()
        self._peak_rss = self._start_rss or 0
        self._done = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        tracemalloc.start()
        self.start = time.perf_counter()
        return self

    def _sample(self):
        while not self._done.wait(self.interval):
            self._peak_rss = max(self._peak_rss, _resident_bytes() or 0)

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        self.peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        self._done.set()
        self._sampler.join()
        end = _resident_bytes()
        self.rss_growth_mb = None
        if self._start_rss is not None and end is not None:
            self.rss_growth_mb = (max(self._peak_rss, end) - self._start_rss) / 2**20

    def record(self) -> dict:
        return {"seconds": self.seconds, "peak_mb": self.peak_mb,
                "rss_growth_mb": self.rss_growth_mb}


def _logistic(X, y, weights=None):
    return LogisticRegression(max_iter=1000, C=1.0).fit(X, y, sample_weight=weights)


def _pretrain(train_images, name, args):
    """Pretrain the small ResNet of a self-supervised space as the embed job does."""
    from trainers.features import self_supervised

    rng = np.random.default_rng(0)
    sample = rng.choice(len(train_images), min(args.pretrain_items, len(train_images)),
                        replace=False)
    network = self_supervised.pretrain(train_images[sample], name,
                                       epochs=args.pretrain_epochs, batch_size=256)
    # FixMatch may start from this network (--fixmatch-init).
    args.pretrained[name] = network.state_dict()
    return network


def _self_supervised(train_images, test_images, name, args):
    from trainers.features import self_supervised

    network = _pretrain(train_images, name, args)
    return (self_supervised.features(network, train_images, "cpu"),
            self_supervised.features(network, test_images, "cpu"))


def _clip(train_images, test_images, args):
    """Embed with the embed job's open_clip loader (``trainers.features.backbones``)."""
    import torch
    from PIL import Image

    from trainers.features import backbones
    from trainers.features.spaces import parse_space

    try:
        weights = str(args.clip_weights) if args.clip_weights else ""
        space = parse_space(f"clip:{args.clip_model}", weights=weights)
        encode, transform = backbones.encoder(space, "cpu")
    except ValueError as exc:
        # The loader's message names the embed job's --weights option.
        raise SystemExit(f"The clip space cannot load its weights: {exc} In this "
                         f"benchmark, pass --clip-weights PATH.") from None

    def embed(images):
        blocks = []
        for first in range(0, len(images), 64):
            batch = [transform(Image.fromarray(np.uint8(image * 255)).convert("RGB"))
                     for image in images[first:first + 64]]
            with torch.no_grad():
                out = encode(torch.stack(batch)).float()
            blocks.append(torch.nn.functional.normalize(out, dim=1).numpy())
        return np.concatenate(blocks)

    return embed(train_images), embed(test_images)


def spaces(train_images, test_images, names, args):
    """Return {space: (train vectors, test vectors, seconds to compute)}."""
    from trainers.features.pixels import apply_pca, fit_pca

    flat_train = train_images.reshape(len(train_images), -1)
    flat_test = test_images.reshape(len(test_images), -1)
    result = {}
    for name in names:
        start = time.perf_counter()
        if name == "pixels-pca":
            with threadpool_limits(args.sklearn_threads):
                model = fit_pca(flat_train, n_components=50)
                train, test = apply_pca(model, flat_train), apply_pca(model, flat_test)
        elif name in ("rotation", "simclr"):
            train, test = _self_supervised(train_images, test_images, name, args)
        elif name == "clip":
            train, test = _clip(train_images, test_images, args)
        else:
            raise SystemExit(f"Unknown space {name!r}; use pixels-pca, rotation, simclr "
                             f"or clip.")
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
        model = SelfTraining(threshold=THRESHOLDS[method], rounds=3, seed=seed).fit(X, labels)
        p = model.probabilities_
    elif method == "label-propagation":
        model = CosineLabelSpreading(n_neighbors=10, alpha=0.2).fit(X, labels)
        p = model.distributions_
    elif method == "co-training":
        model = CoTraining(rounds=5, per_class=max(10, int((labels >= 0).sum() // 10)),
                           seed=seed).fit(views[0], views[1], labels)
        p = (model.probabilities_[0] + model.probabilities_[1]) / 2.0
    else:
        raise ValueError(f"Unknown method {method!r}; use one of {', '.join(METHODS)}.")
    chosen = np.flatnonzero(unlabeled & (p.max(axis=1) >= THRESHOLDS[method]))
    return chosen, p[chosen].argmax(axis=1), p


def _pseudo_quality(human_labels, current, y):
    """Return precision and coverage of the labels in ``current`` beyond ``human_labels``."""
    pseudo = (current >= 0) & (human_labels < 0)
    precision = float((current[pseudo] == y[pseudo]).mean()) if pseudo.any() else None
    return precision, float(pseudo.sum() / (human_labels < 0).sum())


def run_cycles(method, X, X_test, y, y_test, labels, views, seed, cycles=3):
    """Return per-cycle test accuracy, pseudo-label precision, coverage and seconds.

    A cycle's seconds cover the method and the final classifier's fit.
    """
    current = labels.copy()
    rows = []
    first = None
    for cycle in range(1, cycles + 1):
        start = time.perf_counter()
        chosen, classes, probabilities = _propose(method, X, current, views, seed)
        if cycle == 1:
            first = (chosen, classes, probabilities)
        current = current.copy()
        current[chosen] = classes
        train = current >= 0
        accuracy = _logistic(X[train], current[train]).score(X_test, y_test)
        precision, coverage = _pseudo_quality(labels, current, y)
        rows.append({"cycle": cycle, "accuracy": accuracy, "pseudo_precision": precision,
                     "coverage": coverage, "proposed": len(chosen),
                     "seconds": time.perf_counter() - start})
    return rows, first


def reviewer(X, X_test, y, y_test, labels, first, budgets):
    """Return the test accuracy after a reviewer decides the top first-cycle proposals.

    For each budget, the reviewer goes through that many proposals by
    score, highest first, and accepts the correct ones and rejects the
    wrong ones. The classifier trains on the human labels plus the
    accepted proposals.
    """
    chosen, classes, probabilities = first
    order = np.argsort(-probabilities[chosen].max(axis=1), kind="stable")
    result = {}
    for budget in budgets:
        decided = order[:budget]
        correct = classes[decided] == y[chosen[decided]]
        current = labels.copy()
        current[chosen[decided][correct]] = classes[decided][correct]
        train = current >= 0
        result[str(budget)] = {
            "accuracy": _logistic(X[train], current[train]).score(X_test, y_test),
            "decided": len(decided), "accepted": int(correct.sum())}
    return result


def supervised_peer(X, X_test, y_test, labels):
    known = labels >= 0
    with Measured() as m:
        accuracy = _logistic(X[known], labels[known]).score(X_test, y_test)
    return {"accuracy": accuracy, **m.record()}


def full_labels_peer(X, X_test, y, y_test):
    with Measured() as m:
        accuracy = _logistic(X, y).score(X_test, y_test)
    return {"accuracy": accuracy, "labels": len(y), **m.record()}


def sklearn_peers(X, X_test, y, y_test, labels):
    """scikit-learn's SelfTrainingClassifier and LabelSpreading with their pseudo labels.

    The pseudo labels are SelfTrainingClassifier's ``transduction_`` beyond
    the given labels, and LabelSpreading's label distributions at or above
    the 0.5 that the workbench's label propagation uses.
    """
    from sklearn.semi_supervised import LabelSpreading, SelfTrainingClassifier

    out = {}
    with Measured() as m:
        model = SelfTrainingClassifier(LogisticRegression(max_iter=1000),
                                       threshold=THRESHOLDS["self-training"]).fit(X, labels)
        accuracy = model.score(X_test, y_test)
    precision, coverage = _pseudo_quality(labels, model.transduction_, y)
    out["sklearn SelfTrainingClassifier"] = {
        "accuracy": accuracy, "pseudo_precision": precision, "coverage": coverage,
        **m.record()}
    with Measured() as m:
        model = LabelSpreading(kernel="knn", n_neighbors=10, alpha=0.2).fit(X, labels)
        accuracy = float((model.predict(X_test) == y_test).mean())
    spread = model.label_distributions_
    current = np.where(spread.max(axis=1) >= THRESHOLDS["label-propagation"],
                       model.classes_[spread.argmax(axis=1)], -1)
    current[labels >= 0] = labels[labels >= 0]
    precision, coverage = _pseudo_quality(labels, current, y)
    out["sklearn LabelSpreading"] = {
        "accuracy": accuracy, "pseudo_precision": precision, "coverage": coverage,
        **m.record()}
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
    backbone = args.pretrained.get(args.fixmatch_init) if args.fixmatch_init else None
    network = "resnet" if backbone is not None else "cnn"
    for name, weight, budget in runs:
        load_before = os.getloadavg()
        with Measured() as m:
            model = FixMatch(epochs=args.fixmatch_epochs, time_budget=budget,
                             network=network, backbone_state=backbone,
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
            if confident.any() else None,
            "coverage": float(confident.mean()), **m.record(),
            "training_budget": budget, "steps": model.steps_,
            "network": network, "init": args.fixmatch_init or None,
            "threads": torch.get_num_threads(),
            "load_before": load_before[0], "load_after": os.getloadavg()[0],
            "history": model.history_}
        print(f"  {name}: { {k: v for k, v in out[name].items() if k != 'history'} }",
              flush=True)
    return out


def feature_row(X, X_test, y, y_test, labels, raw_view, seed, args):
    """Peers and every feature method on one space, one N and one seed."""
    row = {"peers": {"supervised": supervised_peer(X, X_test, y_test, labels)},
           "methods": {}, "load_before": os.getloadavg()[0]}
    if args.peers:
        row["peers"].update(sklearn_peers(X, X_test, y, y_test, labels))
    for method in args.methods:
        with Measured() as m:
            cycles, first = run_cycles(method, X, X_test, y, y_test, labels,
                                       (X, raw_view), seed)
        row["methods"][method] = {
            "cycles": cycles, **m.record(),
            "reviewer": reviewer(X, X_test, y, y_test, labels, first, REVIEW_BUDGETS)}
        print(f"  {method}: {[round(c['accuracy'], 4) for c in cycles]} "
              f"{m.seconds:.0f} s", flush=True)
    row["load_after"] = os.getloadavg()[0]
    return row


def _subsample(images, labels, size, rng):
    if size >= len(images):
        return images, labels
    keep = rng.choice(len(images), size, replace=False)
    return images[keep], labels[keep]


def benchmark(args, save):
    # Imported here so that the first method's wall time leaves the imports out.
    import trainers.methods.co_training
    import trainers.methods.label_propagation
    import trainers.methods.self_training  # noqa: F401

    train_images, y, test_images, y_test = load_fashion(args.data)
    rng = np.random.default_rng(12345)
    train_images, y = _subsample(train_images, y, args.train_size, rng)
    test_images, y_test = _subsample(test_images, y_test, args.test_size, rng)
    args.pretrained = {}
    features = spaces(train_images, test_images, args.spaces, args)
    init_seconds = None
    if args.fixmatch_init in features:
        init_seconds = features[args.fixmatch_init][2]
    elif args.fixmatch_init:
        # Pretrained only as FixMatch's start: its vectors are not compared.
        start = time.perf_counter()
        _pretrain(train_images, args.fixmatch_init, args)
        init_seconds = time.perf_counter() - start
        print(f"pretrained {args.fixmatch_init}: {init_seconds:.0f} s", flush=True)
    with threadpool_limits(args.sklearn_threads):
        raw_view = StandardScaler().fit_transform(train_images.reshape(len(y), -1))
        # The fully supervised limit does not depend on N or the seed.
        full = {space: full_labels_peer(X, X_test, y, y_test)
                for space, (X, X_test, _) in features.items()}
    results = []
    for per_class in args.labels_per_class:
        for seed in args.seeds:
            labels = subset_labels(y, per_class, seed)
            for space, (X, X_test, space_seconds) in features.items():
                print(f"N={per_class} seed={seed} {space}", flush=True)
                with threadpool_limits(args.sklearn_threads):
                    row = feature_row(X, X_test, y, y_test, labels, raw_view, seed, args)
                row["peers"]["full labels"] = full[space]
                results.append({"labels_per_class": per_class, "seed": seed, "space": space,
                                "space_seconds": space_seconds, **row})
                save(results)
            if args.fixmatch_epochs and seed in args.fixmatch_seeds:
                results.append({"labels_per_class": per_class, "seed": seed, "space": "images",
                                "init_seconds": init_seconds,
                                "runs": fixmatch_runs(train_images, test_images, y, y_test,
                                                      labels, seed, args)})
                save(results)
    return results


QUICK = {"train_size": 6000, "test_size": 2000, "seeds": [0, 1, 2], "fixmatch_seeds": [0],
         "spaces": ["pixels-pca"], "fixmatch_epochs": 1000, "fixmatch_budget": 40.0,
         "labels_only_budget": 20.0}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATASET)
    parser.add_argument("--quick", action="store_true",
                        help="A run of a few minutes: 6,000 training and 2,000 test images "
                             "(fixed random samples), seeds 0 1 2, pixels-pca; FixMatch "
                             "and the labels-only CNN for seed 0 only, trained for 40 s "
                             "and 20 s. Overrides the size, seed, space and FixMatch "
                             "budget options.")
    parser.add_argument("--markdown", type=Path, nargs="+", metavar="JSON",
                        help="Print Markdown tables of finished result files and exit.")
    parser.add_argument("--combine", action="store_true",
                        help="With --markdown: pool the files' rows into one pair of "
                             "tables (runs of one configuration split by seed or N).")
    parser.add_argument("--plot", type=Path, metavar="STEM",
                        help="With --markdown --combine: also draw the pooled accuracy "
                             "charts as STEM-N.png, one per labels-per-class N.")
    parser.add_argument("--labels-per-class", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--fixmatch-seeds", type=int, nargs="*", default=None,
                        help="Seeds that FixMatch and its peer run for (default: --seeds).")
    parser.add_argument("--train-size", type=int, default=60_000)
    parser.add_argument("--test-size", type=int, default=10_000)
    parser.add_argument("--spaces", nargs="*", default=["pixels-pca", "simclr"],
                        help="Feature spaces of the feature methods: pixels-pca, rotation, "
                             "simclr, clip. With none, only FixMatch and its peer run.")
    parser.add_argument("--methods", nargs="*", default=list(METHODS))
    parser.add_argument("--no-peers", dest="peers", action="store_false",
                        help="Leave out scikit-learn's SelfTrainingClassifier and "
                             "LabelSpreading (for comparing feature spaces only).")
    parser.add_argument("--pretrain-items", type=int, default=10_000,
                        help="Images the self-supervised spaces pretrain on.")
    parser.add_argument("--pretrain-epochs", type=int, default=20,
                        help="Epochs of self-supervised pretraining (the embed job's default).")
    parser.add_argument("--clip-model", default="ViT-B-32/laion2b_s34b_b79k",
                        help="open_clip MODEL/TAG of the clip space.")
    parser.add_argument("--clip-weights", type=Path, default=None,
                        help="Local open_clip checkpoint of --clip-model; without it the "
                             "weights must be in the Hugging Face cache. Nothing is "
                             "downloaded.")
    parser.add_argument("--fixmatch-epochs", type=int, default=10,
                        help="FixMatch epochs; 0 leaves FixMatch out.")
    parser.add_argument("--fixmatch-width", type=int, default=16)
    parser.add_argument("--fixmatch-budget", type=float, default=0.0,
                        help="Seconds of FixMatch training, or 0 to train for --fixmatch-epochs. "
                             "Prediction afterwards is not counted.")
    parser.add_argument("--labels-only-budget", type=float, default=0.0,
                        help="Seconds of training of the small CNN on the labels alone, or 0 "
                             "to train for --fixmatch-epochs.")
    parser.add_argument("--fixmatch-init", choices=("", "simclr", "rotation"), default="",
                        help="Train FixMatch and its labels-only peer on the small ResNet "
                             "pretrained by this self-supervised space instead of the small "
                             "CNN (the job's init parameter).")
    parser.add_argument("--fixmatch-lr", type=float, default=0.03)
    parser.add_argument("--fixmatch-threshold", type=float, default=0.95)
    parser.add_argument("--fixmatch-unlabeled-ratio", type=int, default=4)
    parser.add_argument("--fixmatch-adaptive-threshold", action="store_true",
                        help="Train on FlexMatch's per-class thresholds instead of the fixed one.")
    parser.add_argument("--no-distribution-alignment", dest="fixmatch_distribution_alignment",
                        action="store_false",
                        help="Turn off FixMatch's distribution alignment of pseudo labels.")
    # NOTE: one thread is the default because two threads spent most of
    # their time waiting for each other on a shared 2-core machine (load
    # average 5 to 8). With two, FixMatch took a fifth of the steps in the
    # same seconds, and logistic regression on 6,000 PCA vectors took 35 to
    # 45 s against 0.8 s. On an idle machine two threads may be faster.
    parser.add_argument("--threads", type=int, default=1,
                        help="Torch threads (at most the cores).")
    parser.add_argument("--sklearn-threads", type=int, default=1,
                        help="BLAS and OpenMP threads of the NumPy and scikit-learn work.")
    parser.add_argument("--json", type=Path, default=ROOT / "docs/bench/methods.json")
    return parser


def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if (args.combine or args.plot) and not args.markdown:
        parser.error("--combine and --plot need --markdown FILE.json ...")
    if args.plot and not args.combine:
        parser.error("--plot draws pooled charts, so it needs --combine")
    if args.markdown:
        from methods_markdown import markdown

        reports = []
        for path in args.markdown:
            reports.append(read_report(path))
            try:
                if not args.combine:
                    print(markdown(reports[-1]))
            except ValueError as exc:
                raise SystemExit(f"{path}: {exc}") from None
        if args.combine:
            try:
                print(markdown(*reports))
            except ValueError as exc:
                raise SystemExit(f"{' '.join(map(str, args.markdown))}: {exc}") from None
            if args.plot:
                stem = args.plot
                _plot([row for report in reports for row in report["results"]],
                      stem.with_name(stem.name + ".json"))
        return 0
    if args.quick:
        vars(args).update(QUICK)
    if args.fixmatch_seeds is None:
        args.fixmatch_seeds = args.seeds
    import torch

    torch.set_num_threads(max(1, min(args.threads, os.cpu_count() or 1)))
    start = time.perf_counter()
    load_start = os.getloadavg()[0]

    def save(results, complete=False):
        """Write the results so far, so an interrupted run keeps its finished rows."""
        report = {"script": "benchmarks/bench_methods.py", "argv": sys.argv[1:],
                  "machine": machine(), "date": date.today().isoformat(),
                  "seconds": time.perf_counter() - start, "complete": complete,
                  "load_start": load_start, "load_end": os.getloadavg()[0],
                  "torch_threads": torch.get_num_threads(),
                  "sklearn_threads": args.sklearn_threads,
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
