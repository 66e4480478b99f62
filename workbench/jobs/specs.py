"""Job kinds and their declared parameters.

The window builds its launch form and the command line builds its options
from these declarations; the trainer validates what it receives against
them. Plain data only, so this module imports neither Qt nor torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


class ParamError(ValueError):
    """A job parameter value that is missing, of the wrong type or out of range."""


@dataclass(frozen=True)
class Param:
    name: str
    type: type
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None

    def parse(self, value: Any) -> Any:
        """Convert a value (often a command-line string) to this parameter's type."""
        try:
            if self.type is bool and isinstance(value, str):
                lowered = value.strip().lower()
                if lowered not in ("1", "0", "true", "false", "yes", "no"):
                    raise ValueError(value)
                parsed: Any = lowered in ("1", "true", "yes")
            else:
                parsed = self.type(value)
        except (TypeError, ValueError):
            raise ParamError(
                f"Invalid value {value!r} for {self.name}: expected {self.type.__name__}. "
                f"{self.help}"
            ) from None
        if isinstance(parsed, float) and not math.isfinite(parsed):
            raise ParamError(f"Invalid value {value!r} for {self.name}: expected a finite "
                             f"number. {self.help}")
        if self.choices is not None and parsed not in self.choices:
            raise ParamError(
                f"Invalid value {parsed!r} for {self.name}: use one of {', '.join(self.choices)}."
            )
        if self.minimum is not None and parsed < self.minimum:
            raise ParamError(f"{self.name} must be at least {self.minimum}, got {parsed}.")
        if self.maximum is not None and parsed > self.maximum:
            raise ParamError(f"{self.name} must be at most {self.maximum}, got {parsed}.")
        return parsed


@dataclass(frozen=True)
class JobKind:
    name: str
    title: str
    description: str
    params: tuple[Param, ...] = field(default_factory=tuple)
    # False for jobs that work without labels (embeddings, projections, rules).
    needs_labels: bool = True

    def param(self, name: str) -> Param:
        for param in self.params:
            if param.name == name:
                return param
        known = ", ".join(p.name for p in self.params)
        raise ParamError(f"Unknown parameter {name!r} for {self.name}; known: {known}.")

    def resolve(self, values: dict[str, Any]) -> dict[str, Any]:
        """Return every parameter's value: the given ones parsed, the rest defaulted."""
        for name in values:
            self.param(name)
        return {
            p.name: p.parse(values[p.name]) if p.name in values else p.default
            for p in self.params
        }


DEVICE = Param("device", str, "auto", "Compute device: auto picks CUDA, then Apple MPS, then CPU.",
               choices=("auto", "cpu", "cuda", "mps"))

SPACE_HELP = (
    "Embedding space: pixels, pixels-pca, resnet18, resnet50, vit_b_16, clip "
    "(ViT-B-32 with laion2b_s34b_b79k), clip:MODEL/TAG, simclr or rotation. Vectors "
    "are cached; missing ones are computed first."
)


def space_params(default: str = "pixels-pca", prefix: str = "", label: str = "") -> tuple:
    return (
        Param(f"{prefix}space", str, default, f"{label}{SPACE_HELP}"),
        Param(f"{prefix}weights", str, "", f"{label}Local weights or checkpoint file for a "
              "torchvision or open_clip space; empty uses the model's pretrained weights "
              "from the local cache."),
    )


IMAGE_SIZE = Param("image_size", int, 0, "Side in pixels that images are resized to for "
                   "pixel and self-supervised spaces; 0 uses the most common image size "
                   "(28 for self-supervised spaces).", minimum=0, maximum=256)
INCLUDE_ACCEPTED = Param("include_accepted", bool, True,
                         "Also train on accepted pseudo and weak labels.")
ACCEPTED_WEIGHT = Param("accepted_weight", float, 1.0, "Sample weight of accepted pseudo "
                        "and weak labels relative to given labels (0 to 1).",
                        minimum=0.0, maximum=1.0)
SEED = Param("seed", int, 0, "Random seed.")
THRESHOLD = Param("threshold", float, 0.9, "Propose only predictions with at least this "
                  "probability (0 to 1).", minimum=0.0, maximum=1.0)
HEAD = Param("head", str, "logistic", "Classifier head: logistic regression "
             "(scikit-learn) or a small MLP (torch).", choices=("logistic", "mlp"))
