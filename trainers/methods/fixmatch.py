"""FixMatch: consistency regularization with confidence-masked pseudo labels.

Each training step takes a batch of labeled images and ``unlabeled_ratio``
times as many unlabeled ones. The labeled images, a weak view (flip and
shift) and a strong view (RandAugment-style distortion and Cutout) of the
unlabeled ones go through the network together. The network's prediction
on the weak view is the pseudo label of the strong view, counted only where
its probability reaches the threshold (Sohn et al., 2020, "FixMatch").
"""

from __future__ import annotations

import math
import time

import numpy as np

from trainers.features import augment
from trainers.features.spaces import SELF_SUPERVISED, model_file, parse_space
from trainers.methods import evaluation
from trainers.methods.common import (
    per_class_counts,
    prepare,
    require_labels,
    top_classes,
)
from trainers.results import MethodResult, ProposalRow
from trainers.state import TaskState
from workbench.store.engine import Project
from workbench.store.schema import KIND_PSEUDO

NETWORKS = ("cnn", "resnet")
PRECISIONS = ("auto", "float32", "bfloat16", "float16")
DEFAULT_SIZE = 28
# Fewer steps than this per epoch make the per-epoch metrics noisy on small
# projects, so short unlabeled sets are cycled.
MIN_STEPS_PER_EPOCH = 20


def small_cnn(n_classes: int, width: int = 32):
    """Return a three-stage VGG-style CNN for small gray images."""
    from torch import nn

    def stage(inputs, outputs):
        return [nn.Conv2d(inputs, outputs, 3, padding=1, bias=False), nn.BatchNorm2d(outputs),
                nn.ReLU(inplace=True)]

    return nn.Sequential(
        *stage(1, width), *stage(width, width), nn.MaxPool2d(2),
        *stage(width, 2 * width), *stage(2 * width, 2 * width), nn.MaxPool2d(2),
        *stage(2 * width, 4 * width), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Dropout(0.2), nn.Linear(4 * width, n_classes))


def small_resnet(n_classes: int, backbone_state: dict | None = None):
    """Return the self-supervised spaces' small ResNet with a linear classifier."""
    from torch import nn

    from trainers.features.self_supervised import _network

    backbone = _network()
    if backbone_state is not None:
        backbone.load_state_dict(backbone_state)
    return nn.Sequential(backbone, nn.Linear(128, n_classes))


