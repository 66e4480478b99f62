"""Embedding vectors cached per item and space in the project's ``embeddings`` table.

A cached vector is valid while the item's SHA-256 matches the one it was
computed from, so only new or changed items are recomputed.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from workbench.store.engine import Project
from workbench.store.schema import Embedding, utcnow


def load_cached(
    project: Project, space: str, item_ids: np.ndarray, sha256: list[str]
) -> tuple[np.ndarray | None, np.ndarray]:
    """Return the cached vectors of ``item_ids`` in ``space`` and a mask of valid rows.

    Rows without a vector, with a stale hash, or with a dimension that
    differs from the most common one are zero and marked invalid. The
    matrix is None when nothing is cached.
    """
    position = {int(item_id): i for i, item_id in enumerate(item_ids)}
    with project.read() as session:
        rows = session.execute(
            select(Embedding.item_id, Embedding.dim, Embedding.vector, Embedding.sha256)
            .where(Embedding.space == space)
        ).all()
    rows = [row for row in rows if row.item_id in position
            and row.sha256 == sha256[position[row.item_id]]]
    valid = np.zeros(len(item_ids), dtype=bool)
    if not rows:
        return None, valid
    dims = np.bincount([row.dim for row in rows])
    dim = int(dims.argmax())
    vectors = np.zeros((len(item_ids), dim), dtype=np.float32)
    for row in rows:
        if row.dim == dim:
            i = position[row.item_id]
            vectors[i] = np.frombuffer(row.vector, dtype="<f4")
            valid[i] = True
    return vectors, valid


def store_vectors(
    session: Session, space: str, item_ids: np.ndarray, sha256: list[str], vectors: np.ndarray
) -> None:
    """Replace the vectors of ``item_ids`` in ``space`` inside the caller's transaction."""
    ids = [int(i) for i in item_ids]
    for start in range(0, len(ids), 500):
        session.execute(delete(Embedding).where(
            Embedding.space == space, Embedding.item_id.in_(ids[start:start + 500])))
    now = utcnow()
    rows = [
        {"item_id": item_id, "space": space, "dim": int(vectors.shape[1]),
         "vector": np.asarray(vector, dtype="<f4").tobytes(), "sha256": digest,
         "created_at": now}
        for item_id, digest, vector in zip(ids, sha256, vectors)
    ]
    for start in range(0, len(rows), 5000):
        session.execute(Embedding.__table__.insert(), rows[start:start + 5000])
