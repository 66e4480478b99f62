"""User actions on labels and proposals, one write transaction each.

Every action appends label events that share one decision number, so
:func:`undo_last` can revert a whole action, batches included. The history
is append-only: an undo is itself a set of events that point at the
decision they revert.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from workbench.store.engine import Project
from workbench.store.schema import (
    ACCEPTED,
    ACTION_ACCEPT,
    ACTION_IMPORT,
    ACTION_LABEL,
    ACTION_REJECT,
    ACTION_UNDO,
    KIND_NOISE,
    KIND_PSEUDO,
    KIND_WEAK,
    PENDING,
    REJECTED,
    SOURCE_HUMAN,
    SOURCE_PSEUDO,
    SOURCE_WEAK,
    Item,
    Job,
    LabelClass,
    LabelEvent,
    Proposal,
    WeakSource,
    utcnow,
)

UNDOABLE_ACTIONS = (ACTION_LABEL, ACTION_ACCEPT, ACTION_REJECT)

# The label source an accepted proposal gives its item. Accepting a noise
# flag is a person correcting a label, so the new label counts as human.
SOURCE_OF_KIND = {
    KIND_PSEUDO: SOURCE_PSEUDO,
    KIND_WEAK: SOURCE_WEAK,
    KIND_NOISE: SOURCE_HUMAN,
}


class ActionError(ValueError):
    """A user action that cannot be carried out. The message gives the reason."""


@dataclass
class Decision:
    """The outcome of one user action."""

    number: int | None
    changed: int = 0
    skipped: list[str] = field(default_factory=list)


def _next_decision(session: Session) -> int:
    # Safe under BEGIN IMMEDIATE: no other writer runs between read and insert.
    current = session.scalar(select(func.max(LabelEvent.decision)))
    return (current or 0) + 1


# The item columns a label change sets, and so the columns undo restores.
LABEL_COLUMNS = ("label_class_id", "label_source", "label_confidence", "label_actor",
                 "label_updated_at")


def _event_row(item_id: int, label: Mapping[str, Any], decision: int, action: str,
               actor: str, **changes) -> dict[str, Any]:
    """Return the label_events row for a change to an item whose label is ``label``.

    ``label`` maps LABEL_COLUMNS to the item's values before the change.
    """
    return {
        "item_id": item_id,
        "decision": decision,
        "action": action,
        "old_class_id": label["label_class_id"],
        "old_source": label["label_source"],
        "old_confidence": label["label_confidence"],
        "old_actor": label["label_actor"],
        "new_class_id": changes.get("class_id", label["label_class_id"]),
        "new_source": changes.get("source", label["label_source"]),
        "new_confidence": changes.get("confidence", label["label_confidence"]),
        "actor": actor,
        "proposal_id": changes.get("proposal_id"),
        "old_proposal_state": changes.get("old_proposal_state"),
        "undoes_decision": changes.get("undoes_decision"),
    }


def _event(item: Item, decision: int, action: str, actor: str, **changes) -> LabelEvent:
    label = {column: getattr(item, column) for column in LABEL_COLUMNS}
    return LabelEvent(**_event_row(item.id, label, decision, action, actor, **changes))


def _set_label(item: Item, class_id, source, confidence, actor) -> None:
    item.label_class_id = class_id
    item.label_source = source
    item.label_confidence = confidence
    item.label_actor = actor
    item.label_updated_at = utcnow()


def _check_items_found(expected: Iterable[int], found: Iterable[int]) -> None:
    missing = set(expected) - set(found)
    if missing:
        raise ActionError(f"Items not found: {sorted(missing)[:10]}. Reload the project.")


def _load_items(session: Session, item_ids: Sequence[int]) -> list[Item]:
    items = session.scalars(select(Item).where(Item.id.in_(item_ids))).all()
    _check_items_found(item_ids, [item.id for item in items])
    return list(items)


def _labels(session: Session, item_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Return each item's LABEL_COLUMNS values as a dict, by item id."""
    ids = sorted(set(item_ids))
    columns = [getattr(Item, column) for column in LABEL_COLUMNS]
    rows = session.execute(select(Item.id, *columns).where(Item.id.in_(ids)))
    labels = {row[0]: dict(zip(LABEL_COLUMNS, row[1:])) for row in rows}
    _check_items_found(ids, labels)
    return labels


