"""Raw pixel features: gray values resized to one size and flattened."""

from __future__ import annotations

from collections import Counter

import numpy as np

from trainers.state import TaskState
from workbench.ingest.images import ImageError, load_gray_array


def common_size(sizes: list[tuple[int, int]]) -> tuple[int, int]:
    return Counter(sizes).most_common(1)[0][0] if sizes else (28, 28)


def pixel_features(
    paths: list[str], size: tuple[int, int], state: TaskState, progress_span=(0.0, 1.0)
) -> tuple[np.ndarray, list[int]]:
    """Return an (n, width*height) float32 matrix and the indices of unreadable files.

    Unreadable files get a row of zeros; callers leave them out of training
    and propose nothing for them.
    """
    start, end = progress_span
    features = np.zeros((len(paths), size[0] * size[1]), dtype=np.float32)
    unreadable = []
    for i, path in enumerate(paths):
        if i % 64 == 0:
            state.progress(start + (end - start) * i / max(len(paths), 1), "reading images")
        try:
            features[i] = load_gray_array(path, size).ravel()
        except ImageError as exc:
            state.log(f"Skipping unreadable image {path}: {exc}", level="warning")
            unreadable.append(i)
    return features, unreadable


def fit_pca(features: np.ndarray, *, n_components: int = 50, seed: int = 0) -> dict:
    """Fit PCA on pixel rows; return its mean and components as plain arrays."""
    from sklearn.decomposition import PCA

    n_components = max(1, min(n_components, features.shape[0] - 1, features.shape[1]))
    pca = PCA(n_components=n_components, random_state=seed).fit(features)
    return {"mean": pca.mean_.astype(np.float32),
            "components": pca.components_.astype(np.float32)}


def apply_pca(model: dict, features: np.ndarray) -> np.ndarray:
    return ((features - model["mean"]) @ model["components"].T).astype(np.float32)
