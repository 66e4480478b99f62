"""Read what a method needs from the store, as plain arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select

from workbench.store.engine import Project
from workbench.store.schema import (
    GIVEN_SOURCES,
    REJECTED,
    SOURCE_PSEUDO,
    SOURCE_WEAK,
    Item,
    LabelClass,
    Proposal,
)


@dataclass
class Dataset:
    """Items of a project with their labels; ``labels`` is -1 where unlabeled.

    ``labels`` holds class indices into ``class_ids``; ``trusted`` marks the
    labels a person or the data set gave (the rest are accepted proposals).
    """

    item_ids: np.ndarray
    paths: list[str]
    sha256: list[str]
    sizes: list[tuple[int, int]]
    labels: np.ndarray
    trusted: np.ndarray
    class_ids: list[int]
    class_names: list[str]
    rejected: set[tuple[int, int]]

    @property
    def labeled(self) -> np.ndarray:
        return self.labels >= 0

    @property
    def unlabeled(self) -> np.ndarray:
        return self.labels < 0


def load_dataset(project: Project, *, include_accepted: bool = True) -> Dataset:
    sources = set(GIVEN_SOURCES)
    if include_accepted:
        sources |= {SOURCE_PSEUDO, SOURCE_WEAK}
    with project.read() as session:
        classes = session.execute(
            select(LabelClass.id, LabelClass.name).order_by(LabelClass.position, LabelClass.id)
        ).all()
        rows = session.execute(
            select(Item.id, Item.path, Item.sha256, Item.width, Item.height,
                   Item.label_class_id, Item.label_source).order_by(Item.id)
        ).all()
        rejected = set(session.execute(
            select(Proposal.item_id, Proposal.class_id).where(Proposal.state == REJECTED)
        ).all())
    index = {class_id: i for i, (class_id, _) in enumerate(classes)}
    labels = np.full(len(rows), -1, dtype=np.int64)
    trusted = np.zeros(len(rows), dtype=bool)
    for i, row in enumerate(rows):
        if row.label_class_id is not None and row.label_source in sources:
            labels[i] = index[row.label_class_id]
            trusted[i] = row.label_source in GIVEN_SOURCES
    return Dataset(
        item_ids=np.array([row.id for row in rows], dtype=np.int64),
        paths=[project.resolve(row.path).as_posix() for row in rows],
        sha256=[row.sha256 for row in rows],
        sizes=[(row.width, row.height) for row in rows],
        labels=labels,
        trusted=trusted,
        class_ids=[class_id for class_id, _ in classes],
        class_names=[name for _, name in classes],
        rejected={(int(a), int(b)) for a, b in rejected},
    )
