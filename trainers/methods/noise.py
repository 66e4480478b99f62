"""Label-noise detection: confident learning on out-of-fold probabilities plus kNN votes."""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler

from trainers.methods.common import per_class_counts, prepare, require_labels
from trainers.methods.evaluation import accuracy, fold_count, out_of_fold
from trainers.methods.heads import make_head
from trainers.results import MethodResult, ProposalRow
from trainers.state import TaskState
from workbench.store.engine import Project
from workbench.store.schema import KIND_NOISE


def neighbour_votes(X: np.ndarray, y: np.ndarray, n_classes: int, k: int) -> np.ndarray:
    """Return each sample's class shares among its ``k`` nearest labeled neighbours (cosine)."""
    k = min(k, len(X) - 1)
    index = NearestNeighbors(n_neighbors=k + 1, metric="cosine").fit(X)
    _, neighbours = index.kneighbors(X)
    votes = np.zeros((len(X), n_classes))
    for column in neighbours[:, 1:].T:
        votes[np.arange(len(X)), y[column]] += 1.0
    return votes / k


class NoiseFinder:
    """Flag labeled samples whose given label the data disagrees with.

    Out-of-fold probabilities from K-fold training go into cleanlab's
    ``find_label_issues``; a sample is flagged when cleanlab flags it and
    its nearest labeled neighbours mostly carry another class, or when the
    neighbours disagree at least ``neighbour_threshold`` and the out-of-fold
    probability of the given class is below one half.

    Parameters
    ----------
    folds : int, default 5
        K in K-fold; every class needs at least this many labels.
    neighbours : int, default 10
    neighbour_threshold : float, default 0.8
        Share of neighbours with another class that flags a sample on its own.
    seed : int, default 0

    Attributes
    ----------
    probabilities_ : ndarray of shape (n_samples, n_classes)
        Out-of-fold probabilities.
    votes_ : ndarray of shape (n_samples, n_classes)
        Neighbour class shares.
    cleanlab_issues_ : ndarray of bool
    flags_ : ndarray of bool
    suggested_ : ndarray of int
        Most likely class other than the given one.
    given_probability_, disagreement_ : ndarray
        Out-of-fold probability of the given class, and the share of
        neighbours with another class.
    scores_ : ndarray
        Evidence that the given label is wrong, in [0, 1]: the mean of one
        minus ``given_probability_`` and ``disagreement_``.
    kfold_accuracy_ : float
    """

    def __init__(self, *, folds=5, neighbours=10, neighbour_threshold=0.8, seed=0):
        self.folds = folds
        self.neighbours = neighbours
        self.neighbour_threshold = neighbour_threshold
        self.seed = seed

    def fit(self, X: np.ndarray, y: np.ndarray, check=lambda: None) -> "NoiseFinder":
        from cleanlab.filter import find_label_issues

        present, dense = np.unique(y, return_inverse=True)
        if len(present) < 2:
            raise ValueError(f"Noise detection needs two or more classes, got {len(present)}.")
        folds = fold_count(dense, self.folds)
        if folds < 2:
            raise ValueError("Noise detection needs two or more labels in every class.")
        scaled = StandardScaler().fit_transform(X)
        n = len(present)
        self.probabilities_ = out_of_fold(
            lambda: make_head("logistic", n_classes=n, seed=self.seed), scaled, dense, n,
            folds=folds, seed=self.seed, check=check)
        check()
        # More neighbours than the smallest class has other members would
        # make every member of that class look mislabeled.
        k = max(1, min(self.neighbours, int(np.bincount(dense).min()) - 1))
        self.votes_ = neighbour_votes(X, dense, n, k)
        self.cleanlab_issues_ = find_label_issues(dense, self.probabilities_, n_jobs=1)
        disagreement = 1.0 - self.votes_[np.arange(len(dense)), dense]
        given = self.probabilities_[np.arange(len(dense)), dense]
        self.flags_ = (self.cleanlab_issues_ & (disagreement >= 0.5)) | (
            (disagreement >= self.neighbour_threshold) & (given < 0.5))
        combined = (self.probabilities_ + self.votes_) / 2.0
        others = combined.copy()
        others[np.arange(len(dense)), dense] = -1.0
        self.suggested_ = present[others.argmax(axis=1)]
        self.given_probability_ = given
        self.disagreement_ = disagreement
        self.scores_ = (1.0 - self.given_probability_ + disagreement) / 2.0
        self.kfold_accuracy_ = accuracy(self.probabilities_, dense)
        return self


def run(project: Project, params: dict, state: TaskState, device: str) -> MethodResult:
    prepared = prepare(project, params, state, device)
    require_labels(prepared, "Noise detection", min_per_class=params["folds"],
                   need_unlabeled=False, state=state)
    labeled = np.flatnonzero(prepared.labels >= 0)
    state.progress(0.5, f"{params['folds']}-fold training")
    finder = NoiseFinder(folds=params["folds"], neighbours=params["neighbors"],
                         neighbour_threshold=params["neighbor_threshold"],
                         seed=params["seed"]).fit(prepared.X[labeled], prepared.labels[labeled],
                                                  check=state.check)
    proposals, classes = [], []
    for position in np.flatnonzero(finder.flags_):
        i = labeled[position]
        given, suggested = int(prepared.labels[i]), int(finder.suggested_[position])
        score = float(finder.scores_[position])
        evidence = {
            "given": prepared.class_name(given), "suggested": prepared.class_name(suggested),
            "score": round(score, 4),
            "p_given": round(float(finder.given_probability_[position]), 4),
            "neighbor_disagreement": round(float(finder.disagreement_[position]), 4),
            "cleanlab": bool(finder.cleanlab_issues_[position]),
            "space": prepared.features.space.key,
        }
        proposals.append(ProposalRow(int(prepared.item_ids[i]), prepared.class_id(suggested),
                                     score, evidence))
        classes.append(given)
    metrics = {
        "space": prepared.features.space.key,
        "checked": len(labeled),
        "flagged": len(proposals),
        "cleanlab_issues": int(finder.cleanlab_issues_.sum()),
        "kfold_accuracy": round(finder.kfold_accuracy_, 4),
        "flags_per_given_class": per_class_counts(prepared, classes),
        "vectors_computed": prepared.features.computed,
    }
    return MethodResult(KIND_NOISE, proposals, metrics, [prepared.features.store])

