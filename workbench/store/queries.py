"""Read-only queries that return plain data (dicts, tuples), never ORM objects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Select, and_, exists, func, literal, or_, select
from sqlalchemy.orm import Session, aliased

from workbench.store.schema import (
    ACTIVE_JOB_STATES,
    KIND_NOISE,
    PENDING,
    PROPOSAL_STATES,
    SOURCE_HUMAN,
    Item,
    Job,
    LabelClass,
    LabelEvent,
    Projection,
    Proposal,
    WeakSource,
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


class ItemRow(NamedTuple):
    """One grid row. A tuple, because the grid builds one for every item."""

    id: int
    path: str
    sha256: str
    class_id: int | None
    source: str | None
    # Highest score among the item's pending proposals; None without one.
    score: float | None = None


def fetch_rows(session: Session, query: Select) -> list[tuple]:
    """Run a Core ``select`` on the session's DBAPI cursor and return plain tuples.

    This skips SQLAlchemy's per-row result processing, which costs more than
    the query itself at 70,000 rows, so only selects of plain columns
    (integers, floats, text) whose values need no type conversion may use it.
    """
    connection = session.connection()
    compiled = query.compile(dialect=connection.dialect,
                             compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    if compiled.positional:
        params = tuple(params[name] for name in compiled.positiontup)
    cursor = connection.connection.cursor()
    try:
        cursor.execute(str(compiled), params)
        return cursor.fetchall()
    finally:
        cursor.close()


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


# Grid filters ---------------------------------------------------------------

# Proposal-state filter values: a state from PROPOSAL_STATES means "has a
# proposal in that state"; "none" means "has no proposal at all".
PROPOSAL_FILTERS = ("any", "none", *PROPOSAL_STATES)
SORT_KEYS = ("id", "score")


@dataclass(frozen=True)
class ItemFilter:
    """What the grid shows. Every field left at its default matches all items."""

    label: str = "all"
    class_id: int | None = None
    proposal_state: str = "any"
    noise_flag: bool = False
    score_min: float | None = None
    score_max: float | None = None
    text: str = ""
    sort: str = "id"

    def validate(self) -> None:
        if self.label not in ITEM_FILTERS:
            raise ValueError(f"Unknown item filter {self.label!r}; use one of {ITEM_FILTERS}.")
        if self.proposal_state not in PROPOSAL_FILTERS:
            raise ValueError(f"Unknown proposal state {self.proposal_state!r}; "
                             f"use one of {PROPOSAL_FILTERS}.")
        if self.sort not in SORT_KEYS:
            raise ValueError(f"Unknown sort key {self.sort!r}; use one of {SORT_KEYS}.")
        low, high = self.score_min, self.score_max
        if low is not None and high is not None and low > high:
            raise ValueError(f"Score range {low} to {high} is empty; "
                             "the minimum must not exceed the maximum.")


def _has_proposal(*conditions):
    return exists().where(Proposal.item_id == Item.id, *conditions)


def _filter_conditions(spec: ItemFilter, score) -> list:
    conditions = []
    if spec.label == "unlabeled":
        conditions.append(Item.label_class_id.is_(None))
    elif spec.label != "all":
        conditions.append(Item.label_source == spec.label)
    if spec.class_id is not None:
        conditions.append(Item.label_class_id == spec.class_id)
    if spec.proposal_state == "none":
        conditions.append(~_has_proposal())
    elif spec.proposal_state != "any":
        conditions.append(_has_proposal(Proposal.state == spec.proposal_state))
    if spec.noise_flag:
        conditions.append(_has_proposal(Proposal.state == PENDING, Proposal.kind == KIND_NOISE))
    if spec.score_min is not None:
        conditions.append(score >= spec.score_min)
    if spec.score_max is not None:
        conditions.append(score <= spec.score_max)
    if spec.text:
        conditions.append(Item.path.contains(spec.text, autoescape=True))
    return conditions


def filtered_items(
    session: Session, spec: ItemFilter, item_ids: list[int] | None = None, *,
    first_id: int | None = None,
) -> list[ItemRow]:
    """Return the items that match ``spec``, each with its highest pending score.

    ``item_ids`` narrows the query to those items (the grid uses it to
    refresh a few changed rows without reloading the rest), and ``first_id``
    to the items from that id on (the rows an import added). Sorting by score
    puts the highest first and items without a pending proposal last.
    Raises ValueError for an invalid filter.
    """
    spec.validate()
    best = (
        select(Proposal.item_id, func.max(Proposal.score).label("score"))
        .where(Proposal.state == PENDING)
        .group_by(Proposal.item_id)
    )
    if item_ids is not None:
        best = best.where(Proposal.item_id.in_(item_ids))
    if first_id is not None:
        best = best.where(Proposal.item_id >= first_id)
    best = best.subquery()
    query = (
        select(Item.id, Item.path, Item.sha256, Item.label_class_id, Item.label_source,
               best.c.score)
        .outerjoin(best, best.c.item_id == Item.id)
        .where(*_filter_conditions(spec, best.c.score))
    )
    if item_ids is not None:
        query = query.where(Item.id.in_(item_ids))
    if first_id is not None:
        query = query.where(Item.id >= first_id)
    if spec.sort == "score":
        query = query.order_by(best.c.score.is_(None), best.c.score.desc(), Item.id)
    else:
        query = query.order_by(Item.id)
    return list(map(ItemRow._make, fetch_rows(session, query)))


# Review queue ---------------------------------------------------------------


class ReviewEntry(NamedTuple):
    """One pending proposal in the review queue; details load on demand."""

    id: int
    item_id: int
    kind: str
    class_id: int
    score: float
    job_id: int | None
    path: str


def _reviewable():
    # A pseudo or weak label for an item a person labeled after the job ran
    # is left out: accepting it would overwrite a human label. So is a noise
    # flag on an item a person labeled after the flagging job started: the
    # flag questioned an earlier label.
    flagging_job = aliased(Job)
    job_start = (select(flagging_job.started_at).where(flagging_job.id == Proposal.job_id)
                 .correlate_except(flagging_job).scalar_subquery())
    flagged_at = func.coalesce(job_start, Proposal.created_at)
    relabeled_since_flag = and_(
        Proposal.kind == KIND_NOISE, func.coalesce(Item.label_source, "") == SOURCE_HUMAN,
        Item.label_updated_at.is_not(None), Item.label_updated_at >= flagged_at)
    return and_(
        Proposal.state == PENDING,
        or_(Proposal.kind == KIND_NOISE, Item.label_source.is_(None),
            Item.label_source != SOURCE_HUMAN),
        ~relabeled_since_flag,
    )


def review_queue(
    session: Session,
    *,
    job_id: int | None = None,
    kind: str | None = None,
    class_id: int | None = None,
    proposal_ids: list[int] | None = None,
) -> list[ReviewEntry]:
    """Return reviewable pending proposals, highest score first, as light rows."""
    query = (
        select(Proposal.id, Proposal.item_id, Proposal.kind, Proposal.class_id,
               Proposal.score, Proposal.job_id, Item.path)
        .join(Item, Item.id == Proposal.item_id)
        .where(_reviewable())
        .order_by(Proposal.score.desc(), Proposal.id)
    )
    if job_id is not None:
        query = query.where(Proposal.job_id == job_id)
    if kind is not None:
        query = query.where(Proposal.kind == kind)
    if class_id is not None:
        query = query.where(Proposal.class_id == class_id)
    if proposal_ids is not None:
        query = query.where(Proposal.id.in_(proposal_ids))
    return list(map(ReviewEntry._make, fetch_rows(session, query)))


def review_facets(session: Session) -> dict[str, list]:
    """Return the jobs and kinds that have reviewable proposals, for the queue's filters."""
    rows = session.execute(
        select(Proposal.job_id, Job.kind, Proposal.kind, func.count(Proposal.id))
        .join(Item, Item.id == Proposal.item_id)
        .outerjoin(Job, Job.id == Proposal.job_id)
        .where(_reviewable())
        .group_by(Proposal.job_id, Job.kind, Proposal.kind)
        .order_by(Proposal.job_id)
    ).all()
    jobs_seen: dict[int, str] = {}
    kinds: set[str] = set()
    for job_id, job_kind, kind, _count in rows:
        if job_id is not None:
            jobs_seen[job_id] = job_kind or "job"
        kinds.add(kind)
    return {"jobs": sorted(jobs_seen.items()), "kinds": sorted(kinds)}