class FixMatch:
    """FixMatch on (n, h, w) gray images in [0, 1].

    Parameters
    ----------
    threshold : float, default 0.95
        Probability the weak view's prediction needs before it becomes the
        strong view's target. Lower values use more unlabeled images and
        more wrong pseudo labels.
    epochs : int, default 10
        Passes over the unlabeled images (at least 20 steps each). With a
        ``time_budget``, the most passes.
    time_budget : float, default 0
        Seconds of training, after which ``fit`` stops by itself. With 0 it
        trains for ``epochs``. The learning rate decays over whichever of the
        budget and the epochs runs out first, so the schedule completes.
        Prediction afterwards is not counted.
    batch_size : int, default 32
        Labeled images per step, drawn with replacement.
    unlabeled_ratio : int, default 4
        Unlabeled images per labeled image in a step (FixMatch's mu).
    unlabeled_weight : float, default 1.0
        Weight of the unlabeled loss (FixMatch's lambda_u).
    lr : float, default 0.03
        Initial learning rate of SGD with Nesterov momentum, decayed on a
        cosine schedule to zero over the training.
    weight_decay : float, default 5e-4
    ema : float, default 0.999
        Decay of the exponential moving average of the weights that
        ``predict_proba`` uses; 0 predicts with the trained weights. The
        decay is capped at (1 + t) / (10 + t) at step t, so short runs
        are not dominated by the random initial weights.
    distribution_alignment : bool, default True
        Scale the weak view's probabilities by the labeled class
        frequencies over a running mean of the predicted ones before the
        threshold (ReMixMatch's distribution alignment), which keeps
        pseudo labels from collapsing onto a few easy classes early on.
    adaptive_threshold : bool, default False
        Lower each class's threshold while few unlabeled images are
        predicted as it above ``threshold`` (FlexMatch's curriculum), so
        more unlabeled images count early in training.
    network : {"cnn", "resnet"}, default "cnn"
        A small VGG-style CNN, or the small ResNet of the self-supervised
        spaces (optionally started from ``backbone_state``).
    width : int, default 32
        Channels of the CNN's first stage (the CNN only).
    backbone_state : dict, optional
        State dict of a pretrained small ResNet (``network="resnet"``).
    precision : {"auto", "float32", "bfloat16", "float16"}, default "auto"
        Compute type of the forward and backward passes (weights stay
        float32). "auto" uses bfloat16 autocast on a CPU with native
        bfloat16 (AVX512-BF16 or AMX) and on a CUDA GPU that supports it,
        float16 with loss scaling on other CUDA GPUs, and float32
        elsewhere. With channels-last
        convolutions it took a width-16 step on 28 x 28 Fashion-MNIST from
        234 to about 100 ms on one core of an AMD EPYC with AVX512-BF16.
    seed : int, default 0
    device : str, default "cpu"
    state : TaskState, optional
        Checked for a cancel every batch; receives "loss",
        "supervised_loss", "unsupervised_loss", "mask_rate" and
        "train_accuracy" metrics every epoch.
    progress_span : tuple of float, default (0.15, 0.9)
        Job progress at the start and the end of training.

    Attributes
    ----------
    network_ : torch.nn.Module
        The weights ``predict_proba`` uses (the moving average when
        ``ema`` is above 0).
    history_ : list of dict
        Per-epoch means of the streamed metrics.
    steps_ : int
        Training steps taken.
    batch_size_ : int
        Labeled images per step at the end of training: ``batch_size``, or
        less after a CUDA out-of-memory error halved it.
    """

    def __init__(self, *, threshold=0.95, epochs=10, time_budget=0.0, batch_size=32,
                 unlabeled_ratio=4, unlabeled_weight=1.0, lr=0.03, weight_decay=5e-4,
                 ema=0.999, distribution_alignment=True, adaptive_threshold=False,
                 network="cnn", width=32,
                 backbone_state=None, precision="auto", seed=0, device="cpu",
                 state: TaskState | None = None, progress_span=(0.15, 0.9)):
        self.threshold = threshold
        self.epochs = epochs
        self.time_budget = time_budget
        self.batch_size = batch_size
        self.unlabeled_ratio = unlabeled_ratio
        self.unlabeled_weight = unlabeled_weight
        self.lr = lr
        self.weight_decay = weight_decay
        self.ema = ema
        self.distribution_alignment = distribution_alignment
        self.adaptive_threshold = adaptive_threshold
        self.network = network
        self.width = width
        self.backbone_state = backbone_state
        self.precision = precision
        self.seed = seed
        self.device = device
        self.state = state
        self.progress_span = progress_span

    def _validate(self, images: np.ndarray, y: np.ndarray) -> None:
        if images.ndim != 3 or len(images) != len(y):
            raise ValueError(f"images must have shape (n, h, w) with one label each, got "
                             f"{images.shape} and {len(y)} labels.")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}.")
        for name in ("epochs", "batch_size", "unlabeled_ratio", "width"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be 1 or more, got {getattr(self, name)}.")
        if self.time_budget < 0:
            raise ValueError(f"time_budget must be 0 or more seconds, got {self.time_budget}.")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema must be in [0, 1), got {self.ema}.")
        if self.network not in NETWORKS:
            raise ValueError(f"network must be one of {NETWORKS}, got {self.network!r}.")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}.")
        if self.backbone_state is not None and self.network != "resnet":
            raise ValueError("A pretrained backbone needs network='resnet'.")
        if len(np.unique(y[y >= 0])) < 2:
            raise ValueError("FixMatch needs labeled images in at least two classes.")
        if not (y < 0).any():
            raise ValueError("FixMatch needs unlabeled images; every image is labeled.")

    def fit(self, images: np.ndarray, y: np.ndarray, sample_weight=None) -> "FixMatch":
        """Train on ``images`` with labels ``y``, where -1 marks unlabeled images."""
        import torch

        self._validate(images, y)
        started = time.monotonic()
        torch.manual_seed(self.seed)
        self.n_classes_ = int(y.max()) + 1
        self._autocast = _autocast_type(self.precision, self.device)
        # Small float16 gradients can underflow to zero without loss scaling.
        self._scaler = torch.amp.GradScaler(
            "cuda", enabled=self._autocast == torch.float16 and self.device.startswith("cuda"))
        model = self._build().to(self.device).to(memory_format=torch.channels_last)
        self._average = _Average(model, self.ema)
        data = torch.as_tensor(images, dtype=torch.float32).unsqueeze(1)
        labeled = np.flatnonzero(y >= 0)
        unlabeled = np.flatnonzero(y < 0)
        weights = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight)
        frequencies = np.bincount(y[labeled], minlength=self.n_classes_) / len(labeled)
        self._target = torch.as_tensor(frequencies, dtype=torch.float32, device=self.device)
        self._predicted = torch.full_like(self._target, 1.0 / self.n_classes_)
        self._learned = torch.full((len(y),), -1, dtype=torch.long)
        self._unlabeled_count = len(unlabeled)
        generator = torch.Generator().manual_seed(self.seed)
        steps = max(MIN_STEPS_PER_EPOCH,
                    math.ceil(len(unlabeled) / (self.batch_size * self.unlabeled_ratio)))
        total = steps * self.epochs
        optimizer = torch.optim.SGD(model.parameters(), lr=self.lr, momentum=0.9,
                                    nesterov=True, weight_decay=self.weight_decay)
        self.batch_size_ = self.batch_size
        batches = _Batches(data, y, weights, labeled, unlabeled, generator,
                           self.batch_size, self.batch_size * self.unlabeled_ratio)
        self.history_ = []
        self.steps_ = 0
        totals, in_epoch, done = np.zeros(5), 0, 0.0
        model.train()
        while done < 1.0:
            if self.state:
                self.state.check()
            for group in optimizer.param_groups:
                group["lr"] = self.lr * 0.5 * (1 + math.cos(math.pi * done))
            try:
                totals += self._step(model, batches.next(), optimizer, generator)
            except torch.cuda.OutOfMemoryError:
                # NOTE: no test reaches this branch, and it has not run on a CUDA GPU.
                if self.batch_size_ <= 1:
                    raise
                self.batch_size_ //= 2
                optimizer.zero_grad(set_to_none=True)
                torch.cuda.empty_cache()
                batches.resize(self.batch_size_, self.batch_size_ * self.unlabeled_ratio)
                if self.state:
                    self.state.log(f"CUDA out of memory; batch size halved to "
                                   f"{self.batch_size_}", level="warning")
                continue
            self._average.update(model)
            self.steps_ += 1
            in_epoch += 1
            done = self.steps_ / total
            if self.time_budget:
                done = max(done, (time.monotonic() - started) / self.time_budget)
            if in_epoch == steps or done >= 1.0:
                self._report(len(self.history_), totals / in_epoch, min(done, 1.0))
                totals, in_epoch = np.zeros(5), 0
        self.network_ = self._average.network
        self.network_.eval()
        return self

    def _build(self):
        if self.network == "cnn":
            return small_cnn(self.n_classes_, self.width)
        return small_resnet(self.n_classes_, self.backbone_state)

    def _forward(self, model, inputs):
        import torch

        inputs = inputs.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.split(":")[0], dtype=self._autocast,
                            enabled=self._autocast is not None):
            return model(inputs).float()

    def _pseudo_labels(self, model, weak_inputs, indices):
        """Return the weak view's class and whether it passes the threshold."""
        import torch

        with torch.no_grad():
            probabilities = torch.softmax(self._forward(model, weak_inputs), dim=1)
            if self.distribution_alignment:
                self._predicted.mul_(0.99).add_(probabilities.mean(dim=0), alpha=0.01)
                probabilities = probabilities * self._target / self._predicted.clamp_min(1e-6)
                probabilities = probabilities / probabilities.sum(dim=1, keepdim=True)
        confidence, pseudo = probabilities.max(dim=1)
        if not self.adaptive_threshold:
            return pseudo, (confidence >= self.threshold).float()
        # FlexMatch's curriculum (Zhang et al., 2021): a class's threshold
        # grows with the share of unlabeled images already predicted as it
        # above the fixed threshold, so classes the network has not learned
        # yet take less confident targets. The count of images never
        # predicted above it bounds the shares early on (the warm-up).
        learned = self._learned[self._learned >= 0]
        counts = torch.bincount(learned, minlength=self.n_classes_).float()
        unused = self._unlabeled_count - len(learned)
        share = counts / max(float(counts.max()), float(unused), 1.0)
        thresholds = (self.threshold * share / (2.0 - share)).to(confidence.device)
        above = (confidence >= self.threshold).cpu()
        self._learned[indices[above]] = pseudo.cpu()[above]
        return pseudo, (confidence >= thresholds[pseudo]).float()

    def _step(self, model, batch, optimizer, generator) -> np.ndarray:
        import torch
        from torch.nn import functional

        labeled_x, labeled_y, labeled_w, unlabeled_x = (t.to(self.device) for t in batch[:4])
        inputs = augment.weak(labeled_x, generator)
        if self.unlabeled_weight:
            # The weak view only sets targets, so it runs without autograd, at
            # about a third of the cost of a forward and backward pass.
            pseudo, mask = self._pseudo_labels(model, augment.weak(unlabeled_x, generator),
                                               batch[4])
            inputs = torch.cat([inputs, augment.strong(unlabeled_x, generator)])
        logits = self._forward(model, inputs)
        n = len(labeled_x)
        supervised = (functional.cross_entropy(logits[:n], labeled_y, reduction="none")
                      * labeled_w).sum() / labeled_w.sum()
        if self.unlabeled_weight:
            unsupervised = (functional.cross_entropy(logits[n:], pseudo, reduction="none")
                            * mask).mean()
        else:
            unsupervised, mask = torch.zeros(()), torch.zeros(1)
        loss = supervised + self.unlabeled_weight * unsupervised
        optimizer.zero_grad()
        self._scaler.scale(loss).backward()
        self._scaler.step(optimizer)
        self._scaler.update()
        hits = (logits[:n].argmax(dim=1) == labeled_y).float().mean()
        return np.array([loss.item(), supervised.item(), unsupervised.item(),
                         mask.mean().item(), hits.item()])

    def _report(self, epoch: int, means: np.ndarray, done: float) -> None:
        names = ("loss", "supervised_loss", "unsupervised_loss", "mask_rate", "train_accuracy")
        record = {name: float(value) for name, value in zip(names, means)}
        self.history_.append(record)
        if self.state:
            for name, value in record.items():
                self.state.metric(name, value, epoch + 1)
            start, end = self.progress_span
            self.state.progress(start + (end - start) * done, f"epoch {epoch + 1}")

    def predict_proba(self, images: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Return class probabilities of (n, h, w) images, averaged with their mirror image."""
        import torch

        data = torch.as_tensor(images, dtype=torch.float32).unsqueeze(1)
        out = []
        self.network_.eval()
        with torch.no_grad():
            for first in range(0, len(data), batch_size):
                if self.state:
                    self.state.check()
                batch = data[first:first + batch_size].to(self.device)
                logits = (self._forward(self.network_, batch)
                          + self._forward(self.network_, torch.flip(batch, dims=(3,))))
                out.append(torch.softmax(logits / 2.0, dim=1).cpu())
        return torch.cat(out).numpy().astype(np.float64)


def _autocast_type(precision: str, device: str):
    """Return the autocast dtype for ``precision`` on ``device``, or None for float32."""
    import torch

    if precision == "bfloat16":
        return torch.bfloat16
    if precision == "float16":
        return torch.float16
    if precision == "float32":
        return None
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.startswith("cpu") and torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return torch.bfloat16
    return None


class _Average:
    """Exponential moving average of a network's weights, with its batch-norm statistics copied."""

    def __init__(self, model, decay: float):
        import copy

        self.decay = decay
        self.updates = 0
        self.network = copy.deepcopy(model) if decay else model
        if decay:
            self.network.requires_grad_(False)

    def update(self, model) -> None:
        import torch

        if not self.decay:
            return
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        with torch.no_grad():
            for average, current in zip(self.network.parameters(), model.parameters()):
                average.lerp_(current, 1.0 - decay)
            for average, current in zip(self.network.buffers(), model.buffers()):
                average.copy_(current)


class _Batches:
    """Endless labeled batches (with replacement) and unlabeled ones (shuffled passes)."""

    def __init__(self, data, y, weights, labeled, unlabeled, generator, labeled_size,
                 unlabeled_size):
        import torch

        self.data = data
        self.y = torch.as_tensor(y, dtype=torch.long)
        self.weights = torch.as_tensor(weights, dtype=torch.float32)
        self.labeled = torch.as_tensor(labeled)
        self.unlabeled = torch.as_tensor(unlabeled)
        self.generator = generator
        self.labeled_size = labeled_size
        self.unlabeled_size = min(unlabeled_size, len(unlabeled))
        self.order = self.unlabeled[:0]

    def resize(self, labeled_size: int, unlabeled_size: int) -> None:
        """Draw smaller batches from now on, as after an out-of-memory error."""
        self.labeled_size = labeled_size
        self.unlabeled_size = min(unlabeled_size, len(self.unlabeled))

    def next(self):
        import torch

        chosen = self.labeled[torch.randint(len(self.labeled), (self.labeled_size,),
                                            generator=self.generator)]
        if len(self.order) < self.unlabeled_size:
            shuffled = self.unlabeled[torch.randperm(len(self.unlabeled),
                                                     generator=self.generator)]
            self.order = torch.cat([self.order, shuffled])
        taken, self.order = self.order[:self.unlabeled_size], self.order[self.unlabeled_size:]
        return (self.data[chosen], self.y[chosen], self.weights[chosen], self.data[taken],
                taken)


def _resolve_init(project: Project, params: dict, state: TaskState) -> str:
    """Return the pretrained network to start from: ``init``, with ``auto`` resolved.

    The result is ``simclr``, ``rotation`` or empty for random weights.

    ``auto`` starts from the SimCLR network when an embed job has pretrained
    one for this image size, because that start beat random weights within
    the same 15 minutes on Fashion-MNIST (BENCHMARKS.md).
    """
    if params["init"] != "auto":
        return params["init"]
    if model_file(project, parse_space("simclr", image_size=params["image_size"])).exists():
        state.log("Starting from the SimCLR network an embed job pretrained (init auto).")
        return "simclr"
    state.log("No pretrained SimCLR network in this project, so the network starts from "
              "random weights (init auto). Run 'embed --space simclr' first to start from "
              "one.")
    return ""


def _backbone_state(project: Project, params: dict, size: int):
    """Return the pretrained small ResNet named by ``init``, or None."""
    import torch

    if not params["init"]:
        return None
    space = parse_space(params["init"], image_size=params["image_size"])
    if space.family not in SELF_SUPERVISED:
        raise ValueError(f"init must be empty or one of {', '.join(SELF_SUPERVISED)}, "
                         f"got {params['init']!r}.")
    file = model_file(project, space)
    if not file.exists():
        raise ValueError(f"No pretrained {space.key} network in {file.parent}. Run "
                         f"'embed --space {params['init']}' first, or leave init empty.")
    return torch.load(file, map_location="cpu", weights_only=True)


def _make_model(params: dict, network: str, backbone, device, state, *, share=1,
                progress_span=(0.15, 0.9)) -> FixMatch:
    """Return the job's FixMatch with 1/``share`` of its epochs and time budget."""
    return FixMatch(threshold=params["threshold"],
                    epochs=max(1, math.ceil(params["epochs"] / share)),
                    time_budget=params["time_budget"] / share,
                    batch_size=params["batch_size"], unlabeled_ratio=params["unlabeled_ratio"],
                    unlabeled_weight=params["unlabeled_weight"], lr=params["lr"],
                    adaptive_threshold=params["adaptive_threshold"], network=network,
                    width=params["width"], backbone_state=backbone, seed=params["seed"],
                    device=device, state=state, progress_span=progress_span)


def _kfold_metrics(prepared, images, params, network, backbone, state, device) -> dict:
    """Return K-fold accuracy on the human labels before and after FixMatch.

    For each fold, two networks of the job's architecture train with that
    fold's human labels hidden and predict them: before, the network on
    the other labels alone; after, FixMatch with every unlabeled image as
    well. The difference is what the unlabeled images add. To cost about one
    more training rather than 2K, each network runs 1/(2K) of the job's
    epochs and time budget, so both figures understate the job's own
    network. Logistic regression on the pixels is stored as a reference.
    Empty when a class has fewer than two human labels.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    y = prepared.labels
    evaluated = np.flatnonzero(prepared.trusted & (y >= 0))
    folds = evaluation.fold_count(y[evaluated], params["folds"]) if len(evaluated) else 0
    if folds < 2:
        state.log("A class has a single human label, so K-fold accuracy is skipped. "
                  "Label more items of each class.", level="warning")
        return {}
    n_classes = len(prepared.data.class_ids)
    truth = y[evaluated]
    pixels = images[evaluated].reshape(len(evaluated), -1)
    logistic = evaluation.out_of_fold(lambda: LogisticRegression(max_iter=1000), pixels, truth,
                                      n_classes, folds=folds, seed=params["seed"],
                                      check=state.check)
    before = np.zeros((len(evaluated), n_classes))
    after = np.zeros((len(evaluated), n_classes))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=params["seed"])
    for fold, (_, test) in enumerate(splitter.split(pixels, truth)):
        train_y = y.copy()
        train_y[evaluated[test]] = -1
        for half, (probabilities, prefix, unlabeled_weight, title) in enumerate((
                (before, "kfold_labels_only_", 0.0, "labels only"),
                (after, "kfold_", params["unlabeled_weight"], "FixMatch"))):
            state.progress(0.15 + 0.4 * (fold + half / 2) / folds,
                           f"K-fold network {fold + 1} of {folds}, {title}")
            model = _make_model(params, network, backbone, device, state.nested(prefix),
                                share=2 * folds)
            model.unlabeled_weight = unlabeled_weight
            model.fit(images, train_y, sample_weight=prepared.weights)
            predicted = model.predict_proba(images[evaluated[test]])
            probabilities[test, :predicted.shape[1]] = predicted
    schedule = f"1/{2 * folds} of the epochs and time budget per fold"
    return {
        "kfold_folds": folds,
        "kfold_before_model": f"the same network on the human labels alone, {schedule}",
        "kfold_accuracy_before": round(evaluation.accuracy(before, truth), 4),
        "kfold_after_model": f"FixMatch, {schedule}",
        "kfold_accuracy_after": round(evaluation.accuracy(after, truth), 4),
        "kfold_accuracy_pixels_logistic": round(evaluation.accuracy(logistic, truth), 4),
        "calibration_error": round(evaluation.expected_calibration_error(after, truth), 4),
    }


def run(project: Project, params: dict, state: TaskState, device: str) -> MethodResult:
    size = params["image_size"] or DEFAULT_SIZE
    space = parse_space("pixels", image_size=size)
    prepared = prepare(project, params, state, device, space=space, span=(0.0, 0.15))
    require_labels(prepared, "FixMatch", state=state)
    images = prepared.X.reshape(-1, size, size)
    params = {**params, "init": _resolve_init(project, params, state)}
    backbone = _backbone_state(project, params, size)
    network = "resnet" if backbone is not None else params["network"]
    kfold = _kfold_metrics(prepared, images, params, network, backbone, state, device)
    model = _make_model(params, network, backbone, device, state,
                        progress_span=(0.55 if kfold else 0.15, 0.9))
    model.fit(images, prepared.labels, sample_weight=prepared.weights)
    state.progress(0.9, "predicting the unlabeled images")
    unlabeled = prepared.unlabeled
    probabilities = model.predict_proba(images[unlabeled])
    proposals, classes = [], []
    for i, row in zip(unlabeled, probabilities):
        best = int(row.argmax())
        if row[best] < params["threshold"]:
            continue
        evidence = {"network": network, "init": params["init"] or None,
                    "epochs": params["epochs"], "top": top_classes(prepared, row)}
        proposals.append(ProposalRow(int(prepared.item_ids[i]), prepared.class_id(best),
                                     float(row[best]), evidence))
        classes.append(best)
    last = model.history_[-1]
    metrics = {
        "network": network,
        "init": params["init"] or None,
        "labeled": int((prepared.labels >= 0).sum()),
        "unlabeled": len(unlabeled),
        "proposed": len(proposals),
        "proposals_per_class": per_class_counts(prepared, classes),
        "final_loss": round(last["loss"], 4),
        "final_mask_rate": round(last["mask_rate"], 4),
        "final_train_accuracy": round(last["train_accuracy"], 4),
        "history": model.history_,
        **kfold,
    }
    return MethodResult(KIND_PSEUDO, proposals, metrics, [prepared.features.store])