def _write_bulk(session: Session, events: list[dict], labels: Mapping[int, Mapping],
                proposal_states: Mapping[str, list[int]], decided_by: str | None,
                decided_at: datetime | None) -> None:
    """Insert label events and set item labels and proposal states in bulk.

    ``labels`` maps item ids to new LABEL_COLUMNS values, and
    ``proposal_states`` maps a state to the ids of the proposals that get
    it. Core statements (an executemany per table, one UPDATE per state)
    skip the ORM's per-object flush, which took 4 to 5 s for a batch of
    10,000 in benchmarks/throughput_store.py.
    """
    if events:
        session.execute(insert(LabelEvent.__table__), events)
    items = Item.__table__
    if labels:
        session.execute(update(items).where(items.c.id == bindparam("row_id")),
                        [{"row_id": item_id, **label} for item_id, label in labels.items()])
    for state, ids in proposal_states.items():
        if not ids:
            continue
        session.execute(update(Proposal.__table__).where(Proposal.__table__.c.id.in_(ids))
                        .values(state=state, decided_by=decided_by, decided_at=decided_at))


def label_items(
    project: Project,
    item_ids: Iterable[int],
    class_id: int,
    *,
    actor: str,
    source: str = SOURCE_HUMAN,
    action: str = ACTION_LABEL,
) -> Decision:
    """Give items the class ``class_id`` as a human label, as one decision."""
    ids = sorted(set(item_ids))
    if not ids:
        raise ActionError("No items selected. Select one or more images, then press a class key.")
    with project.write() as session:
        if session.get(LabelClass, class_id) is None:
            raise ActionError(f"Class id {class_id} not found. Reload the project.")
        decision = _next_decision(session)
        changed = 0
        for item in _load_items(session, ids):
            if item.label_class_id == class_id and item.label_source == source:
                continue
            session.add(_event(item, decision, action, actor, class_id=class_id,
                               source=source, confidence=1.0))
            _set_label(item, class_id, source, 1.0, actor)
            changed += 1
    return Decision(decision if changed else None, changed)


def record_import_labels(
    session: Session, labels: list[tuple[Item, int]], *, actor: str, source: str
) -> int | None:
    """Label new items with the classes they came with, inside the import's transaction.

    The events use the "import" action, which undo skips: undo reverts what
    a person did in the window, not the data set itself.
    """
    if not labels:
        return None
    decision = _next_decision(session)
    for item, class_id in labels:
        session.add(_event(item, decision, ACTION_IMPORT, actor, class_id=class_id,
                           source=source, confidence=1.0))
        _set_label(item, class_id, source, 1.0, actor)
    return decision


def _proposal_ids(proposal_ids: Iterable[int]) -> list[int]:
    ids = sorted(set(proposal_ids))
    if not ids:
        raise ActionError("No proposal to decide on: the review queue is empty.")
    return ids


def _check_proposals_found(expected: Iterable[int], found: Iterable[int]) -> None:
    missing = set(expected) - set(found)
    if missing:
        raise ActionError(f"Proposals not found: {sorted(missing)[:10]}. Reload the queue.")


def _pending_proposals(session: Session, proposal_ids: Sequence[int]) -> list[Proposal]:
    ids = _proposal_ids(proposal_ids)
    proposals = session.scalars(select(Proposal).where(Proposal.id.in_(ids))).all()
    _check_proposals_found(ids, [p.id for p in proposals])
    return list(proposals)


def _proposal_rows(session: Session, proposal_ids: Iterable[int]) -> list:
    """Load proposals as plain rows in id order, for decisions on many at once."""
    ids = _proposal_ids(proposal_ids)
    rows = session.execute(
        select(Proposal.id, Proposal.item_id, Proposal.job_id, Proposal.kind,
               Proposal.class_id, Proposal.score, Proposal.state, Proposal.created_at)
        .where(Proposal.id.in_(ids)).order_by(Proposal.id)
    ).all()
    _check_proposals_found(ids, [row.id for row in rows])
    return rows


def _job_starts(session: Session, proposals: Sequence) -> dict[int, object]:
    """Return the start time of each job behind these proposals, by job id."""
    job_ids = {p.job_id for p in proposals if p.job_id is not None}
    rows = session.execute(select(Job.id, Job.started_at).where(Job.id.in_(job_ids)))
    return {job_id: started for job_id, started in rows if started is not None}


def _accept_skip_reason(proposal, label: Mapping[str, Any],
                        job_starts: Mapping[int, object]) -> str | None:
    """Return why ``proposal`` may not change an item labeled ``label``, or None."""
    if proposal.state != PENDING:
        return f"proposal {proposal.id} is already {proposal.state}"
    human = label["label_source"] == SOURCE_HUMAN
    if human and proposal.kind != KIND_NOISE:
        return f"item {proposal.item_id} already has a human label"
    flagged_at = job_starts.get(proposal.job_id) or proposal.created_at
    updated_at = label["label_updated_at"]
    if (proposal.kind == KIND_NOISE and human and updated_at is not None
            and updated_at >= flagged_at):
        return (f"item {proposal.item_id} was labeled by a person after the noise job "
                "that flagged it started")
    return None