HEAD_EPOCHS = Param("epochs", int, 200, "MLP training epochs per fit (mlp head only).",
                    minimum=1, maximum=100_000)
TRAINING = (INCLUDE_ACCEPTED, ACCEPTED_WEIGHT, SEED, DEVICE)

EMBED = JobKind(
    name="embed",
    title="Compute embeddings",
    description=(
        "Compute and cache the vectors of every item in an embedding space; only new or "
        "changed items are computed. Self-supervised spaces first pretrain a small ResNet "
        "on the project's images."
    ),
    params=(
        *space_params(),
        IMAGE_SIZE,
        Param("recompute", bool, False, "Recompute every vector and refit PCA or the "
              "self-supervised network."),
        Param("download", bool, False, "Allow downloading pretrained weights into the "
              "usual cache (torch hub, Hugging Face). Off, a missing file fails at once."),
        Param("pretrain_epochs", int, 20, "Epochs of self-supervised pretraining.",
              minimum=1, maximum=1000),
        Param("pretrain_items", int, 10_000, "Images sampled for self-supervised "
              "pretraining; 0 uses every image. All images are embedded.",
              minimum=0),
        Param("batch_size", int, 256, "Images per batch; halved on CUDA out-of-memory.",
              minimum=2, maximum=4096),
        SEED,
        DEVICE,
    ),
    needs_labels=False,
)

SELF_TRAINING = JobKind(
    name="self-training",
    title="Self-training",
    description=(
        "Train a classifier head on the given labels over an embedding space, label the "
        "unlabeled items it is most confident about, retrain, and propose pseudo labels "
        "above the threshold. Probabilities are calibrated on held-out given labels."
    ),
    params=(
        THRESHOLD,
        Param("rounds", int, 3, "Self-training rounds: each adds the confident "
              "predictions to the training set and retrains.", minimum=1, maximum=50),
        HEAD,
        HEAD_EPOCHS,
        *space_params("pixels"),
        IMAGE_SIZE,
        Param("max_per_class", int, 0, "Most pseudo labels per class in each round and "
              "in the proposals; 0 means no cap.", minimum=0),
        Param("calibrate", bool, True, "Fit a temperature on held-out given labels so "
              "the threshold is a calibrated probability."),
        Param("folds", int, 3, "K for K-fold accuracy and calibration on the given "
              "labels (fewer when a class has fewer labels).", minimum=2, maximum=20),
        *TRAINING,
    ),
)

LABEL_PROPAGATION = JobKind(
    name="label-propagation",
    title="Label propagation",
    description=(
        "Spread the labels over a cosine k-nearest-neighbour graph of an embedding space "
        "(label spreading) and propose the spread labels; items no label reaches get no "
        "proposal."
    ),
    params=(
        *space_params(),
        IMAGE_SIZE,
        Param("neighbors", int, 10, "Neighbours per item in the kNN graph.",
              minimum=1, maximum=200),
        Param("alpha", float, 0.2, "Share of a label taken from the neighbours in each "
              "iteration, between 0 and 1.", minimum=0.01, maximum=0.99),
        Param("max_iter", int, 100, "Most spreading iterations.", minimum=1, maximum=10_000),
        Param("threshold", float, 0.5, "Propose only spread labels with at least this "
              "share of the label mass (0 to 1).", minimum=0.0, maximum=1.0),
        *TRAINING,
    ),
)

NOISE = JobKind(
    name="noise",
    title="Find label noise",
    description=(
        "Flag labeled items whose label looks wrong: out-of-fold probabilities from K-fold "
        "training into cleanlab's find_label_issues, combined with the labels of the "
        "nearest neighbours. Each flag carries the given and the suggested class."
    ),
    params=(
        *space_params(),
        IMAGE_SIZE,
        Param("folds", int, 5, "K in K-fold; every labeled class needs at least K labels.",
              minimum=2, maximum=20),
        Param("neighbors", int, 10, "Labeled neighbours compared with each item.",
              minimum=1, maximum=200),
        Param("neighbor_threshold", float, 0.8, "Share of neighbours with another class "
              "that flags an item even when cleanlab does not (0 to 1).",
              minimum=0.0, maximum=1.0),
        *TRAINING,
    ),
)

