"""Co-training: two views, each labeling its most confident items for the other."""

from __future__ import annotations

import numpy as np
from sklearn.preprocessing import StandardScaler

from trainers.data import load_dataset
from trainers.methods.common import (
    per_class_counts,
    prepare,
    require_labels,
    space_of,
)
from trainers.methods.evaluation import full_probabilities
from trainers.methods.heads import make_head
from trainers.results import MethodResult, ProposalRow
from trainers.state import TaskState
from workbench.store.engine import Project
from workbench.store.schema import KIND_PSEUDO


class CoTraining:
    """Blum and Mitchell style co-training over two fixed feature views.

    Parameters
    ----------
    rounds : int, default 5
    per_class : int, default 10
        Items per class that each view adds to the other view's training set
        in each round, its most confident ones.
    heads : tuple of str, default ("logistic", "logistic")
        Head of each view, "logistic" or "mlp".
    epochs : int, default 200
        MLP epochs per fit.
    seed : int, default 0
    device : str, default "cpu"

    Attributes
    ----------
    probabilities_ : list of two ndarrays of shape (n_samples, n_classes)
        Each view's last predicted probabilities.
    added_per_round_ : list of [int, int]
        Items each view handed to the other in each round.
    """

    def __init__(self, *, rounds=5, per_class=10, heads=("logistic", "logistic"), epochs=200,
                 seed=0, device="cpu", state: TaskState | None = None):
        self.rounds = rounds
        self.per_class = per_class
        self.heads = heads
        self.epochs = epochs
        self.seed = seed
        self.device = device
        self.state = state

    def fit(self, first: np.ndarray, second: np.ndarray, y: np.ndarray,
            sample_weight: np.ndarray | None = None) -> "CoTraining":
        if len(first) != len(second) or len(first) != len(y):
            raise ValueError("Both views need one row per sample.")
        n_classes = int(y.max()) + 1
        weights = np.ones(len(y)) if sample_weight is None else sample_weight
        views = (first, second)
        # given[v] contains the labels view v trains on: the human ones plus those
        # the other view handed over.
        given = [y.copy(), y.copy()]
        self.added_per_round_ = []
        for round_index in range(self.rounds + 1):
            if self.state:
                self.state.progress(0.45 + 0.45 * round_index / (self.rounds + 1),
                                    f"round {round_index + 1} of {self.rounds + 1}")
            self.probabilities_ = [self._fit_view(v, views[v], given[v], weights, n_classes)
                                   for v in (0, 1)]
            if round_index == self.rounds:
                break
            added = []
            for v in (0, 1):
                other = 1 - v
                chosen = self._most_confident(self.probabilities_[v], given[other])
                given[other][chosen] = self.probabilities_[v][chosen].argmax(axis=1)
                added.append(int(len(chosen)))
            self.added_per_round_.append(added)
        return self

    def _fit_view(self, v, X, labels, weights, n_classes):
        train = labels >= 0
        head = make_head(self.heads[v], n_classes=n_classes, epochs=self.epochs,
                         seed=self.seed + v, device=self.device, state=self.state)
        head.fit(X[train], labels[train], sample_weight=weights[train])
        return full_probabilities(head, X, n_classes)

    def _most_confident(self, probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
        open_rows = np.flatnonzero(labels < 0)
        predicted = probabilities[open_rows].argmax(axis=1)
        confidence = probabilities[open_rows].max(axis=1)
        chosen = []
        for k in np.unique(predicted):
            rows = open_rows[predicted == k]
            order = np.argsort(confidence[predicted == k])[::-1]
            chosen.extend(rows[order[: self.per_class]])
        return np.asarray(chosen, dtype=int)


def run(project: Project, params: dict, state: TaskState, device: str) -> MethodResult:
    data = load_dataset(project, include_accepted=params["include_accepted"])
    first = prepare(project, params, state, device, span=(0.0, 0.2), data=data)
    second_space = space_of(params, "second_")
    second = prepare(project, params, state, device, space=second_space, span=(0.2, 0.4),
                     data=data)
    rows = np.intersect1d(first.rows, second.rows)
    first_X = StandardScaler().fit_transform(first.features.vectors[rows])
    second_X = StandardScaler().fit_transform(second.features.vectors[rows])
    first.rows, first.X, first.labels = rows, first_X, data.labels[rows].copy()
    first.weights = np.where(data.trusted[rows], 1.0, params["accepted_weight"])
    require_labels(first, "Co-training", state=state)
    heads = (params["head"], params["second_head"])
    model = CoTraining(rounds=params["rounds"], per_class=params["per_class"], heads=heads,
                       epochs=params["epochs"], seed=params["seed"], device=device,
                       state=state).fit(first_X, second_X, first.labels, first.weights)
    keys = (first.features.space.key, second.features.space.key)
    mean = (model.probabilities_[0] + model.probabilities_[1]) / 2.0
    proposals, classes = [], []
    for i in first.unlabeled:
        best = int(mean[i].argmax())
        if mean[i, best] < params["threshold"]:
            continue
        views = [{"view": v + 1, "space": keys[v], "head": heads[v],
                  "class": first.class_name(int(model.probabilities_[v][i].argmax())),
                  "p": round(float(model.probabilities_[v][i].max()), 4)} for v in (0, 1)]
        proposals.append(ProposalRow(int(data.item_ids[rows[i]]), first.class_id(best),
                                     float(mean[i, best]), {"views": views}))
        classes.append(best)
    agree = (model.probabilities_[0].argmax(axis=1) == model.probabilities_[1].argmax(axis=1))
    metrics = {
        "spaces": list(keys),
        "labeled": int((first.labels >= 0).sum()),
        "unlabeled": len(first.unlabeled),
        "proposed": len(proposals),
        "added_per_round": model.added_per_round_,
        "view_agreement": round(float(agree[first.unlabeled].mean()), 4),
        "proposals_per_class": per_class_counts(first, classes),
    }
    writes = [first.features.store, second.features.store]
    return MethodResult(KIND_PSEUDO, proposals, metrics, writes)