def accept_proposals(project: Project, proposal_ids: Iterable[int], *, actor: str) -> Decision:
    """Turn pending proposals into labels, as one decision.

    A proposal that is no longer pending, a pseudo or weak label for an
    item a person has labeled, or a noise flag on an item a person labeled
    after the flagging job started, is skipped and named in the result:
    accepting never overwrites a human label that the proposal did not flag.
    Proposals are taken in id order, and each is checked against the label
    that earlier proposals of the batch gave its item.
    """
    with project.write() as session:
        proposals = _proposal_rows(session, proposal_ids)
        decision = _next_decision(session)
        labels = _labels(session, [p.item_id for p in proposals])
        job_starts = _job_starts(session, proposals)
        now = utcnow()
        result = Decision(None)
        events, accepted, changed_items = [], [], set()
        for proposal in proposals:
            label = labels[proposal.item_id]
            reason = _accept_skip_reason(proposal, label, job_starts)
            if reason is not None:
                result.skipped.append(reason)
                continue
            source = SOURCE_OF_KIND[proposal.kind]
            events.append(_event_row(proposal.item_id, label, decision, ACTION_ACCEPT, actor,
                                     class_id=proposal.class_id, source=source,
                                     confidence=proposal.score, proposal_id=proposal.id,
                                     old_proposal_state=proposal.state))
            label.update(label_class_id=proposal.class_id, label_source=source,
                         label_confidence=proposal.score, label_actor=actor,
                         label_updated_at=now)
            changed_items.add(proposal.item_id)
            accepted.append(proposal.id)
        _write_bulk(session, events, {i: labels[i] for i in changed_items},
                    {ACCEPTED: accepted}, actor, now)
        result.changed = len(events)
        if result.changed:
            result.number = decision
    return result


def reject_proposals(project: Project, proposal_ids: Iterable[int], *, actor: str) -> Decision:
    """Reject pending proposals, as one decision; their (item, class) is not proposed again."""
    with project.write() as session:
        proposals = _pending_proposals(session, list(proposal_ids))
        decision = _next_decision(session)
        result = Decision(None)
        items = {item.id: item for item in _load_items(session, [p.item_id for p in proposals])}
        for proposal in proposals:
            if proposal.state != PENDING:
                result.skipped.append(f"proposal {proposal.id} is already {proposal.state}")
                continue
            session.add(_event(items[proposal.item_id], decision, ACTION_REJECT, actor,
                               proposal_id=proposal.id, old_proposal_state=proposal.state))
            _decide(proposal, REJECTED, actor)
            result.changed += 1
        if result.changed:
            result.number = decision
    return result


def assign_class(
    project: Project, proposal_id: int, class_id: int, *, actor: str
) -> Decision:
    """Give a proposal's item another class as a human label, as one decision.

    The proposal is resolved as rejected, so its (item, class) pair is not
    proposed again, and undo restores both the label and the pending
    proposal.
    """
    with project.write() as session:
        if session.get(LabelClass, class_id) is None:
            raise ActionError(f"Class id {class_id} not found. Reload the project.")
        (proposal,) = _pending_proposals(session, [proposal_id])
        if proposal.state != PENDING:
            return Decision(None, 0, [f"proposal {proposal.id} is already {proposal.state}"])
        item = _load_items(session, [proposal.item_id])[0]
        decision = _next_decision(session)
        session.add(_event(item, decision, ACTION_LABEL, actor, class_id=class_id,
                           source=SOURCE_HUMAN, confidence=1.0, proposal_id=proposal.id,
                           old_proposal_state=proposal.state))
        _set_label(item, class_id, SOURCE_HUMAN, 1.0, actor)
        _decide(proposal, REJECTED, actor)
    return Decision(decision, 1)


def _decide(proposal: Proposal, state: str, actor: str | None) -> None:
    proposal.state = state
    proposal.decided_by = actor
    proposal.decided_at = utcnow() if actor else None


def last_undoable_decision(session: Session) -> int | None:
    undone = select(LabelEvent.undoes_decision).where(LabelEvent.action == ACTION_UNDO)
    return session.scalar(
        select(func.max(LabelEvent.decision)).where(
            LabelEvent.action.in_(UNDOABLE_ACTIONS),
            LabelEvent.decision.not_in(undone.where(LabelEvent.undoes_decision.is_not(None))),
        )
    )


