"""Project an embedding space to 2-D (PCA, UMAP or t-SNE) for the scatter view."""

from __future__ import annotations

import numpy as np
from sqlalchemy import delete

from trainers.data import load_dataset
from trainers.methods.common import space_of
from trainers.features.spaces import load_features
from trainers.results import MethodResult
from trainers.state import TaskState
from workbench.store.engine import Project
from workbench.store.schema import Projection, utcnow

METHODS = ("pca", "umap", "tsne")


def project_2d(X: np.ndarray, method: str, *, seed: int = 0, neighbors: int = 15,
               perplexity: float = 30.0) -> np.ndarray:
    """Return (n, 2) coordinates of ``X``; raises ValueError for too few rows."""
    if len(X) < 3:
        raise ValueError(f"A projection needs at least 3 items, got {len(X)}.")
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(X)
    if method == "umap":
        import umap

        model = umap.UMAP(n_components=2, n_neighbors=min(neighbors, len(X) - 1),
                          random_state=seed, n_jobs=1)
        return model.fit_transform(X)
    if method == "tsne":
        from sklearn.manifold import TSNE

        return TSNE(n_components=2, perplexity=min(perplexity, (len(X) - 1) / 3.0),
                    random_state=seed, init="pca").fit_transform(X)
    raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}.")


def run(project: Project, params: dict, state: TaskState, device: str) -> MethodResult:
    data = load_dataset(project)
    features = load_features(project, data, space_of(params), state, device)
    rows = np.flatnonzero(features.usable)
    state.progress(0.5, f"{params['method']} of {len(rows)} items")
    points = project_2d(features.vectors[rows], params["method"], seed=params["seed"],
                        neighbors=params["neighbors"], perplexity=params["perplexity"])
    key, method = features.space.key, params["method"]
    item_ids = data.item_ids[rows]

    def store(session) -> None:
        session.execute(delete(Projection).where(Projection.space == key,
                                                 Projection.method == method))
        now = utcnow()
        session.execute(Projection.__table__.insert(), [
            {"item_id": int(i), "space": key, "method": method, "x": float(x),
             "y": float(y), "created_at": now} for i, (x, y) in zip(item_ids, points)])

    metrics = {"space": key, "method": method, "points": len(rows)}
    return MethodResult(None, [], metrics, [features.store, store])
