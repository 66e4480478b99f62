"""Write a job's proposals and final state in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update

from workbench.store.engine import Project
from workbench.store.schema import (
    KIND_NOISE,
    PENDING,
    REJECTED,
    SOURCE_HUMAN,
    SUCCEEDED,
    SUPERSEDED,
    Item,
    Job,
    Proposal,
    utcnow,
)
from trainers.state import TaskState


@dataclass
class ProposalRow:
    item_id: int
    class_id: int
    score: float
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class MethodResult:
    """What a method hands back: proposals of one kind, metrics and other rows.

    ``kind`` is None for jobs that propose nothing (embed, projection).
    ``writes`` are called with the session of the results transaction, so
    vectors, projections and weak sources commit or roll back with it.
    """

    kind: str | None
    proposals: list[ProposalRow]
    metrics: dict[str, Any] = field(default_factory=dict)
    writes: list[Callable[[Any], None]] = field(default_factory=list)


def write_results(project: Project, job_id: int, result: MethodResult, state: TaskState) -> int:
    """Store the proposals and mark the job succeeded, all or nothing.

    Pending proposals of the same kind from earlier jobs of the same job kind
    are superseded. Pairs a person rejected, and pseudo or weak labels for
    items a person has labeled meanwhile, are dropped. A cancel that arrives
    during the write rolls it back. Returns the number of proposals stored.
    """
    with project.write() as session:
        job = session.get(Job, job_id)
        rejected = set(session.execute(
            select(Proposal.item_id, Proposal.class_id).where(Proposal.state == REJECTED)
        ).all())
        human = set(session.scalars(select(Item.id).where(Item.label_source == SOURCE_HUMAN)))
        for write in result.writes:
            write(session)
        earlier_jobs = select(Job.id).where(Job.kind == job.kind, Job.id != job_id)
        if result.kind is not None:
            session.execute(
                update(Proposal)
                .where(Proposal.state == PENDING, Proposal.kind == result.kind,
                       Proposal.job_id.in_(earlier_jobs))
                .values(state=SUPERSEDED, decided_at=utcnow(), decided_by=f"job:{job_id}")
            )
        rows = [
            {"job_id": job_id, "item_id": p.item_id, "kind": result.kind,
             "class_id": p.class_id, "score": p.score, "evidence": p.evidence,
             "state": PENDING, "created_at": utcnow()}
            for p in result.proposals
            if (p.item_id, p.class_id) not in rejected
            and (p.item_id not in human or result.kind == KIND_NOISE)
        ]
        if rows:
            session.execute(Proposal.__table__.insert(), rows)
        job.state = SUCCEEDED
        job.progress = 1.0
        job.finished_at = utcnow()
        # "stored" counts proposals; jobs without them (embed, projection) omit it.
        stored = {"stored": len(rows)} if result.kind is not None else {}
        job.metrics = {**result.metrics, **stored}
        # Last chance for a cancel: raising here rolls back every row above.
        state.check()
    return len(rows)
