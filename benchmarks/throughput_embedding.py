"""Embedding throughput per feature space, against the machine's float32 matmul rate.

Part of ``bench_throughput.py``. Every space runs through the embed job's
own entry point, ``trainers.features.spaces.load_features``, on images
imported into a project. No pretrained weights are read or downloaded:

- torchvision backbones and CLIP get a randomly initialized state dict,
  saved to a file and passed as the space's weights file, which the job's
  loader reads like any local checkpoint;
- ``simclr`` gets a randomly initialized network saved where the job keeps
  its pretrained one, so only embedding runs, no pretraining. ``rotation``
  embeds with the same network, so it is not timed again.

Random weights do the same arithmetic as trained ones, so the speed is what
a trained model would reach; the vectors themselves mean nothing.

For each neural space the script also times loading and transforming the
images alone, and the forward passes alone on tensors already in memory, in
the job's batches (512 images for the small ResNet, 64 for the others).
FLOPs per image come from ``torch.utils.flop_counter.FlopCounterMode``,
which counts 2 FLOPs per multiply-add of matrix products, convolutions and
attention. The peak is the rate of a large float32 ``torch.matmul``
measured in the same process, at the start and before each neural space.
"""

from __future__ import annotations

import dataclasses
import io
import statistics
import time
from pathlib import Path

import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode

from trainers.data import Dataset
from trainers.device import autocast
from trainers.features import backbones, self_supervised, spaces
from trainers.features.pixels import pixel_features
from trainers.state import TaskState
from workbench.ingest.images import load_rgb
from workbench.store.engine import Project

MATMUL_SIZE = 2048
NEURAL = ("simclr", "resnet18", "resnet50", "vit_b_16", "clip")


def matmul_gflops(size: int = MATMUL_SIZE, runs: int = 7) -> dict:
    """Return the best and median float32 GFLOP/s of a ``size``-square matmul."""
    a = torch.randn(size, size)
    b = torch.randn(size, size)
    torch.matmul(a, b)
    rates = []
    for _ in range(runs):
        started = time.perf_counter()
        torch.matmul(a, b)
        rates.append(2 * size**3 / (time.perf_counter() - started) / 1e9)
    return {"size": size, "threads": torch.get_num_threads(),
            "best_gflops": round(max(rates), 1), "median_gflops": round(statistics.median(rates), 1)}


def _quiet_state() -> TaskState:
    """Return a TaskState that writes its progress and log lines to a discarded buffer."""
    return TaskState(out=io.StringIO(), min_interval_s=3600)


def _subset(data: Dataset, count: int) -> Dataset:
    keep = slice(0, min(count, len(data.item_ids)))
    return dataclasses.replace(
        data, item_ids=data.item_ids[keep], paths=data.paths[keep], sha256=data.sha256[keep],
        sizes=data.sizes[keep], labels=data.labels[keep], trusted=data.trusted[keep])


def _random_weights(name: str, folder: Path) -> str:
    """Save a randomly initialized model of space ``name`` as a state-dict file."""
    if name == "clip":
        import open_clip

        model = open_clip.create_model(spaces.DEFAULT_CLIP[0], pretrained=None)
    else:
        model = getattr(torchvision.models, name)(weights=None)
    file = folder / f"{name}-random.pt"
    torch.save(model.state_dict(), file)
    return str(file)


def _space(name: str, project: Project, folder: Path):
    """Return the parsed space, its encoder and transform for the split timings."""
    if name in spaces.SELF_SUPERVISED:
        space = spaces.parse_space(name)
        network = self_supervised._network()
        file = spaces.model_file(project, space)
        file.parent.mkdir(parents=True, exist_ok=True)
        torch.save(network.state_dict(), file)
        return space, network.eval(), None
    space = spaces.parse_space(name, weights=_random_weights(name, folder))
    encode, transform = backbones.encoder(space, "cpu")
    return space, encode, transform


def _flops_per_image(encode, sample) -> float:
    # Counted with autograd on: nn.MultiheadAttention's inference fast path
    # runs a fused kernel that the counter does not see.
    counter = FlopCounterMode(display=False)
    with counter:
        encode(sample)
    return counter.get_total_flops() / len(sample)


def _inputs(data: Dataset, transform):
    """Load and transform the images as the job does; return the tensor and seconds."""
    started = time.perf_counter()
    if transform is None:
        size = self_supervised.DEFAULT_SIZE
        images, _ = pixel_features(data.paths, (size, size), _quiet_state())
        batch = torch.as_tensor(images.reshape(-1, 1, size, size))
    else:
        batch = torch.stack([transform(load_rgb(path)) for path in data.paths])
    return batch, time.perf_counter() - started


