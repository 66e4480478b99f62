"""Active learning: rank unlabeled items by uncertainty as a "label next" queue."""

from __future__ import annotations

import numpy as np
from sklearn.preprocessing import StandardScaler

from trainers.methods.common import prepare, require_labels
from trainers.methods.evaluation import full_probabilities
from trainers.methods.heads import make_head
from trainers.results import MethodResult
from trainers.state import TaskState
from workbench.store.engine import Project

STRATEGIES = ("margin", "entropy")


def uncertainty(probabilities: np.ndarray, strategy: str) -> np.ndarray:
    """Return a score per row where higher means less certain."""
    if strategy == "margin":
        top = np.sort(probabilities, axis=1)[:, -2:]
        return 1.0 - (top[:, 1] - top[:, 0])
    if strategy == "entropy":
        p = np.clip(probabilities, 1e-12, 1.0)
        return -(p * np.log(p)).sum(axis=1) / np.log(probabilities.shape[1])
    raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}.")


def diverse_top(X: np.ndarray, scores: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """Return ``count`` uncertain rows spread over the space.

    The 5 x ``count`` most uncertain rows are clustered with k-means into
    ``count`` clusters, and each cluster gives its most uncertain row.
    """
    from sklearn.cluster import KMeans

    pool = np.argsort(scores)[::-1][: 5 * count]
    if len(pool) <= count:
        return pool
    clusters = KMeans(n_clusters=count, n_init=3, random_state=seed).fit_predict(X[pool])
    chosen = [pool[clusters == c][np.argmax(scores[pool[clusters == c]])]
              for c in range(count) if (clusters == c).any()]
    return np.asarray(sorted(chosen, key=lambda i: -scores[i]), dtype=int)


def run(project: Project, params: dict, state: TaskState, device: str) -> MethodResult:
    prepared = prepare(project, params, state, device)
    require_labels(prepared, "Active learning", state=state)
    X = StandardScaler().fit_transform(prepared.X)
    labeled = prepared.labels >= 0
    n_classes = len(prepared.data.class_ids)
    state.progress(0.5, "fitting the classifier")
    head = make_head(params["head"], n_classes=n_classes, seed=params["seed"], device=device,
                     state=state)
    head.fit(X[labeled], prepared.labels[labeled], sample_weight=prepared.weights[labeled])
    unlabeled = prepared.unlabeled
    probabilities = full_probabilities(head, X[unlabeled], n_classes)
    scores = uncertainty(probabilities, params["strategy"])
    count = min(params["count"], len(unlabeled))
    if params["diversity"]:
        order = diverse_top(X[unlabeled], scores, count, params["seed"])
    else:
        order = np.argsort(scores)[::-1][:count]
    queue = [{"item_id": int(prepared.item_ids[unlabeled[i]]),
              "score": round(float(scores[i]), 4),
              "predicted": prepared.class_name(int(probabilities[i].argmax()))}
             for i in order]
    metrics = {"space": prepared.features.space.key, "strategy": params["strategy"],
               "diversity": params["diversity"], "queue": queue,
               "mean_uncertainty": round(float(scores.mean()), 4)}
    return MethodResult(None, [], metrics, [prepared.features.store])
