"""What every method does first: load labels and vectors, and reject degenerate input."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trainers.data import Dataset, load_dataset
from trainers.features.spaces import Features, Space, load_features, parse_space
from trainers.state import TaskState
from workbench.store.engine import Project

# Fewer usable items than this cannot be split into training and evaluation.
MIN_ITEMS = 10


@dataclass
class Prepared:
    """The usable items of a project: their vectors, labels and sample weights.

    Arrays are restricted to items whose image could be read; ``labels`` is
    -1 where unlabeled, ``trusted`` marks human and imported labels.
    """

    data: Dataset
    features: Features
    rows: np.ndarray
    X: np.ndarray
    labels: np.ndarray
    trusted: np.ndarray
    weights: np.ndarray

    @property
    def item_ids(self) -> np.ndarray:
        return self.data.item_ids[self.rows]

    @property
    def unlabeled(self) -> np.ndarray:
        return np.flatnonzero(self.labels < 0)

    def class_id(self, index: int) -> int:
        return self.data.class_ids[index]

    def class_name(self, index: int) -> str:
        return self.data.class_names[index]


def space_of(params: dict, prefix: str = "") -> Space:
    return parse_space(params[f"{prefix}space"], weights=params.get(f"{prefix}weights", ""),
                       image_size=params.get("image_size", 0))


def prepare(project: Project, params: dict, state: TaskState, device: str = "cpu", *,
            space: Space | None = None, span=(0.0, 0.4), data: Dataset | None = None
            ) -> Prepared:
    """Load the data set and its vectors in the job's space."""
    if data is None:
        data = load_dataset(project, include_accepted=params.get("include_accepted", True))
    space = space or space_of(params)
    features = load_features(project, data, space, state, device, span)
    rows = np.flatnonzero(features.usable)
    weights = np.where(data.trusted[rows], 1.0, params.get("accepted_weight", 1.0))
    return Prepared(data, features, rows, features.vectors[rows], data.labels[rows].copy(),
                    data.trusted[rows], weights.astype(np.float64))


def require_labels(prepared: Prepared, method: str, *, min_per_class: int = 1,
                   need_unlabeled: bool = True, state: TaskState | None = None) -> None:
    """Raise ValueError for input a method cannot learn from; warn about thin classes."""
    labels = prepared.labels
    if len(labels) < MIN_ITEMS:
        raise ValueError(
            f"{method} needs at least {MIN_ITEMS} readable images, got {len(labels)}. "
            f"Import more images first."
        )
    counts = np.bincount(labels[labels >= 0], minlength=len(prepared.data.class_ids))
    present = np.flatnonzero(counts)
    if len(present) < 2:
        raise ValueError(
            f"{method} needs labeled items in at least two classes, got {len(present)}. "
            f"Label a few items of each class first."
        )
    thin = [prepared.class_name(k) for k in present if counts[k] < min_per_class]
    if thin:
        raise ValueError(
            f"{method} needs at least {min_per_class} labels in every labeled class; "
            f"too few in: {', '.join(thin)}. Label more items of those classes."
        )
    few = [prepared.class_name(k) for k in present if counts[k] < 3]
    if few and state is not None:
        state.log(f"Classes with only one or two labels give unreliable results: "
                  f"{', '.join(few)}. Label more items of those classes.", level="warning")
    if need_unlabeled and not (labels < 0).any():
        raise ValueError(f"{method} has nothing to propose: every readable item is labeled.")


def per_class_counts(prepared: Prepared, class_indices) -> dict[str, int]:
    counts = np.bincount(np.asarray(class_indices, dtype=int),
                         minlength=len(prepared.data.class_ids))
    return {prepared.class_name(k): int(n) for k, n in enumerate(counts) if n}


def top_classes(prepared: Prepared, probabilities: np.ndarray, k: int = 3) -> list[dict]:
    order = np.argsort(probabilities)[::-1][:k]
    return [{"class": prepared.class_name(int(c)), "p": round(float(probabilities[c]), 4)}
            for c in order]