def _model_seconds(encode, batch, batch_size: int) -> float:
    with torch.no_grad():
        encode(batch[:2])
        started = time.perf_counter()
        for first in range(0, len(batch), batch_size):
            encode(batch[first:first + batch_size])
    return time.perf_counter() - started


def _cuda_model_seconds(encode, batch, batch_size: int) -> float:
    """Time the forward passes on the GPU under the job's float16 autocast."""
    # NOTE: not run on the machine that measured BENCHMARKS.md, which had no GPU.
    module = getattr(encode, "__self__", encode)
    module.to("cuda")
    with torch.no_grad(), autocast("cuda"):
        encode(batch[:2].to("cuda"))
        torch.cuda.synchronize()
        started = time.perf_counter()
        for first in range(0, len(batch), batch_size):
            encode(batch[first:first + batch_size].to("cuda"))
        torch.cuda.synchronize()
    module.to("cpu")
    return time.perf_counter() - started


def _end_to_end(project: Project, data: Dataset, space) -> tuple[float, int]:
    started = time.perf_counter()
    features = spaces.load_features(project, data, space, _quiet_state(), "cpu")
    seconds = time.perf_counter() - started
    if features.computed != len(data.item_ids):
        raise RuntimeError(f"{space.name}: computed {features.computed} of "
                           f"{len(data.item_ids)} vectors; the cache was not empty.")
    return seconds, features.vectors.shape[1]


def time_space(name: str, project: Project, data: Dataset, count: int,
               folder: Path) -> dict:
    """Time one space on ``count`` images: end to end, and split into loading and model."""
    data = _subset(data, count)
    n = len(data.item_ids)
    row = {"space": name, "images": n, "device": "cpu"}
    if name not in NEURAL:
        seconds, dim = _end_to_end(project, data, spaces.parse_space(name))
        row.update({"dim": dim, "seconds": round(seconds, 2),
                    "images_per_s": round(n / seconds, 1)})
        return row
    started = time.perf_counter()
    space, encode, transform = _space(name, project, folder)
    setup_s = time.perf_counter() - started
    batch, load_s = _inputs(data, transform)
    flops = _flops_per_image(encode, batch[:2])
    # The batch sizes the job uses: self_supervised.features and backbones.embed.
    batch_size = 512 if transform is None else 64
    model_s = _model_seconds(encode, batch, batch_size)
    if torch.cuda.is_available():
        gpu_s = _cuda_model_seconds(encode, batch, batch_size)
        row["gpu_model_images_per_s"] = round(n / gpu_s, 1)
    del encode, batch
    seconds, dim = _end_to_end(project, data, space)
    achieved = flops * n / model_s / 1e9
    row.update({
        "dim": dim, "input": "1x28x28 gray" if transform is None else "3x224x224 RGB",
        "gflops_per_image": round(flops / 1e9, 3),
        "seconds": round(seconds, 2), "images_per_s": round(n / seconds, 2),
        "model_build_s": round(setup_s, 2),
        "load_transform_s": round(load_s, 2), "load_images_per_s": round(n / load_s, 1),
        "model_s": round(model_s, 2), "model_images_per_s": round(n / model_s, 2),
        "model_gflops": round(achieved, 1),
    })
    return row


def time_spaces(project: Project, data: Dataset, counts: dict[str, int], folder: Path) -> dict:
    """Time every space in ``counts``, measuring the matmul rate before each neural one.

    Other work on a shared machine changes the rate from minute to minute,
    so each space is compared with the rate measured just before it, and
    with the best rate seen in the whole run.
    """
    peaks = [matmul_gflops()]
    rows = []
    for name, count in counts.items():
        if name in NEURAL:
            peaks.append(matmul_gflops(runs=3))
        row = time_space(name, project, data, count, folder)
        if "model_gflops" in row:
            row["matmul_gflops_before"] = peaks[-1]["best_gflops"]
            row["fraction_of_matmul_before"] = round(
                row["model_gflops"] / peaks[-1]["best_gflops"], 3)
        rows.append(row)
        print(f"  {name}: {row}", flush=True)
    best = max(peak["best_gflops"] for peak in peaks)
    for row in rows:
        if "model_gflops" in row:
            row["fraction_of_best_matmul"] = round(row["model_gflops"] / best, 3)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"matmul": {**peaks[0], "best_gflops": best,
                       "all_best_gflops": [peak["best_gflops"] for peak in peaks]},
            "gpu": gpu or "not available (torch.cuda.is_available() is False)",
            "spaces": rows}
