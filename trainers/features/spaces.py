"""Embedding spaces by name, and the cached vectors of a data set in one of them.

Names a user passes as ``--space``:

- ``pixels``: gray values at the most common image size (or ``image_size``);
- ``pixels-pca``: the same, reduced by PCA fitted on the project's images;
- ``resnet18``, ``resnet50``, ``vit_b_16``: torchvision backbones with
  ImageNet weights from the torch hub cache, or ``weights`` (a local file);
- ``clip`` or ``clip:MODEL/TAG``: an open_clip image encoder, by default
  ViT-B-32 with the laion2b_s34b_b79k weights, or ``weights`` (a local
  checkpoint);
- ``simclr``, ``rotation``: a small ResNet pretrained self-supervised on the
  project's own images (contrastive views or rotation prediction).

Fitted spaces (PCA, the self-supervised networks) keep their model under
``cache/spaces`` so vectors of new items are computed with the same model;
when that file is missing, every item is recomputed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trainers.data import Dataset
from trainers.features import cache
from trainers.features.pixels import apply_pca, common_size, fit_pca, pixel_features
from trainers.state import TaskState
from workbench.store.engine import Project

TORCHVISION_ARCHS = ("resnet18", "resnet50", "vit_b_16")
SELF_SUPERVISED = ("simclr", "rotation")
SELF_SUPERVISED_VERSION = 2
DEFAULT_CLIP = ("ViT-B-32", "laion2b_s34b_b79k")
SPACE_NAMES = ("pixels", "pixels-pca", *TORCHVISION_ARCHS, "clip", *SELF_SUPERVISED)
_CLIP_NAME = re.compile(r"^clip(?::(?P<model>[^/\s]+)/(?P<tag>[^/\s]+))?$")


@dataclass(frozen=True)
class Space:
    """A parsed embedding space: ``key`` is its name in the ``embeddings`` table."""

    name: str
    key: str
    family: str
    arch: str | None = None
    pretrained: str | None = None
    weights: str | None = None
    image_size: int = 0
    options: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def needs_torch(self) -> bool:
        return self.family not in ("pixels", "pixels-pca")

    @property
    def fitted(self) -> bool:
        return self.family in ("pixels-pca", *SELF_SUPERVISED)


def _file_digest(path: str) -> str:
    file = Path(path).expanduser()
    if not file.is_file():
        raise ValueError(f"Weights file not found: {path}. Pass --weights a local file.")
    digest = hashlib.sha256()
    with open(file, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]


def parse_space(name: str, *, weights: str = "", image_size: int = 0,
                options: dict | None = None) -> Space:
    """Parse a space name with its weights file and input size, or raise ValueError."""
    name = name.strip()
    clip = _CLIP_NAME.match(name)
    if clip:
        family, arch = "clip", clip["model"] or DEFAULT_CLIP[0]
        pretrained = clip["tag"] or DEFAULT_CLIP[1]
        key = f"clip:{arch}/{pretrained}"
    elif name in SPACE_NAMES:
        family = name if name in ("pixels", "pixels-pca", *SELF_SUPERVISED) else "torchvision"
        arch = name if family == "torchvision" else None
        pretrained = "imagenet" if family == "torchvision" else None
        key = name
    else:
        raise ValueError(
            f"Unknown embedding space {name!r}; use one of {', '.join(SPACE_NAMES)} "
            f"or clip:MODEL/TAG."
        )
    if weights and family in ("pixels", "pixels-pca", *SELF_SUPERVISED):
        raise ValueError(f"Space {name!r} takes no weights file; leave --weights empty.")
    if weights:
        key += f"+{_file_digest(weights)}"
        pretrained = None
    if image_size and family in ("pixels", "pixels-pca", *SELF_SUPERVISED):
        key += f"@{image_size}"
    return Space(name, key, family, arch, pretrained, weights or None, image_size,
                 dict(options or {}))


@dataclass
class Features:
    """Vectors of every item of a data set in one space.

    ``usable`` is False for unreadable images (their rows are zero); calling
    ``store`` with a session writes the newly computed vectors.
    """

    space: Space
    vectors: np.ndarray
    usable: np.ndarray
    computed: int
    store: Callable = lambda session: None


def model_path(project: Project, space: Space, suffix: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._@+-]", "_", space.key)
    return project.cache / "spaces" / f"{safe}{suffix}"


def load_features(project: Project, data: Dataset, space: Space, state: TaskState,
                  device: str = "cpu", span=(0.0, 0.4), recompute: bool = False) -> Features:
    """Return cached vectors, computing those of new or changed items.

    Raises ValueError when vectors contain NaN or infinity, naming an item.
    """
    if recompute and space.fitted:
        model_file(project, space).unlink(missing_ok=True)
    vectors, valid = cache.load_cached(project, space.key, data.item_ids, data.sha256)
    if recompute or (space.fitted and not model_file(project, space).exists()):
        valid[:] = False
    expected = _expected_dim(space, data)
    if vectors is not None and expected and vectors.shape[1] != expected:
        valid[:] = False
    missing = np.flatnonzero(~valid)
    usable = valid.copy()
    store = lambda session: None  # noqa: E731
    if len(missing):
        state.log(f"Computing {space.key} vectors for {len(missing)} items")
        computed, unreadable = _compute(project, data, space, missing, state, device, span)
        ok = np.setdiff1d(np.arange(len(missing)), unreadable)
        if vectors is None or vectors.shape[1] != computed.shape[1]:
            vectors = np.zeros((len(data.item_ids), computed.shape[1]), dtype=np.float32)
            usable[:] = False
        vectors[missing[ok]] = computed[ok]
        usable[missing[ok]] = True
        store = _storer(space.key, data, missing[ok], computed[ok])
    _check_finite(space, data, vectors, usable)
    return Features(space, vectors, usable, len(missing), store)


def _storer(key: str, data: Dataset, rows: np.ndarray, vectors: np.ndarray):
    item_ids = data.item_ids[rows]
    digests = [data.sha256[i] for i in rows]
    return lambda session: cache.store_vectors(session, key, item_ids, digests, vectors)


def _check_finite(space: Space, data: Dataset, vectors: np.ndarray, usable: np.ndarray):
    bad = np.flatnonzero(usable & ~np.isfinite(vectors).all(axis=1))
    if len(bad):
        raise ValueError(
            f"{len(bad)} vectors in space {space.key!r} contain NaN or infinity "
            f"(first: {data.paths[bad[0]]}). Run the embed job again with --recompute true."
        )


def _pixel_size(space: Space, data: Dataset) -> tuple[int, int]:
    return (space.image_size,) * 2 if space.image_size else common_size(data.sizes)


def _expected_dim(space: Space, data: Dataset) -> int | None:
    if space.family == "pixels":
        width, height = _pixel_size(space, data)
        return width * height
    return None


def model_file(project: Project, space: Space) -> Path:
    """Return where a fitted space keeps its PCA or network."""
    if space.family == "pixels-pca":
        return model_path(project, space, ".npz")
    # The version changes with the network's layout, so a project made by an
    # older release trains a new network and recomputes every vector.
    return model_path(project, space, f"-v{SELF_SUPERVISED_VERSION}.pt")


def _compute(project, data, space, rows, state, device, span):
    paths = [data.paths[i] for i in rows]
    if space.family in ("pixels", "pixels-pca"):
        features, unreadable = pixel_features(paths, _pixel_size(space, data), state, span)
        if space.family == "pixels-pca":
            features = _pca_transform(project, space, features, unreadable)
        return features, unreadable
    if space.family in SELF_SUPERVISED:
        from trainers.features import self_supervised

        return self_supervised.embed(project, space, paths, state, device, span,
                                     model_file(project, space))
    from trainers.features import backbones

    backbones.require_clip_weights(space)
    return backbones.embed(space, paths, state, device, span)


def _pca_transform(project, space, features, unreadable):
    file = model_file(project, space)
    if file.exists():
        with np.load(file) as stored:
            model = {"mean": stored["mean"], "components": stored["components"]}
    else:
        readable = np.setdiff1d(np.arange(len(features)), unreadable)
        if len(readable) < 3:
            raise ValueError(
                f"pixels-pca needs at least 3 readable images, got {len(readable)}.")
        model = fit_pca(features[readable], n_components=space.options.get("components", 50))
        file.parent.mkdir(parents=True, exist_ok=True)
        np.savez(file, **model)
    return apply_pca(model, features)