def proposal_details(session: Session, proposal_id: int) -> dict[str, Any] | None:
    """Return everything the review panel shows for one proposal, or None if it is gone."""
    current = aliased(LabelClass)
    row = session.execute(
        select(Proposal.id, Proposal.item_id, Item.path, Item.sha256, Proposal.kind,
               LabelClass.name, Proposal.class_id, Proposal.score, Proposal.job_id,
               Job.kind, current.name, Item.label_source, Proposal.evidence,
               Proposal.state)
        .join(Item, Item.id == Proposal.item_id)
        .join(LabelClass, LabelClass.id == Proposal.class_id)
        .outerjoin(current, current.id == Item.label_class_id)
        .outerjoin(Job, Job.id == Proposal.job_id)
        .where(Proposal.id == proposal_id)
    ).first()
    if row is None:
        return None
    keys = ("id", "item_id", "path", "sha256", "kind", "class_name", "class_id", "score",
            "job_id", "job_kind", "current_class", "current_source", "evidence", "state")
    return dict(zip(keys, row))


def decision_changes(session: Session, decision: int) -> tuple[list[int], list[int]]:
    """Return the item ids and proposal ids that one decision touched."""
    rows = session.execute(
        select(LabelEvent.item_id, LabelEvent.proposal_id).where(LabelEvent.decision == decision)
    ).all()
    items = sorted({item_id for item_id, _ in rows})
    proposals = sorted({proposal_id for _, proposal_id in rows if proposal_id is not None})
    return items, proposals


