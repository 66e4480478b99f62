"""Aggregate the votes of weak sources: majority vote and a Dawid-Skene label model.

Votes are an (n_items, n_sources) integer matrix of class indices, with -1
where a source abstains. The label model treats abstaining as one more
outcome of a source, so a rule that only ever votes one class still carries
information: how much more often it fires on that class than on the others.
"""

from __future__ import annotations

import numpy as np

ABSTAIN = -1


def _check_votes(votes: np.ndarray, n_classes: int) -> np.ndarray:
    votes = np.asarray(votes)
    if votes.ndim != 2:
        raise ValueError(f"votes must be a 2-D matrix (items x sources), got shape "
                         f"{votes.shape}.")
    if n_classes < 2:
        raise ValueError(f"n_classes must be 2 or more, got {n_classes}.")
    if votes.size and (votes.min() < ABSTAIN or votes.max() >= n_classes):
        raise ValueError(f"votes must be class indices below {n_classes} or -1 "
                         f"(abstain), got values from {votes.min()} to {votes.max()}.")
    return votes.astype(np.int64)


def vote_counts(votes: np.ndarray, n_classes: int) -> np.ndarray:
    """Return an (n_items, n_classes) matrix of how many sources voted each class."""
    votes = _check_votes(votes, n_classes)
    counts = np.zeros((len(votes), n_classes))
    for column in votes.T:
        voted = column >= 0
        counts[np.flatnonzero(voted), column[voted]] += 1.0
    return counts


def majority_vote(votes: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Return each item's most voted class and that class's share of the votes.

    Ties go to the lowest class index. Items no source voted on get class -1
    and share 0.
    """
    counts = vote_counts(votes, n_classes)
    total = counts.sum(axis=1)
    winner = np.where(total > 0, counts.argmax(axis=1), -1)
    share = np.where(total > 0, counts.max(axis=1) / np.maximum(total, 1.0), 0.0)
    return winner, share


class DawidSkene:
    """Dawid-Skene label model fitted by expectation maximization.

    Each source has a confusion matrix: the probability of each outcome (a
    class, or abstaining) given the item's true class. EM starts from the
    majority vote and alternates between the posterior of every item's true
    class and the priors and confusion matrices that posterior implies.

    Parameters
    ----------
    max_iter : int, default 100
    tol : float, default 1e-6
        Stop when no posterior changes by more than this between iterations.
    smoothing : float, default 0.01
        Pseudo-count added to every confusion-matrix cell, so a source never
        makes a class impossible.

    Attributes
    ----------
    posteriors_ : ndarray of shape (n_items, n_classes)
        Probability of each true class; all zero for items no source voted on.
    confusion_ : ndarray of shape (n_sources, n_classes, n_classes + 1)
        Row ``k`` of source ``j`` is the distribution of its outcome given
        true class ``k``; the last column is abstaining.
    priors_ : ndarray of shape (n_classes,)
    accuracies_ : ndarray of shape (n_sources,)
        Estimated share of each source's votes (abstentions left out) that
        are correct; NaN for a source that never votes.
    n_iter_ : int
    """

    def __init__(self, *, max_iter=100, tol=1e-6, smoothing=0.01):
        self.max_iter = max_iter
        self.tol = tol
        self.smoothing = smoothing

    def fit(self, votes: np.ndarray, n_classes: int) -> "DawidSkene":
        """Fit on a vote matrix with -1 for abstentions."""
        votes = _check_votes(votes, n_classes)
        if self.max_iter < 1:
            raise ValueError(f"max_iter must be 1 or more, got {self.max_iter}.")
        if not self.smoothing > 0:
            raise ValueError(f"smoothing must be positive, got {self.smoothing}.")
        # Abstaining is outcome n_classes, so every cell indexes the confusion matrix.
        outcomes = np.where(votes >= 0, votes, n_classes)
        covered = (votes >= 0).any(axis=1)
        counts = vote_counts(votes, n_classes)
        posterior = np.zeros_like(counts)
        posterior[covered] = counts[covered] / counts[covered].sum(axis=1, keepdims=True)
        self.n_iter_ = 0
        for _ in range(self.max_iter):
            self.n_iter_ += 1
            self._maximize(posterior[covered], outcomes[covered], n_classes)
            updated = np.zeros_like(posterior)
            updated[covered] = self._expect(outcomes[covered])
            change = np.abs(updated - posterior).max() if len(posterior) else 0.0
            posterior = updated
            if change <= self.tol:
                break
        self.posteriors_ = posterior
        self.accuracies_ = self._accuracies(votes, posterior)
        return self

    def _maximize(self, posterior, outcomes, n_classes):
        n_sources = outcomes.shape[1]
        self.priors_ = (posterior.sum(axis=0) + self.smoothing) / (
            len(posterior) + n_classes * self.smoothing)
        confusion = np.full((n_sources, n_classes, n_classes + 1), self.smoothing)
        for j in range(n_sources):
            for outcome in range(n_classes + 1):
                confusion[j, :, outcome] += posterior[outcomes[:, j] == outcome].sum(axis=0)
        self.confusion_ = confusion / confusion.sum(axis=2, keepdims=True)

    def _expect(self, outcomes):
        log_posterior = np.tile(np.log(self.priors_), (len(outcomes), 1))
        for j in range(outcomes.shape[1]):
            # confusion_[j][:, outcome].T has one row per item and one column per class.
            log_posterior += np.log(self.confusion_[j][:, outcomes[:, j]].T)
        log_posterior -= log_posterior.max(axis=1, keepdims=True)
        posterior = np.exp(log_posterior)
        return posterior / posterior.sum(axis=1, keepdims=True)

    @staticmethod
    def _accuracies(votes, posterior):
        accuracies = np.full(votes.shape[1], np.nan)
        for j, column in enumerate(votes.T):
            voted = np.flatnonzero(column >= 0)
            if len(voted):
                accuracies[j] = posterior[voted, column[voted]].mean()
        return accuracies

    def predict(self) -> np.ndarray:
        """Return each item's most probable class, -1 for items without votes."""
        covered = self.posteriors_.sum(axis=1) > 0
        return np.where(covered, self.posteriors_.argmax(axis=1), -1)
