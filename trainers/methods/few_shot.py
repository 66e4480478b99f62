"""Few-shot weak labels: class prototypes and a linear probe from a few labels."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from trainers.methods import evaluation
from trainers.methods.common import per_class_counts, prepare, require_labels, top_classes
from trainers.results import MethodResult, ProposalRow
from trainers.state import TaskState
from workbench.store.engine import Project
from workbench.store.schema import KIND_WEAK

FEW_SHOT_METHODS = ("prototypes", "linear-probe", "both")


def _unit(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms > 0, norms, 1.0)


class FewShot:
    """Nearest class prototype and a linear probe on unit-length vectors.

    Parameters
    ----------
    method : {"prototypes", "linear-probe", "both"}, default "both"
        "prototypes" scores classes by the cosine similarity to the mean of
        their labeled vectors; "linear-probe" is logistic regression;
        "both" averages the two probabilities.
    temperature : float, default 0.1
        Softmax temperature of the prototype similarities; lower is sharper.
    C : float, default 10.0
        Inverse regularization strength of the linear probe. On unit-length
        vectors a weakly regularized probe is needed for probabilities near
        1 (digits, 5 labels per class: at C=1 no prediction reaches 0.9).
    seed : int, default 0

    Attributes
    ----------
    classes_ : ndarray of int
        Classes present in the labels, the columns of :meth:`predict_proba`.
    prototypes_ : ndarray of shape (n_classes, dim)
        Unit mean vector of each class.
    """

    def __init__(self, *, method="both", temperature=0.1, C=10.0, seed=0):
        self.method = method
        self.temperature = temperature
        self.C = C
        self.seed = seed

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight=None) -> "FewShot":
        if self.method not in FEW_SHOT_METHODS:
            raise ValueError(f"method must be one of {FEW_SHOT_METHODS}, got {self.method!r}.")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}.")
        weights = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight)
        unit = _unit(X)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError("Few-shot needs labeled samples in at least two classes.")
        self.prototypes_ = _unit(np.stack([
            np.average(unit[y == k], axis=0, weights=weights[y == k]) for k in self.classes_]))
        self.probe_ = LogisticRegression(C=self.C, max_iter=2000, random_state=self.seed)
        self.probe_.fit(unit, y, sample_weight=weights)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        unit = _unit(X)
        prototypes = evaluation.softmax(unit @ self.prototypes_.T / self.temperature)
        if self.method == "prototypes":
            return prototypes
        probe = self.probe_.predict_proba(unit)
        return probe if self.method == "linear-probe" else (prototypes + probe) / 2.0


def run(project: Project, params: dict, state: TaskState, device: str) -> MethodResult:
    prepared = prepare(project, params, state, device)
    require_labels(prepared, "Few-shot", state=state)
    labeled = prepared.labels >= 0
    n_classes = len(prepared.data.class_ids)

    def make_model():
        return FewShot(method=params["method"], temperature=params["temperature"],
                       seed=params["seed"])

    X, y = prepared.X, prepared.labels
    metrics: dict = {"space": prepared.features.space.key, "method": params["method"]}
    trusted = np.flatnonzero(labeled & prepared.trusted)
    folds = evaluation.fold_count(y[trusted], params["folds"]) if len(trusted) else 0
    state.progress(0.5, "K-fold accuracy on the given labels")
    if folds >= 2:
        held_out = evaluation.out_of_fold(make_model, X[trusted], y[trusted], n_classes,
                                          folds=folds, seed=params["seed"], check=state.check)
        metrics["kfold_accuracy"] = round(evaluation.accuracy(held_out, y[trusted]), 4)
    model = make_model().fit(X[labeled], y[labeled], sample_weight=prepared.weights[labeled])
    probabilities = evaluation.full_probabilities(model, X, n_classes)
    proposals, classes = [], []
    for i in prepared.unlabeled:
        best = int(probabilities[i].argmax())
        if probabilities[i, best] < params["threshold"]:
            continue
        evidence = {"method": params["method"], "space": prepared.features.space.key,
                    "top": top_classes(prepared, probabilities[i])}
        proposals.append(ProposalRow(int(prepared.item_ids[i]), prepared.class_id(best),
                                     float(probabilities[i, best]), evidence))
        classes.append(best)
    metrics.update({"labeled": int(labeled.sum()), "unlabeled": len(prepared.unlabeled),
                    "proposed": len(proposals),
                    "proposals_per_class": per_class_counts(prepared, classes),
                    "vectors_computed": prepared.features.computed})
    return MethodResult(KIND_WEAK, proposals, metrics, [prepared.features.store])