# Item pane ------------------------------------------------------------------


def item_detail(session: Session, item_id: int) -> dict[str, Any] | None:
    row = session.execute(
        select(Item.id, Item.path, Item.sha256, Item.width, Item.height, Item.split,
               LabelClass.name, Item.label_source, Item.label_confidence, Item.label_actor,
               Item.label_updated_at)
        .outerjoin(LabelClass, LabelClass.id == Item.label_class_id)
        .where(Item.id == item_id)
    ).first()
    if row is None:
        return None
    keys = ("id", "path", "sha256", "width", "height", "split", "class_name", "source",
            "confidence", "actor", "updated_at")
    return dict(zip(keys, row))


def item_history(session: Session, item_id: int) -> list[dict[str, Any]]:
    """Return an item's label events, oldest first, with the job behind each proposal."""
    old = aliased(LabelClass)
    new = aliased(LabelClass)
    rows = session.execute(
        select(LabelEvent.decision, LabelEvent.action, old.name, new.name,
               LabelEvent.new_source, LabelEvent.actor, LabelEvent.proposal_id,
               Proposal.job_id, Proposal.kind, LabelEvent.created_at)
        .outerjoin(old, old.id == LabelEvent.old_class_id)
        .outerjoin(new, new.id == LabelEvent.new_class_id)
        .outerjoin(Proposal, Proposal.id == LabelEvent.proposal_id)
        .where(LabelEvent.item_id == item_id)
        .order_by(LabelEvent.id)
    ).all()
    keys = ("decision", "action", "old_class", "new_class", "source", "actor",
            "proposal_id", "job_id", "proposal_kind", "time")
    return [dict(zip(keys, row)) for row in rows]


def item_proposals(session: Session, item_id: int, state: str | None = PENDING) -> list[dict]:
    """Return an item's proposals in ``state`` (all states for None), highest score first."""
    query = (
        select(Proposal.id, Proposal.kind, LabelClass.name, Proposal.score, Proposal.job_id,
               Proposal.state)
        .join(LabelClass, LabelClass.id == Proposal.class_id)
        .where(Proposal.item_id == item_id)
        .order_by(Proposal.score.desc())
    )
    if state is not None:
        query = query.where(Proposal.state == state)
    keys = ("id", "kind", "class_name", "score", "job_id", "state")
    return [dict(zip(keys, row)) for row in session.execute(query).all()]