CO_TRAINING = JobKind(
    name="co-training",
    title="Co-training",
    description=(
        "Train one classifier per view (two embedding spaces or two heads); each labels "
        "its most confident unlabeled items for the other over several rounds. Proposals "
        "hold both views' predictions."
    ),
    params=(
        *space_params("pixels-pca", "", "First view. "),
        *space_params("pixels", "second_", "Second view. "),
        IMAGE_SIZE,
        HEAD,
        Param("second_head", str, "logistic", "Head of the second view.",
              choices=("logistic", "mlp")),
        HEAD_EPOCHS,
        Param("rounds", int, 5, "Co-training rounds.", minimum=1, maximum=100),
        Param("per_class", int, 10, "Items per class each view hands to the other in a "
              "round.", minimum=1, maximum=10_000),
        THRESHOLD,
        *TRAINING,
    ),
)

PROJECTION = JobKind(
    name="projection",
    title="2-D projection",
    description="Project an embedding space to 2-D with PCA, UMAP or t-SNE for the "
                "scatter view.",
    params=(
        *space_params(),
        IMAGE_SIZE,
        Param("method", str, "umap", "Projection method.", choices=("pca", "umap", "tsne")),
        Param("neighbors", int, 15, "UMAP neighbours.", minimum=2, maximum=200),
        Param("perplexity", float, 30.0, "t-SNE perplexity.", minimum=2.0, maximum=100.0),
        Param("max_iter", int, 0, "t-SNE iterations, the 250 of early exaggeration "
              "included; at least 250. 0 uses 1,000 for up to 10,000 items and 500 for "
              "more, which halves the time of large projections.", minimum=0,
              maximum=100_000),
        SEED,
        DEVICE,
    ),
    needs_labels=False,
)

ACTIVE_LEARNING = JobKind(
    name="active-learning",
    title="Label next",
    description=(
        "Rank the unlabeled items by how uncertain a classifier on the labels is about "
        "them (margin or entropy), optionally spread over the space, as a queue of items "
        "to label next. The queue is stored in the job's metrics."
    ),
    params=(
        *space_params(),
        IMAGE_SIZE,
        Param("strategy", str, "margin", "Uncertainty: margin (1 minus the gap between "
              "the two most likely classes) or normalized entropy.",
              choices=("margin", "entropy")),
        Param("count", int, 100, "Items in the queue.", minimum=1, maximum=100_000),
        Param("diversity", bool, False, "Spread the queue over the space: k-means on "
              "the most uncertain items, one item per cluster."),
        HEAD,
        *TRAINING,
    ),
)

FIXMATCH = JobKind(
    name="fixmatch",
    title="FixMatch",
    description=(
        "Train a small CNN on the images with FixMatch: the labels, plus the network's "
        "confident predictions on weakly augmented unlabeled images as targets for strongly "
        "augmented views of them. Proposes the unlabeled items it predicts above the "
        "threshold."
    ),
    params=(
        Param("threshold", float, 0.95, "Confidence a weak view's prediction needs to "
              "become a training target, and a proposal's minimum probability (0 to 1).",
              minimum=0.01, maximum=1.0),
        Param("epochs", int, 10, "Passes over the unlabeled images (at least 20 steps "
              "each); with a time budget, the most passes.", minimum=1, maximum=1000),
        Param("time_budget", float, 240.0, "Seconds of training, after which it stops "
              "with the learning-rate schedule completed, even before the last epoch; 0 "
              "trains for all the epochs. The K-fold networks share as much again, so the "
              "job takes about twice this. The default keeps a CPU run on 60,000 images "
              "under 10 minutes.", minimum=0.0, maximum=604800.0),
        Param("batch_size", int, 32, "Labeled images per step.", minimum=2, maximum=1024),
        Param("unlabeled_ratio", int, 4, "Unlabeled images per labeled image in a step.",
              minimum=1, maximum=16),
        Param("unlabeled_weight", float, 1.0, "Weight of the unlabeled loss.",
              minimum=0.0, maximum=100.0),
        Param("lr", float, 0.03, "Initial learning rate (SGD with Nesterov momentum, "
              "cosine decay).", minimum=1e-6, maximum=1.0),
        Param("adaptive_threshold", bool, False, "Lower the threshold of classes that few "
              "unlabeled images are predicted as yet (FlexMatch), so more unlabeled images "
              "count early in training."),
        Param("network", str, "cnn", "Network: a small CNN, or the small ResNet of the "
              "self-supervised spaces.", choices=("cnn", "resnet")),
        Param("width", int, 32, "Channels of the CNN's first stage.", minimum=4,
              maximum=256),
        Param("init", str, "auto", "Start the small ResNet from the network an embed "
              "job pretrained: simclr or rotation. Empty starts from random weights, and "
              "auto from simclr when that network exists, else from random weights.",
              choices=("auto", "", "simclr", "rotation")),
        Param("image_size", int, 0, "Side in pixels that images are resized to; 0 uses "
              "28.", minimum=0, maximum=256),
        Param("folds", int, 3, "K for K-fold accuracy on the human labels: per fold, "
              "the network on the labels alone (before) and FixMatch (after), each with "
              "1/(2K) of the epochs and time budget.", minimum=2, maximum=20),
        *TRAINING,
    ),
)

