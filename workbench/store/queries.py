"""Read-only queries that return plain data (dicts, tuples), never ORM objects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from workbench.store.schema import (
    ACTIVE_JOB_STATES,
    PENDING,
    SOURCE_HUMAN,
    Item,
    Job,
    LabelClass,
    LabelEvent,
    Proposal,
)

# Grid filters by label state. "unlabeled" has no source; the others match
# the item's label source.
ITEM_FILTERS = ("all", "unlabeled", "human", "imported", "pseudo", "weak")


@dataclass(frozen=True)
class ClassInfo:
    id: int
    name: str
    color: str
    shortcut: str | None
    position: int


@dataclass(frozen=True)
class ItemRow:
    id: int
    path: str
    sha256: str
    class_id: int | None
    source: str | None


def classes(session: Session) -> list[ClassInfo]:
    rows = session.execute(
        select(LabelClass.id, LabelClass.name, LabelClass.color, LabelClass.shortcut,
               LabelClass.position).order_by(LabelClass.position, LabelClass.id)
    ).all()
    return [ClassInfo(*row) for row in rows]


def items(session: Session, label_filter: str = "all", text: str = "") -> list[ItemRow]:
    if label_filter not in ITEM_FILTERS:
        raise ValueError(f"Unknown item filter {label_filter!r}; use one of {ITEM_FILTERS}.")
    query = select(Item.id, Item.path, Item.sha256, Item.label_class_id, Item.label_source)
    if label_filter == "unlabeled":
        query = query.where(Item.label_class_id.is_(None))
    elif label_filter != "all":
        query = query.where(Item.label_source == label_filter)
    if text:
        query = query.where(Item.path.contains(text, autoescape=True))
    rows = session.execute(query.order_by(Item.id)).all()
    return [ItemRow(*row) for row in rows]


def item_count(session: Session) -> int:
    return session.scalar(select(func.count(Item.id))) or 0


def class_counts(session: Session) -> dict[int, dict[str, int]]:
    """Return ``{class_id: {source: count}}`` for labeled items."""
    rows = session.execute(
        select(Item.label_class_id, Item.label_source, func.count(Item.id))
        .where(Item.label_class_id.is_not(None))
        .group_by(Item.label_class_id, Item.label_source)
    ).all()
    counts: dict[int, dict[str, int]] = {}
    for class_id, source, count in rows:
        counts.setdefault(class_id, {})[source] = count
    return counts


def pending_proposals(session: Session, kind: str | None = None) -> list[dict[str, Any]]:
    """Return pending proposals, highest score first, with the item's current label.

    Pseudo and weak labels for items that a person labeled after the job ran
    are left out: accepting them would overwrite a human label.
    """
    current = aliased(LabelClass)
    query = (
        select(Proposal.id, Proposal.item_id, Item.path, Proposal.kind, LabelClass.name,
               Proposal.class_id, Proposal.score, Proposal.job_id, current.name,
               Item.label_source, Proposal.evidence, Item.sha256)
        .join(Item, Item.id == Proposal.item_id)
        .join(LabelClass, LabelClass.id == Proposal.class_id)
        .outerjoin(current, current.id == Item.label_class_id)
        .where(Proposal.state == PENDING)
        .order_by(Proposal.score.desc(), Proposal.id)
    )
    if kind:
        query = query.where(Proposal.kind == kind)
    keys = ("id", "item_id", "path", "kind", "class_name", "class_id", "score", "job_id",
            "current_class", "current_source", "evidence", "sha256")
    rows = [dict(zip(keys, row)) for row in session.execute(query).all()]
    return [
        row for row in rows
        if row["kind"] == "noise_flag" or row["current_source"] != SOURCE_HUMAN
    ]


def label_history(session: Session, item_id: int) -> list[dict[str, Any]]:
    old = aliased(LabelClass)
    new = aliased(LabelClass)
    rows = session.execute(
        select(LabelEvent.decision, LabelEvent.action, old.name, new.name,
               LabelEvent.new_source, LabelEvent.actor, LabelEvent.proposal_id,
               LabelEvent.created_at)
        .outerjoin(old, old.id == LabelEvent.old_class_id)
        .outerjoin(new, new.id == LabelEvent.new_class_id)
        .where(LabelEvent.item_id == item_id)
        .order_by(LabelEvent.id)
    ).all()
    keys = ("decision", "action", "old_class", "new_class", "source", "actor",
            "proposal_id", "time")
    return [dict(zip(keys, row)) for row in rows]


def jobs(session: Session, limit: int = 200) -> list[dict[str, Any]]:
    rows = session.scalars(select(Job).order_by(Job.id.desc()).limit(limit)).all()
    return [job_dict(job) for job in rows]


def job_dict(job: Job) -> dict[str, Any]:
    return {
        "id": job.id, "kind": job.kind, "state": job.state, "progress": job.progress,
        "device": job.device, "params": dict(job.params or {}), "error": job.error,
        "metrics": dict(job.metrics or {}), "created_at": job.created_at,
        "started_at": job.started_at, "finished_at": job.finished_at,
    }


def active_jobs(session: Session) -> list[int]:
    return list(session.scalars(select(Job.id).where(Job.state.in_(ACTIVE_JOB_STATES))))


def status(session: Session) -> dict[str, Any]:
    """Summarize a project: items per class and source, proposals, jobs."""
    names = {info.id: info.name for info in classes(session)}
    per_class = {
        names[class_id]: by_source for class_id, by_source in class_counts(session).items()
    }
    per_source: dict[str, int] = {}
    for by_source in per_class.values():
        for source, count in by_source.items():
            per_source[source] = per_source.get(source, 0) + count
    total = item_count(session)
    proposals: dict[str, dict[str, int]] = {}
    for kind, state, count in session.execute(
        select(Proposal.kind, Proposal.state, func.count(Proposal.id))
        .group_by(Proposal.kind, Proposal.state)
    ):
        proposals.setdefault(kind, {})[state] = count
    job_states = dict(
        session.execute(select(Job.state, func.count(Job.id)).group_by(Job.state)).all()
    )
    return {
        "items": total,
        "labeled": sum(per_source.values()),
        "unlabeled": total - sum(per_source.values()),
        "classes": [names[i] for i in names],
        "per_class": {name: per_class.get(name, {}) for name in names.values()},
        "per_source": per_source,
        "proposals": proposals,
        "jobs": job_states,
    }