# Embedding view -------------------------------------------------------------


def projection_sets(session: Session) -> list[tuple[str, str, int]]:
    """Return ``(space, method, point count)`` for every stored projection."""
    rows = session.execute(
        select(Projection.space, Projection.method, func.count(Projection.id))
        .group_by(Projection.space, Projection.method)
        .order_by(Projection.space, Projection.method)
    ).all()
    return [tuple(row) for row in rows]


def projection_points(session: Session, space: str, method: str) -> list[tuple[int, float, float]]:
    """Return ``(item_id, x, y)`` of one projection, ordered by item id."""
    return fetch_rows(session, (
        select(Projection.item_id, Projection.x, Projection.y)
        .where(Projection.space == space, Projection.method == method)
        .order_by(Projection.item_id)
    ))


def point_attributes(
    session: Session, item_ids: list[int] | None = None
) -> list[tuple[int, int | None, str | None, str | None, float | None]]:
    """Return ``(item_id, class_id, source, proposal_state, noise_score)`` by item id.

    ``proposal_state`` is "pending" when the item has a pending proposal,
    else the state of its latest decided proposal, else None. ``noise_score``
    is the highest score of its pending noise flags, else None. The scatter
    colors 70,000 points from these rows, so each column is one correlated
    subquery on the proposals' item index rather than rows joined in Python.
    """
    own = Proposal.item_id == Item.id
    pending = (select(literal(PENDING)).where(own, Proposal.state == PENDING)
               .limit(1).scalar_subquery())
    latest = (select(Proposal.state).where(own).order_by(Proposal.id.desc())
              .limit(1).scalar_subquery())
    noise = (select(func.max(Proposal.score))
             .where(own, Proposal.state == PENDING, Proposal.kind == KIND_NOISE)
             .scalar_subquery())
    query = select(Item.id, Item.label_class_id, Item.label_source,
                   func.coalesce(pending, latest), noise).order_by(Item.id)
    if item_ids is not None:
        query = query.where(Item.id.in_(item_ids))
    return fetch_rows(session, query)


# Weak sources ---------------------------------------------------------------


def weak_sources(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(
        select(WeakSource.id, WeakSource.name, WeakSource.kind, WeakSource.definition,
               WeakSource.enabled).order_by(WeakSource.id)
    ).all()
    keys = ("id", "name", "kind", "definition", "enabled")
    return [dict(zip(keys, row)) for row in rows]


def item_paths_and_labels(session: Session) -> list[tuple[int, str, int | None, str | None]]:
    """Return ``(item_id, path, class_id, source)`` of every item, for rule statistics."""
    return [tuple(row) for row in session.execute(
        select(Item.id, Item.path, Item.label_class_id, Item.label_source).order_by(Item.id))]


def weak_label_votes(session: Session) -> list[tuple[int, dict[str, Any]]]:
    """Return ``(item_id, votes)`` of weak-label proposals whose evidence lists votes.

    ``votes`` maps a weak source's name to the class name it voted for, or
    None where it abstained. Only the newest proposal per item counts.
    """
    rows = session.execute(
        select(Proposal.item_id, Proposal.evidence)
        .where(Proposal.kind == "weak_label")
        .order_by(Proposal.id)
    ).all()
    latest: dict[int, dict[str, Any]] = {}
    for item_id, evidence in rows:
        votes = (evidence or {}).get("votes")
        if isinstance(votes, dict):
            latest[item_id] = votes
    return list(latest.items())


def max_item_id(session: Session) -> int:
    """Return the largest item id, or 0 in an empty project."""
    return session.scalar(select(func.max(Item.id))) or 0


def pending_proposal_ids(session: Session, item_ids: list[int]) -> list[int]:
    """Return the ids of the pending proposals for these items."""
    return list(session.scalars(
        select(Proposal.id).where(Proposal.state == PENDING, Proposal.item_id.in_(item_ids))))