CLIP_PARAMS = (
    *space_params("clip"),
    Param("download", bool, False, "Allow downloading the open_clip weights into the "
          "usual cache. Off, missing weights fail at once."),
    Param("batch_size", int, 64, "Images per batch when computing image vectors.",
          minimum=1, maximum=4096),
)

ZERO_SHOT = JobKind(
    name="zero-shot",
    title="Zero-shot (CLIP)",
    description=(
        "Score every image against CLIP text prompts per class (an ensemble of templates "
        "per prompt set) and propose weak labels above the threshold. The templates come "
        "from the project's CLIP prompt weak sources, or the defaults in "
        "resources/prompts/templates.json."
    ),
    params=(
        *CLIP_PARAMS,
        Param("threshold", float, 0.5, "Propose only weak labels with at least this "
              "probability (0 to 1).", minimum=0.0, maximum=1.0),
        SEED,
        DEVICE,
    ),
    needs_labels=False,
)

FEW_SHOT = JobKind(
    name="few-shot",
    title="Few-shot",
    description=(
        "Propose weak labels from a few labeled examples per class: the nearest class "
        "prototype (mean vector) and a linear probe on an embedding space."
    ),
    params=(
        *space_params(),
        IMAGE_SIZE,
        Param("method", str, "both", "Prototypes, a linear probe, or the mean of both.",
              choices=("prototypes", "linear-probe", "both")),
        Param("temperature", float, 0.1, "Softmax temperature of the prototype cosine "
              "similarities; lower is sharper.", minimum=0.001, maximum=10.0),
        THRESHOLD,
        Param("folds", int, 3, "K for K-fold accuracy on the given labels.",
              minimum=2, maximum=20),
        *TRAINING,
    ),
)

RULES = JobKind(
    name="rules",
    title="Rules and label model",
    description=(
        "Apply the project's path rules (glob or regex on path, file name or metadata) "
        "and, optionally, CLIP prompt votes; combine the votes by a Dawid-Skene label model "
        "that estimates each source's accuracy, or by majority vote. Proposals hold every "
        "source's vote."
    ),
    params=(
        Param("aggregation", str, "label-model", "How votes are combined.",
              choices=("label-model", "majority")),
        Param("threshold", float, 0.5, "Propose only weak labels whose posterior (label "
              "model) or vote share (majority) is at least this (0 to 1).",
              minimum=0.0, maximum=1.0),
        Param("max_iter", int, 100, "Most EM iterations of the label model.", minimum=1,
              maximum=10_000),
        Param("zero_shot", bool, False, "Add one vote per CLIP prompt set (needs CLIP "
              "weights)."),
        *CLIP_PARAMS,
        INCLUDE_ACCEPTED,
        SEED,
        DEVICE,
    ),
    needs_labels=False,
)

JOB_KINDS: dict[str, JobKind] = {
    kind.name: kind
    for kind in (EMBED, SELF_TRAINING, LABEL_PROPAGATION, NOISE, CO_TRAINING, PROJECTION,
                 ACTIVE_LEARNING, FIXMATCH, ZERO_SHOT, FEW_SHOT, RULES)
}


def job_kind(name: str) -> JobKind:
    try:
        return JOB_KINDS[name]
    except KeyError:
        raise ParamError(
            f"Unknown job kind {name!r}; available: {', '.join(JOB_KINDS)}."
        ) from None
