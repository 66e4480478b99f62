"""Label, accept, reject and undo on a real SQLite project file."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select, text

from trainers.results import MethodResult, ProposalRow, write_results
from trainers.state import Cancelled, TaskState
from workbench.store import actions, queries
from workbench.store.schema import (
    KIND_PSEUDO,
    Item,
    Job,
    LabelEvent,
    Proposal,
)
from workbench.store.engine import open_project

ACTOR = "user:test"


@pytest.fixture
def project(tmp_path):
    project = open_project(tmp_path / "p", create=True)
    with project.write() as session:
        ids = actions.ensure_classes(session, ["cat", "dog"])
        for i in range(6):
            session.add(Item(path=f"img{i}.png", sha256=f"{i:064d}", width=8, height=8))
    project.class_ids = ids
    yield project
    project.close()


def _item_ids(project) -> list[int]:
    with project.read() as session:
        return list(session.scalars(select(Item.id).order_by(Item.id)))


def _label(project, item_id):
    with project.read() as session:
        item = session.get(Item, item_id)
        return item.label_class_id, item.label_source, item.label_actor


def _add_proposals(project, pairs, kind=KIND_PSEUDO, job_kind="self-training") -> int:
    """Store proposals the way a trainer does; pairs are (item_id, class_id, score)."""
    with project.write() as session:
        job = Job(kind=job_kind, params={}, state="running")
        session.add(job)
        session.flush()
        job_id = job.id
    rows = [ProposalRow(i, c, s, {"top": []}) for i, c, s in pairs]
    write_results(project, job_id, MethodResult(kind, rows), TaskState())
    return job_id


def test_pragmas_on_every_connection(project):
    with project.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 10_000
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 1


def test_label_and_undo_round_trip(project):
    first, second = _item_ids(project)[:2]
    cat = project.class_ids["cat"]
    decision = actions.label_items(project, [first, second], cat, actor=ACTOR)
    assert decision.changed == 2
    assert _label(project, first) == (cat, "human", ACTOR)

    actions.undo_last(project, actor=ACTOR)
    assert _label(project, first) == (None, None, None)
    assert _label(project, second) == (None, None, None)
    with project.read() as session:
        history = queries.label_history(session, first)
    assert [event["action"] for event in history] == ["label", "undo"]


def test_undo_goes_back_several_levels(project):
    item = _item_ids(project)[0]
    cat, dog = project.class_ids["cat"], project.class_ids["dog"]
    actions.label_items(project, [item], cat, actor=ACTOR)
    actions.label_items(project, [item], dog, actor=ACTOR)
    actions.undo_last(project, actor=ACTOR)
    assert _label(project, item)[0] == cat
    actions.undo_last(project, actor=ACTOR)
    assert _label(project, item)[0] is None
    with pytest.raises(actions.ActionError, match="Nothing to undo"):
        actions.undo_last(project, actor=ACTOR)


def test_label_with_nothing_selected_raises(project):
    with pytest.raises(actions.ActionError, match="No items selected"):
        actions.label_items(project, [], project.class_ids["cat"], actor=ACTOR)


def test_accept_sets_source_and_undo_restores_pending(project):
    item = _item_ids(project)[0]
    cat = project.class_ids["cat"]
    _add_proposals(project, [(item, cat, 0.97)])
    with project.read() as session:
        proposal = queries.pending_proposals(session)[0]
    actions.accept_proposals(project, [proposal["id"]], actor=ACTOR)
    assert _label(project, item) == (cat, "pseudo", ACTOR)
    with project.read() as session:
        assert session.get(Proposal, proposal["id"]).state == "accepted"
        event = session.scalars(select(LabelEvent).where(LabelEvent.action == "accept")).one()
        assert event.proposal_id == proposal["id"]
        assert event.new_confidence == pytest.approx(0.97)

    actions.undo_last(project, actor=ACTOR)
    assert _label(project, item) == (None, None, None)
    with project.read() as session:
        assert session.get(Proposal, proposal["id"]).state == "pending"


def test_batch_accept_is_one_undo(project):
    items = _item_ids(project)
    dog = project.class_ids["dog"]
    _add_proposals(project, [(i, dog, 0.9) for i in items])
    with project.read() as session:
        ids = [row["id"] for row in queries.pending_proposals(session)]
    decision = actions.accept_proposals(project, ids, actor=ACTOR)
    assert decision.changed == len(items)
    actions.undo_last(project, actor=ACTOR)
    with project.read() as session:
        assert len(queries.pending_proposals(session)) == len(items)
        assert queries.class_counts(session) == {}


def test_accept_skips_item_labeled_by_a_person(project):
    item = _item_ids(project)[0]
    cat, dog = project.class_ids["cat"], project.class_ids["dog"]
    _add_proposals(project, [(item, dog, 0.99)])
    with project.read() as session:
        proposal_id = queries.pending_proposals(session)[0]["id"]
    actions.label_items(project, [item], cat, actor=ACTOR)
    decision = actions.accept_proposals(project, [proposal_id], actor=ACTOR)
    assert decision.changed == 0
    assert "human label" in decision.skipped[0]
    assert _label(project, item)[:2] == (cat, "human")


def test_accept_with_nothing_pending_raises(project):
    with pytest.raises(actions.ActionError, match="review queue is empty"):
        actions.accept_proposals(project, [], actor=ACTOR)


def test_rejected_pair_is_not_proposed_again(project):
    item = _item_ids(project)[0]
    cat, dog = project.class_ids["cat"], project.class_ids["dog"]
    _add_proposals(project, [(item, cat, 0.95)])
    with project.read() as session:
        proposal_id = queries.pending_proposals(session)[0]["id"]
    actions.reject_proposals(project, [proposal_id], actor=ACTOR)
    _add_proposals(project, [(item, cat, 0.96), (item, dog, 0.5)])
    with project.read() as session:
        pending = queries.pending_proposals(session)
    assert [(row["item_id"], row["class_id"]) for row in pending] == [(item, dog)]


def test_new_job_supersedes_pending_proposals(project):
    items = _item_ids(project)
    cat = project.class_ids["cat"]
    _add_proposals(project, [(items[0], cat, 0.9)])
    _add_proposals(project, [(items[1], cat, 0.9)])
    with project.read() as session:
        states = dict(session.execute(select(Proposal.item_id, Proposal.state)).all())
    assert states == {items[0]: "superseded", items[1]: "pending"}


def test_cancel_during_write_leaves_nothing(project):
    items = _item_ids(project)
    with project.write() as session:
        job = Job(kind="self-training", params={}, state="running")
        session.add(job)
        session.flush()
        job_id = job.id
    state = TaskState()
    state.cancel_requested = True
    rows = [ProposalRow(i, project.class_ids["cat"], 0.9) for i in items]
    with pytest.raises(Cancelled):
        write_results(project, job_id, MethodResult(KIND_PSEUDO, rows), state)
    with project.read() as session:
        assert session.scalar(select(Proposal.id).limit(1)) is None
        assert session.get(Job, job_id).state == "running"


def _flag_noise(project, item_id, suggested) -> int:
    """Store a noise flag from a job started now; return the proposal id."""
    from datetime import timedelta

    from workbench.store.schema import KIND_NOISE, utcnow

    with project.write() as session:
        job = Job(kind="noise", params={}, state="succeeded",
                  started_at=utcnow() - timedelta(seconds=1))
        session.add(job)
        session.flush()
        proposal = Proposal(job_id=job.id, item_id=item_id, kind=KIND_NOISE,
                            class_id=suggested, score=0.99, evidence={}, state="pending")
        session.add(proposal)
        session.flush()
        return proposal.id


def test_noise_flag_spares_later_human_label(project):
    cat, dog = project.class_ids["cat"], project.class_ids["dog"]
    first, second = _item_ids(project)[:2]
    # Both items came with the label "cat" from an import, before the noise job.
    with project.write() as session:
        for item in session.scalars(select(Item).where(Item.id.in_([first, second]))):
            item.label_class_id, item.label_source = cat, "imported"
            item.label_updated_at = datetime(2020, 1, 1)
    stale = _flag_noise(project, first, dog)
    current = _flag_noise(project, second, dog)
    # The person confirms the first item's label after the job started.
    actions.label_items(project, [first], cat, actor=ACTOR)
    with project.read() as session:
        queued = {entry.id for entry in queries.review_queue(session)}
    assert stale not in queued
    assert current in queued
    result = actions.accept_proposals(project, [stale, current], actor=ACTOR)
    assert result.changed == 1
    assert "labeled by a person after the noise job" in result.skipped[0]
    assert _label(project, first)[:2] == (cat, "human")
    assert _label(project, second)[:2] == (dog, "human")
    # Without the person's label, the flag stays reviewable and acceptable.
    actions.undo_last(project, actor=ACTOR)
    actions.undo_last(project, actor=ACTOR)
    assert _label(project, first)[:2] == (cat, "imported")
    result = actions.accept_proposals(project, [stale], actor=ACTOR)
    assert result.changed == 1


def _snapshot(project) -> tuple[dict, dict]:
    """Return every item's label columns and every proposal's decision columns."""
    with project.read() as session:
        items = {row[0]: tuple(row[1:]) for row in session.execute(
            select(Item.id, Item.label_class_id, Item.label_source, Item.label_confidence,
                   Item.label_actor))}
        proposals = {row[0]: tuple(row[1:]) for row in session.execute(
            select(Proposal.id, Proposal.state, Proposal.decided_by, Proposal.decided_at))}
    return items, proposals


def test_mixed_batch_undoes_exactly(project):
    from workbench.store.schema import KIND_WEAK

    items = _item_ids(project)
    cat, dog = project.class_ids["cat"], project.class_ids["dog"]
    with project.write() as session:
        imported = session.get(Item, items[2])
        imported.label_class_id, imported.label_source = cat, "imported"
        imported.label_confidence, imported.label_actor = 1.0, "import:csv"
        imported.label_updated_at = datetime(2020, 1, 1)
    # Proposals are taken in id order: the noise flag first, then the pseudo
    # labels, then the weak labels.
    noise = _flag_noise(project, items[2], dog)
    _add_proposals(project, [(items[0], cat, 0.8), (items[3], dog, 0.9), (items[2], cat, 0.5)])
    _add_proposals(project, [(items[0], dog, 0.7), (items[1], dog, 0.6)], kind=KIND_WEAK,
                   job_kind="zero-shot")
    actions.label_items(project, [items[3]], cat, actor=ACTOR)
    before = _snapshot(project)
    with project.read() as session:
        pending = sorted(session.scalars(select(Proposal.id).where(Proposal.state == "pending")))

    result = actions.accept_proposals(project, pending, actor="user:batch")

    # Item 0 takes its pseudo label, then the weak label over it. The noise
    # flag gives item 2 a human label, so the pseudo label after it is skipped.
    assert result.changed == 4
    assert len(result.skipped) == 2
    assert any(f"item {items[3]} already has a human label" in r for r in result.skipped)
    assert any(f"item {items[2]} already has a human label" in r for r in result.skipped)
    assert _label(project, items[0]) == (dog, "weak", "user:batch")
    assert _label(project, items[1]) == (dog, "weak", "user:batch")
    assert _label(project, items[2]) == (dog, "human", "user:batch")
    assert _label(project, items[3]) == (cat, "human", ACTOR)
    with project.read() as session:
        events = session.scalars(select(LabelEvent).where(
            LabelEvent.decision == result.number).order_by(LabelEvent.id)).all()
        first_item = [(e.old_class_id, e.new_class_id) for e in events if e.item_id == items[0]]
        assert first_item == [(None, cat), (cat, dog)]
        assert {e.action for e in events} == {"accept"}
        assert {e.actor for e in events} == {"user:batch"}
        assert noise in {e.proposal_id for e in events}
        assert all(e.old_proposal_state == "pending" for e in events)

    undone = actions.undo_last(project, actor=ACTOR)
    assert undone.changed == 4
    assert _snapshot(project) == before
    with project.read() as session:
        undo_events = session.scalars(select(LabelEvent).where(
            LabelEvent.decision == undone.number)).all()
    assert {e.undoes_decision for e in undo_events} == {result.number}
    assert len(undo_events) == 4
