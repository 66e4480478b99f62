"""Project an embedding space to 2-D (PCA, UMAP or t-SNE) for the scatter view.

A UMAP or t-SNE fit takes minutes on tens of thousands of points and offers
no cancel check, so the fit runs in a worker thread while the job's main
thread reports progress and acts on a cancel (``run_in_worker``).
"""

from __future__ import annotations

import contextlib
import io
import re

import numpy as np
from sqlalchemy import delete

from trainers.data import load_dataset
from trainers.methods.common import space_of
from trainers.features.spaces import load_features
from trainers.results import MethodResult
from trainers.state import TaskState, run_in_worker
from workbench.store.engine import Project
from workbench.store.schema import Projection, utcnow

METHODS = ("pca", "umap", "tsne")

# Share of the job's progress bar before and during the fit.
FIT_START, FIT_END = 0.5, 0.95

# t-SNE iterations when the job leaves max_iter at 0. On 60,000
# Fashion-MNIST images as 50 PCA components (scikit-learn 1.9.1, the 2-core
# development machine under load), 500 iterations took 594 s and 1,000 took
# 868 to 1,250 s. 5-NN accuracy of the true classes in the plane was 0.828
# after 500 and 0.840 after 1,000.
TSNE_ITERATIONS, TSNE_ITERATIONS_LARGE, TSNE_LARGE = 1000, 500, 10_000
# scikit-learn 1.9 runs 250 iterations of early exaggeration before the rest.
TSNE_MIN_ITERATIONS = 250


class FitProgress:
    """Stage and step count of a running fit, written by the fitting thread."""

    def __init__(self, stage: str = "starting"):
        self.stage = stage
        self.done = 0
        self.total = 0

    def update(self, stage: str, done: int = 0, total: int = 0) -> None:
        self.stage, self.done, self.total = stage, done, total

    def fraction(self) -> float:
        return min(self.done / self.total, 1.0) if self.total else 0.0

    def describe(self) -> str:
        return f"{self.stage} {self.done} of {self.total}" if self.total else self.stage


class _ProgressStream(io.TextIOBase):
    """A text stream that a library writes its progress to, read into a FitProgress."""

    def __init__(self, progress: FitProgress):
        self._progress = progress

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._read(text)
        return len(text)

    def _read(self, text: str) -> None:
        raise NotImplementedError


class _EpochStream(_ProgressStream):
    """Output stream for umap-learn's tqdm bar, formatted as ``{n}/{total}`` epochs."""

    def _read(self, text: str) -> None:
        match = re.search(r"(\d+)/(\d+)", text)
        if match:
            self._progress.update("epoch", int(match[1]), int(match[2]))


class _TsneOutput(_ProgressStream):
    """Standard output during a verbose scikit-learn t-SNE fit, read for its stage.

    The patterns match the messages of scikit-learn 1.9 (``verbose=2``);
    lines that match none leave the progress as it was.
    """

    def __init__(self, progress: FitProgress, max_iter: int):
        super().__init__(progress)
        self._max_iter = max_iter

    def _read(self, text: str) -> None:
        iteration = re.search(r"\[t-SNE\] Iteration (\d+):", text)
        if iteration:
            self._progress.update("iteration", int(iteration[1]), self._max_iter)
        elif "conditional probabilities" in text:
            self._progress.update("conditional probabilities")


def project_2d(X: np.ndarray, method: str, *, seed: int = 0, neighbors: int = 15,
               perplexity: float = 30.0, max_iter: int = 0,
               progress: FitProgress | None = None) -> np.ndarray:
    """Return (n, 2) coordinates of ``X``; raises ValueError for too few rows.

    ``max_iter`` is t-SNE's number of iterations; 0 picks it from the
    number of rows (``tsne_iterations``). ``progress``, when given, follows
    UMAP's epochs and t-SNE's iterations.
    """
    if len(X) < 3:
        raise ValueError(f"A projection needs at least 3 items, got {len(X)}.")
    progress = progress or FitProgress()
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(X)
    if method == "umap":
        return _umap(X, seed, neighbors, progress)
    if method == "tsne":
        return _tsne(X, seed, perplexity, max_iter or tsne_iterations(len(X)), progress)
    raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}.")


def _umap(X: np.ndarray, seed: int, neighbors: int, progress: FitProgress) -> np.ndarray:
    import umap

    progress.update("nearest neighbours and graph")
    bar = {"file": _EpochStream(progress), "bar_format": "{n}/{total}", "disable": False}
    model = umap.UMAP(n_components=2, n_neighbors=min(neighbors, len(X) - 1),
                      random_state=seed, n_jobs=1, tqdm_kwds=bar)
    return model.fit_transform(X)


def tsne_iterations(rows: int) -> int:
    """Return the t-SNE iterations for ``rows`` points when none are requested."""
    return TSNE_ITERATIONS if rows <= TSNE_LARGE else TSNE_ITERATIONS_LARGE


def _tsne(X: np.ndarray, seed: int, perplexity: float, max_iter: int,
          progress: FitProgress) -> np.ndarray:
    from sklearn.manifold import TSNE

    if max_iter < TSNE_MIN_ITERATIONS:
        raise ValueError(f"t-SNE needs max_iter of at least {TSNE_MIN_ITERATIONS}, got "
                         f"{max_iter}; pass 0 to pick it from the number of items.")
    progress.update("nearest neighbours")
    model = TSNE(n_components=2, perplexity=min(perplexity, (len(X) - 1) / 3.0),
                 max_iter=max_iter, random_state=seed, init="pca", verbose=2)
    # scikit-learn reports iterations only by printing them. The redirect
    # covers the whole process, but TaskState writes to the stream it kept
    # at start, so the job's messages still reach the real standard output.
    with contextlib.redirect_stdout(_TsneOutput(progress, model.max_iter)):
        return model.fit_transform(X)


def run(project: Project, params: dict, state: TaskState, device: str) -> MethodResult:
    data = load_dataset(project)
    features = load_features(project, data, space_of(params), state, device)
    rows = np.flatnonzero(features.usable)
    key, method = features.space.key, params["method"]
    progress = FitProgress()

    def fit() -> np.ndarray:
        return project_2d(features.vectors[rows], method, seed=params["seed"],
                          neighbors=params["neighbors"], perplexity=params["perplexity"],
                          max_iter=params["max_iter"], progress=progress)

    def report(elapsed_s: float) -> tuple[float, str]:
        value = FIT_START + (FIT_END - FIT_START) * progress.fraction()
        return value, f"{method} of {len(rows)} items: {progress.describe()}, {elapsed_s:.0f} s"

    points = run_in_worker(state, fit, report)
    item_ids = data.item_ids[rows]

    def store(session) -> None:
        session.execute(delete(Projection).where(Projection.space == key,
                                                 Projection.method == method))
        now = utcnow()
        session.execute(Projection.__table__.insert(), [
            {"item_id": int(i), "space": key, "method": method, "x": float(x),
             "y": float(y), "created_at": now} for i, (x, y) in zip(item_ids, points)])

    metrics = {"space": key, "method": method, "points": len(rows)}
    if method == "tsne":
        metrics["max_iter"] = params["max_iter"] or tsne_iterations(len(rows))
    return MethodResult(None, [], metrics, [features.store, store])