def undo_last(project: Project, *, actor: str) -> Decision:
    """Revert the latest decision that is not undone yet, as a new decision.

    Calling it again reverts the decision before that, so undo goes back
    over several levels. Raises ActionError when nothing is left to undo.
    """
    with project.write() as session:
        target = last_undoable_decision(session)
        if target is None:
            raise ActionError("Nothing to undo.")
        # Newest first, so an item changed twice in the decision ends with
        # the label it had before the first change.
        events = session.execute(
            select(LabelEvent.item_id, LabelEvent.old_class_id, LabelEvent.old_source,
                   LabelEvent.old_confidence, LabelEvent.old_actor, LabelEvent.proposal_id,
                   LabelEvent.old_proposal_state)
            .where(LabelEvent.decision == target).order_by(LabelEvent.id.desc())
        ).all()
        decision = _next_decision(session)
        labels = _labels(session, [event.item_id for event in events])
        now = utcnow()
        undo_events, old_states = [], {}
        for event in events:
            label = labels[event.item_id]
            undo_events.append(_event_row(
                event.item_id, label, decision, ACTION_UNDO, actor,
                class_id=event.old_class_id, source=event.old_source,
                confidence=event.old_confidence, proposal_id=event.proposal_id,
                undoes_decision=target))
            label.update(label_class_id=event.old_class_id, label_source=event.old_source,
                         label_confidence=event.old_confidence, label_actor=event.old_actor,
                         label_updated_at=now)
            if event.proposal_id is not None and event.old_proposal_state is not None:
                old_states[event.proposal_id] = event.old_proposal_state
        by_state: dict[str, list[int]] = {}
        for proposal_id, state in old_states.items():
            by_state.setdefault(state, []).append(proposal_id)
        _write_bulk(session, undo_events, labels, by_state, None, None)
    return Decision(decision, len(events))


# Matplotlib's "tab10" colors, so class colors match the plots researchers know.
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)
DEFAULT_SHORTCUTS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "0")


def ensure_classes(
    session: Session, names: Sequence[str], shortcuts: dict[str, str] | None = None
) -> dict[str, int]:
    """Create the classes in ``names`` that do not exist yet; return name to id.

    New classes get the next position, a palette color and, unless
    ``shortcuts`` names one, the next free key of 1 to 9 and 0.
    """
    existing = {c.name: c for c in session.scalars(select(LabelClass)).all()}
    used_keys = {c.shortcut for c in existing.values() if c.shortcut}
    position = max((c.position for c in existing.values()), default=-1) + 1
    for name in names:
        if name in existing:
            continue
        key = (shortcuts or {}).get(name)
        if key is None:
            key = next((k for k in DEFAULT_SHORTCUTS if k not in used_keys), None)
        used_keys.add(key)
        label_class = LabelClass(name=name, position=position, shortcut=key,
                                 color=PALETTE[position % len(PALETTE)])
        session.add(label_class)
        existing[name] = label_class
        position += 1
    session.flush()
    return {name: existing[name].id for name in names}


WEAK_SOURCE_KINDS = ("clip_prompts", "path_rule")


def save_weak_source(
    project: Project, name: str, kind: str, definition: dict, *, enabled: bool = True,
    source_id: int | None = None,
) -> int:
    """Create a weak source, or replace the one with ``source_id``; return its id.

    Weak sources are settings for weak-label jobs, not labels, so saving one
    is not a label event and undo does not revert it.
    """
    name = name.strip()
    if not name:
        raise ActionError("A weak source needs a name.")
    if kind not in WEAK_SOURCE_KINDS:
        raise ActionError(f"Unknown weak source kind {kind!r}; use one of "
                          f"{', '.join(WEAK_SOURCE_KINDS)}.")
    with project.write() as session:
        clash = session.scalar(select(WeakSource).where(WeakSource.name == name))
        if clash is not None and clash.id != source_id:
            raise ActionError(f"A weak source named {name!r} exists; choose another name.")
        source = WeakSource() if source_id is None else session.get(WeakSource, source_id)
        if source is None:
            raise ActionError(f"Weak source {source_id} not found. Reload the project.")
        source.name, source.kind = name, kind
        source.definition, source.enabled = dict(definition), enabled
        session.add(source)
        session.flush()
        return source.id


def delete_weak_source(project: Project, source_id: int) -> None:
    with project.write() as session:
        source = session.get(WeakSource, source_id)
        if source is None:
            raise ActionError(f"Weak source {source_id} not found. Reload the project.")
        session.delete(source)
