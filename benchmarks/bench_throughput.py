"""Throughput: import, embedding per feature space, 2-D projection, store queries, batch accept.

    python benchmarks/bench_throughput.py [--quick] [--parts import embedding ...]
        [--json docs/bench/throughput.json]

Every part runs the project's own code:

- import: ``workbench import idx`` as a child process (``bench_import.py``),
  on the 60,000 Fashion-MNIST training images, or the first 5,000 with
  ``--quick`` (written as a smaller IDX file first);
- embedding: ``load_features`` for each space on the imported images, with
  random weights (``throughput_embedding.py``);
- projection: ``trainers.methods.projection.project_2d`` on the 70,000
  Fashion-MNIST images (training and test) as 50 PCA components of the
  pixels. ``--quick`` runs UMAP and t-SNE on a sample;
- store: ``queries.filtered_items`` at 70,000 and 1,000,000 synthetic
  items, and the review panel's batch accept of 10,000 proposals with its
  undo (``throughput_store.py``).

The JSON names the machine, the date, the load average at the start of
each part and the git commit with any uncommitted changes to the code it
ran. Without Debian's dataset-fashion-mnist package, the import, embedding
and projection parts are skipped with a message.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_import import _run_import  # noqa: E402
from bench_methods import DATASET, bar_chart, load_fashion, machine  # noqa: E402

PARTS = ("import", "embedding", "projection", "store")
QUICK_IMPORT = 5_000
# Images embedded per space: the slow networks get fewer.
EMBED_COUNTS = {
    "quick": {"pixels": 5000, "pixels-pca": 5000, "simclr": 2000, "resnet18": 64,
              "resnet50": 32, "vit_b_16": 16, "clip": 32},
    "full": {"pixels": 20000, "pixels-pca": 20000, "simclr": 20000, "resnet18": 512,
             "resnet50": 256, "vit_b_16": 64, "clip": 256},
}
# Points each projection method gets; None means all 70,000.
PROJECTION_POINTS = {
    "quick": {"pca": None, "umap": 10_000, "tsne": 5_000},
    "full": {"pca": None, "umap": None, "tsne": None},
}
STORE_SIZES = (70_000, 1_000_000)
BATCH_ACCEPT = 10_000


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def code_version() -> dict:
    """Return the commit and the code files that differ from it in the working tree."""
    def git(*args):
        result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                check=False)
        # Only trailing newlines go: a porcelain line starts with a space.
        return result.stdout.rstrip("\n")

    changed = git("status", "--porcelain", "--", "workbench", "trainers", "benchmarks")
    return {"commit": git("rev-parse", "--short", "HEAD"),
            "uncommitted": [line[3:] for line in changed.splitlines()]}


def _write_idx_subset(count: int, folder: Path) -> Path:
    """Write the first ``count`` training images and labels as plain IDX files."""
    from workbench.ingest.idx import read_idx

    folder.mkdir(parents=True)
    for kind, magic in (("images-idx3-ubyte", 0x0803), ("labels-idx1-ubyte", 0x0801)):
        array = read_idx(DATASET / f"train-{kind}.gz")[:count]
        header = magic.to_bytes(4, "big") + b"".join(
            int(d).to_bytes(4, "big") for d in array.shape)
        (folder / f"train-{kind}").write_bytes(header + array.tobytes())
    return folder


def run_import(scratch: Path, quick: bool) -> tuple[dict, Path]:
    """Import the images into a fresh project; return the figures and the project."""
    source = DATASET
    if quick:
        # The folder name keeps the Fashion-MNIST class names.
        source = _write_idx_subset(QUICK_IMPORT, scratch / "fashion-mnist")
    project = scratch / "project"
    # The peak memory _run_import returns is left out, because the child's
    # peak RSS starts from this process's, which has imported torch by now.
    seconds, _, report = _run_import(project, source, "train")
    result = {"images": report["added"], "seconds": round(seconds, 1),
              "images_per_s": round(report["added"] / seconds, 1),
              "target_images_per_s": 1000.0}
    print(f"  {result}", flush=True)
    return result, project


def run_embedding(project_folder: Path, scratch: Path, mode: str) -> dict:
    from throughput_embedding import time_spaces
    from trainers.data import load_dataset
    from workbench.store.engine import open_project

    weights = scratch / "weights"
    weights.mkdir()
    with open_project(project_folder) as project:
        data = load_dataset(project)
        return time_spaces(project, data, EMBED_COUNTS[mode], weights)


def run_projection(mode: str, tsne_points: int | None) -> dict:
    from trainers.features.pixels import apply_pca, fit_pca
    from trainers.methods.projection import project_2d

    train, _, test, _ = load_fashion(DATASET)
    pixels = np.concatenate([train, test]).reshape(-1, 28 * 28)
    started = time.perf_counter()
    X = apply_pca(fit_pca(pixels, n_components=50), pixels)
    result = {"input": f"{len(X):,} Fashion-MNIST images, PCA to 50 components",
              "pca50_seconds": round(time.perf_counter() - started, 1), "methods": []}
    rng = np.random.default_rng(0)
    sizes = dict(PROJECTION_POINTS[mode])
    if tsne_points:
        sizes["tsne"] = tsne_points
    for method, points in sizes.items():
        rows = X if points is None else X[np.sort(rng.choice(len(X), points, replace=False))]
        started = time.perf_counter()
        project_2d(rows, method)
        seconds = time.perf_counter() - started
        result["methods"].append({"method": method, "points": len(rows),
                                  "seconds": round(seconds, 2)})
        print(f"  {method} of {len(rows):,} points: {seconds:.1f} s", flush=True)
    return result


def run_store(scratch: Path, quick: bool) -> list[dict]:
    from throughput_store import build_store, time_batch_accept, time_filters

    results = []
    for count in STORE_SIZES:
        started_load = load_average()
        project, info = build_store(scratch / f"store-{count}", count)
        print(f"  built {info['items']:,} items, {info['proposals']:,} proposals in "
              f"{info['build_seconds']} s", flush=True)
        runs = 5
        if count > 100_000:
            runs = 1 if quick else 3
        row = {"load_average_at_start": started_load, "runs_per_query": runs,
               **{k: v for k, v in info.items() if k != "class_ids"}}
        row["filters"] = time_filters(project, info["class_ids"][3], runs)
        if count <= 100_000 or not quick:
            row["batch_accept"] = time_batch_accept(project, BATCH_ACCEPT, 100)
            print(f"  batch accept: {row['batch_accept']}", flush=True)
        project.close()
        shutil.rmtree(scratch / f"store-{count}", ignore_errors=True)
        results.append(row)
    return results


def _plot(report: dict, path: Path) -> None:
    embedding = report.get("embedding")
    if not embedding:
        return
    bars = [(f"{row['space']} ({row['gflops_per_image']} GFLOP/image)",
             row["fraction_of_best_matmul"])
            for row in embedding["spaces"] if "fraction_of_best_matmul" in row]
    peak = embedding["matmul"]["best_gflops"]
    bar_chart(path, f"Embedding on the CPU: share of the float32 matmul rate ({peak} GFLOP/s)",
              bars, maximum=1.0)


def main(argv: list[str] | None = None) -> int:
    # The parts read the data folder from this module name.
    global DATASET
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="A run of a few minutes: 5,000 images imported, fewer images "
                             "per space, UMAP and t-SNE on samples, one run per query at "
                             "1,000,000 items.")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                        help="Parts to run. Embedding needs import.")
    parser.add_argument("--tsne-points", type=int,
                        help="Run t-SNE on a random sample of this many of the 70,000 "
                             "points. Default: all in a full run, 5,000 with --quick.")
    parser.add_argument("--data", type=Path, default=DATASET,
                        help=f"Folder with the Fashion-MNIST IDX files. Default: {DATASET}.")
    parser.add_argument("--json", type=Path,
                        help="Results file. Default: docs/bench/throughput[-quick].json.")
    args = parser.parse_args(argv)
    DATASET = args.data
    mode = "quick" if args.quick else "full"
    path = args.json or ROOT / "docs/bench" / f"throughput{'-quick' if args.quick else ''}.json"
    if "embedding" in args.parts and "import" not in args.parts:
        parser.error("--parts embedding needs import, which builds the project it embeds.")
    import torch

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    has_data = (DATASET / "train-images-idx3-ubyte.gz").exists()
    started = time.perf_counter()
    report = {"script": "benchmarks/bench_throughput.py", "argv": sys.argv[1:],
              "machine": machine(), "date": date.today().isoformat(), "mode": mode,
              "code": code_version(), "load_average_at_start": {}}

    def save(complete: bool = False) -> None:
        report["seconds"] = round(time.perf_counter() - started)
        report["complete"] = complete
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=1))

    scratch = Path(tempfile.mkdtemp(prefix="bench-throughput-"))
    try:
        project = None
        for part in args.parts:
            if part != "store" and not has_data:
                report[part] = f"skipped: no {DATASET}; apt-get install dataset-fashion-mnist"
                print(report[part])
                continue
            report["load_average_at_start"][part] = load_average()
            print(f"{part} (load average {load_average()})", flush=True)
            if part == "import":
                report["import"], project = run_import(scratch, args.quick)
            elif part == "embedding":
                report["embedding"] = run_embedding(project, scratch, mode)
            elif part == "projection":
                report["projection"] = run_projection(mode, args.tsne_points)
            else:
                report["store"] = run_store(scratch, args.quick)
            save()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    save(complete=True)
    _plot(report, path.with_suffix(".png"))
    print(f"wrote {path} in {report['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
