"""Out-of-fold predictions, temperature scaling and calibration error."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.model_selection import StratifiedKFold


def fold_count(y: np.ndarray, requested: int) -> int:
    """Return the folds a stratified split of ``y`` allows, at most ``requested``."""
    counts = np.bincount(y)
    return int(min(requested, counts[counts > 0].min()))


def full_probabilities(model, X: np.ndarray, n_classes: int) -> np.ndarray:
    """Return probabilities for every class, also ones absent from the training labels."""
    partial = model.predict_proba(X)
    full = np.zeros((len(X), n_classes), dtype=np.float64)
    full[:, np.asarray(model.classes_, dtype=int)] = partial
    return full


def out_of_fold(make_model: Callable, X: np.ndarray, y: np.ndarray, n_classes: int, *,
                folds: int, seed: int = 0, extra: tuple | None = None,
                weights: np.ndarray | None = None, check: Callable = lambda: None
                ) -> np.ndarray:
    """Return each labeled sample's probabilities from a model that did not see it.

    ``extra`` is an optional ``(X, y, weights)`` added to every training fold
    (pseudo labels, for example) but never evaluated.
    """
    probabilities = np.zeros((len(y), n_classes))
    weights = np.ones(len(y)) if weights is None else weights
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(X, y):
        check()
        train_X, train_y, train_w = X[train], y[train], weights[train]
        if extra is not None and len(extra[1]):
            train_X = np.vstack([train_X, extra[0]])
            train_y = np.concatenate([train_y, extra[1]])
            train_w = np.concatenate([train_w, extra[2]])
        model = make_model().fit(train_X, train_y, sample_weight=train_w)
        probabilities[test] = full_probabilities(model, X[test], n_classes)
    return probabilities


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def log_probabilities(probabilities: np.ndarray) -> np.ndarray:
    return np.log(np.clip(probabilities, 1e-12, 1.0))


def fit_temperature(probabilities: np.ndarray, y: np.ndarray) -> float:
    """Return the temperature that minimizes held-out negative log-likelihood.

    A bounded 1-D search over log T on [-3, 3]; temperatures above 1 soften
    over-confident probabilities.
    """
    from scipy.optimize import minimize_scalar

    logits = log_probabilities(probabilities)

    def nll(log_t: float) -> float:
        p = softmax(logits / np.exp(log_t))
        return -float(np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1.0))))

    found = minimize_scalar(nll, bounds=(-3.0, 3.0), method="bounded")
    return float(np.exp(found.x))


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    return softmax(log_probabilities(probabilities) / temperature)


def expected_calibration_error(probabilities: np.ndarray, y: np.ndarray,
                               bins: int = 10) -> float:
    """Return the bin-weighted gap between confidence and accuracy (ECE)."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, bins + 1)
    error = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        in_bin = (confidence > low) & (confidence <= high)
        if in_bin.any():
            error += in_bin.mean() * abs(confidence[in_bin].mean() - correct[in_bin].mean())
    return float(error)


def accuracy(probabilities: np.ndarray, y: np.ndarray) -> float:
    return float((probabilities.argmax(axis=1) == y).mean())
