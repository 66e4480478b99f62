"""Self-training: fit a head on the labels, add its confident predictions, refit."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from trainers.data import load_dataset
from trainers.features.pixels import common_size, pixel_features
from trainers.methods.heads import MLPHead
from trainers.results import MethodResult, ProposalRow
from trainers.state import TaskState
from workbench.store.engine import Project
from workbench.store.schema import KIND_PSEUDO

HEADS = ("logistic", "mlp")


class SelfTraining:
    """Self-training classifier over fixed features.

    Parameters
    ----------
    threshold : float, default 0.9
        Minimum predicted probability for an unlabeled item to join the
        training set in the next round. Higher values add fewer, cleaner
        pseudo labels.
    rounds : int, default 3
        Number of fits. Round one uses the labels only; each later round adds
        the previous round's confident predictions.
    head : {"logistic", "mlp"}, default "logistic"
        Logistic regression (scikit-learn) or a one-hidden-layer MLP (torch).
    epochs : int, default 200
        Full-batch epochs per round for the MLP head.
    seed : int, default 0
    device : str, default "cpu"
        Torch device for the MLP head.

    Attributes
    ----------
    probabilities_ : ndarray of shape (n_samples, n_classes)
        The last round's predicted probabilities for every sample.
    added_per_round_ : list of int
        Pseudo labels that each round added to the training set.
    """

    def __init__(self, *, threshold=0.9, rounds=3, head="logistic", epochs=200, seed=0,
                 device="cpu", state: TaskState | None = None):
        self.threshold = threshold
        self.rounds = rounds
        self.head = head
        self.epochs = epochs
        self.seed = seed
        self.device = device
        self.state = state

    def _validate(self, y: np.ndarray) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}.")
        if self.rounds < 1:
            raise ValueError(f"rounds must be 1 or more, got {self.rounds}.")
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {self.head!r}.")
        classes = np.unique(y[y >= 0])
        if len(classes) < 2:
            raise ValueError(
                f"Self-training needs labeled samples in at least two classes, got "
                f"{len(classes)}. Label a few items of each class first."
            )

    def _make_head(self, n_classes: int):
        if self.head == "logistic":
            return LogisticRegression(C=1.0, max_iter=2000, random_state=self.seed)
        return MLPHead(n_classes=n_classes, epochs=self.epochs, seed=self.seed,
                       device=self.device, state=self.state)

    def fit(self, X: np.ndarray, y: np.ndarray) -> "SelfTraining":
        """Fit on features ``X`` and labels ``y``, where -1 marks unlabeled samples."""
        self._validate(y)
        n_classes = int(y.max()) + 1
        labeled = y >= 0
        train_y = y.copy()
        self.added_per_round_ = []
        for round_index in range(self.rounds):
            if self.state:
                self.state.progress(0.4 + 0.5 * round_index / self.rounds,
                                    f"round {round_index + 1} of {self.rounds}")
            model = self._make_head(n_classes).fit(X[train_y >= 0], train_y[train_y >= 0])
            self.probabilities_ = _full_probabilities(model, X, n_classes)
            confident = (~labeled) & (self.probabilities_.max(axis=1) >= self.threshold)
            train_y = y.copy()
            train_y[confident] = self.probabilities_[confident].argmax(axis=1)
            self.added_per_round_.append(int(confident.sum()))
        return self


def _full_probabilities(model, X: np.ndarray, n_classes: int) -> np.ndarray:
    """Return probabilities for every class, also ones absent from the training labels."""
    partial = model.predict_proba(X)
    full = np.zeros((len(X), n_classes), dtype=np.float64)
    full[:, np.asarray(model.classes_, dtype=int)] = partial
    return full


def run(project: Project, params: dict, state: TaskState, device: str) -> MethodResult:
    data = load_dataset(project, include_accepted=params["include_accepted"])
    size = (params["image_size"],) * 2 if params["image_size"] else common_size(data.sizes)
    features, unreadable = pixel_features(data.paths, size, state, progress_span=(0.0, 0.4))
    labels = data.labels.copy()
    usable = np.ones(len(labels), dtype=bool)
    usable[unreadable] = False
    features = StandardScaler().fit_transform(features[usable])
    model = SelfTraining(threshold=params["threshold"], rounds=params["rounds"],
                         head=params["head"], epochs=params["epochs"], seed=params["seed"],
                         device=device, state=state)
    model.fit(features, labels[usable])
    item_ids = data.item_ids[usable]
    candidates = np.flatnonzero(labels[usable] < 0)
    proposals = []
    for i in candidates:
        probs = model.probabilities_[i]
        best = int(probs.argmax())
        if probs[best] < params["threshold"]:
            continue
        top = np.argsort(probs)[::-1][:3]
        evidence = {
            "head": params["head"],
            "features": f"pixels {size[0]}x{size[1]}",
            "top": [{"class": data.class_names[k], "p": round(float(probs[k]), 4)} for k in top],
        }
        proposals.append(ProposalRow(int(item_ids[i]), data.class_ids[best],
                                     float(probs[best]), evidence))
    metrics = {
        "labeled": int((labels >= 0).sum()),
        "unlabeled": int(len(candidates)),
        "unreadable": len(unreadable),
        "proposed": len(proposals),
        "added_per_round": model.added_per_round_,
        "mean_score": float(np.mean([p.score for p in proposals])) if proposals else None,
    }
    return MethodResult(kind=KIND_PSEUDO, proposals=proposals, metrics=metrics)
