"""A person works through the review inbox by keys, in batches, and undoes."""

from __future__ import annotations

from PySide6.QtCore import Qt
from sqlalchemy import select

from workbench.store import queries
from workbench.store.queries import ReviewEntry
from workbench.store.schema import Item, LabelClass, LabelEvent, Proposal
from workbench.ui.review import ProposalModel, evidence_lines

from .conftest import ACTOR, add_proposals, unlabeled_ids

CTRL = Qt.KeyboardModifier.ControlModifier


def _label(project, item_id):
    with project.read() as session:
        item = session.get(Item, item_id)
        name = session.get(LabelClass, item.label_class_id).name if item.label_class_id else None
        return name, item.label_source


def _state(project, proposal_id):
    with project.read() as session:
        return session.get(Proposal, proposal_id).state


def _mixed_queue(project):
    """Four proposal kinds on four items, highest score first: pseudo, weak, noise, new."""
    items = unlabeled_ids(project, 4)
    with project.read() as session:
        labeled = session.scalar(select(Item.id).where(Item.label_source == "imported"))
        given = session.get(LabelClass, session.get(Item, labeled).label_class_id).name
    job = add_proposals(project, [
        (items[0], "1", 0.99, "pseudo_label",
         {"top": [{"class": "1", "p": 0.99}, {"class": "7", "p": 0.01}]}),
        (items[1], "2", 0.97, "weak_label",
         {"votes": {"clip-digits": "2", "rule-folder": None}}),
        (labeled, "8" if given != "8" else "3", 0.95, "noise_flag",
         {"given": given, "suggested": "8" if given != "8" else "3"}),
        (items[2], "4", 0.93, "co_training_label",
         {"views": {"pixels": {"class": "4", "p": 0.9}, "hog": {"class": "4", "p": 0.8}}}),
    ])
    return job, items, labeled


def test_evidence_shown_for_every_kind(qtbot, window):
    _mixed_queue(window.project)
    window.review.reload()
    assert window.review.model.rowCount() == 4
    shown = []
    for _ in range(4):
        shown.append(window.review.details.text())
        window.review.skip()
    assert "Top classes: 1 (p 0.990), 7 (p 0.010)" in shown[0]
    assert "clip-digits: 2" in shown[1]
    assert "rule-folder: abstains" in shown[1]
    assert "Given class:" in shown[2]
    assert "suggested:" in shown[2]
    assert "Current label:" in shown[2]
    assert "(imported)" in shown[2]
    assert "pixels: 4 (p 0.900)" in shown[3]
    assert "hog: 4 (p 0.800)" in shown[3]
    assert "Current label: none" in shown[0]


def test_evidence_of_unknown_shape():
    lines = evidence_lines({"margin": 0.25, "neighbours": [3, 5], "method": "knn"})
    assert "Margin: 0.250" in lines
    assert "Neighbours: [3, 5]" in lines
    assert "Method: knn" in lines


def test_review_by_keys_with_undo(qtbot, window):
    project = window.project
    job, items, labeled = _mixed_queue(project)
    window.review.reload()
    review = window.review
    review.list.setFocus()
    first = review.current()
    qtbot.keyClick(review.list, Qt.Key.Key_A)
    assert _state(project, first["id"]) == "accepted"
    assert _label(project, items[0]) == ("1", "pseudo")

    second = review.current()
    assert second["id"] != first["id"]
    qtbot.keyClick(review.list, Qt.Key.Key_X)
    assert _state(project, second["id"]) == "rejected"
    assert _label(project, items[1]) == (None, None)

    third = review.current()
    qtbot.keyClick(review.list, Qt.Key.Key_Space)
    assert review.current()["id"] != third["id"]
    assert _state(project, third["id"]) == "pending"

    fourth = review.current()
    assert fourth["kind"] == "co_training_label"
    qtbot.keyClick(review.list, Qt.Key.Key_7)
    assert _label(project, items[2]) == ("7", "human")
    assert _state(project, fourth["id"]) == "rejected"
    assert review.model.rowCount() == 1
    with project.read() as session:
        actions_done = list(session.scalars(select(LabelEvent.action).order_by(LabelEvent.id)))
    assert actions_done[-3:] == ["accept", "reject", "label"]

    # Three undos revert the three decisions, newest first.
    qtbot.keyClick(review.list, Qt.Key.Key_Z, CTRL)
    assert _label(project, items[2]) == (None, None)
    assert _state(project, fourth["id"]) == "pending"
    qtbot.keyClick(review.list, Qt.Key.Key_Z, CTRL)
    assert _state(project, second["id"]) == "pending"
    qtbot.keyClick(review.list, Qt.Key.Key_Z, CTRL)
    assert _state(project, first["id"]) == "pending"
    assert _label(project, items[0]) == (None, None)
    assert review.model.rowCount() == 4
    assert review.model.ids() == {first["id"], second["id"], third["id"], fourth["id"]}


def test_grid_row_follows_review_decision(qtbot, window):
    project = window.project
    _job, items, _labeled = _mixed_queue(project)
    window.review.reload()
    resets = []
    window.item_model.modelReset.connect(lambda: resets.append(1))
    window.review.list.setFocus()
    qtbot.keyClick(window.review.list, Qt.Key.Key_A)
    row = window.item_model.row(window.item_model.row_of(items[0]))
    assert row.class_id is not None
    assert row.source == "pseudo"
    assert resets == []


def test_batch_accept_above_threshold_and_undo(qtbot, window):
    project = window.project
    items = unlabeled_ids(project, 40)
    rows = [(item, str(i % 3), 0.5 + i / 100, "pseudo_label", {}) for i, item in
            enumerate(items)]
    # A second, lower proposal for the top item: the batch takes one per item.
    rows.append((items[-1], "5", 0.895, "weak_label", {"votes": {"clip": "5"}}))
    add_proposals(project, rows)
    window.review.reload()
    batch = window.review.batch
    assert sum(batch.bars.getData()[1]) == 41

    batch.threshold.setValue(0.8)
    assert batch.line.value() == 0.8
    # Scores 0.80 .. 0.89 are items 30..39; the weak label shares item 39.
    assert "sets the label of 10 items" in batch.count_label.text()
    assert "1 lower-scored proposal for the same items stays pending" in (
        batch.count_label.text())
    batch.class_box.setCurrentIndex(batch.class_box.findText("0"))
    assert "sets the label of 4 items" in batch.count_label.text()
    batch.class_box.setCurrentIndex(0)

    qtbot.mouseClick(batch.accept_button, Qt.MouseButton.LeftButton)
    with project.read() as session:
        accepted = list(session.scalars(select(Proposal.item_id).where(
            Proposal.state == "accepted")))
        decisions = set(session.scalars(select(LabelEvent.decision).where(
            LabelEvent.action == "accept")))
    assert sorted(accepted) == sorted(items[30:])
    assert len(decisions) == 1
    # Left: the 30 proposals below 0.8 and the weak label of item 39.
    assert window.review.model.rowCount() == 31
    qtbot.waitUntil(lambda: "sets the label of 1 item." in batch.count_label.text())

    window.review.list.setFocus()
    qtbot.keyClick(window.review.list, Qt.Key.Key_Z, CTRL)
    with project.read() as session:
        still_accepted = session.scalar(select(Proposal.id).where(Proposal.state == "accepted"))
    assert still_accepted is None
    assert all(_label(project, item) == (None, None) for item in items[30:])
    assert window.review.model.rowCount() == 41


def test_queue_filters_by_job_kind_and_class(qtbot, window):
    project = window.project
    items = unlabeled_ids(project, 6)
    first = add_proposals(project, [(items[0], "1", 0.9, "pseudo_label", {}),
                                    (items[1], "2", 0.8, "pseudo_label", {})])
    second = add_proposals(project, [(items[2], "1", 0.7, "weak_label", {}),
                                     (items[3], "3", 0.6, "noise_flag", {})],
                           job_kind="weak-labels")
    review = window.review
    review.reload()
    assert review.model.rowCount() == 4
    review.job_box.setCurrentIndex(review.job_box.findData(second))
    assert {row.job_id for row in review.model.rows} == {second}
    review.job_box.setCurrentIndex(review.job_box.findData(first))
    review.class_box.setCurrentIndex(review.class_box.findText("2"))
    assert [row.item_id for row in review.model.rows] == [items[1]]
    review.job_box.setCurrentIndex(0)
    review.class_box.setCurrentIndex(0)
    review.kind_box.setCurrentIndex(review.kind_box.findData("noise_flag"))
    assert [row.item_id for row in review.model.rows] == [items[3]]


def test_human_label_hides_pseudo_proposal(qtbot, window):
    project = window.project
    items = unlabeled_ids(project, 2)
    add_proposals(project, [(items[0], "1", 0.9, "pseudo_label", {}),
                            (items[1], "2", 0.8, "pseudo_label", {})])
    window.review.reload()
    window.grid.select_ids([items[0]])
    window.grid.setFocus()
    qtbot.keyClick(window.grid, Qt.Key.Key_4)
    assert _label(project, items[0]) == ("4", "human")
    assert [row.item_id for row in window.review.model.rows] == [items[1]]
    with project.read() as session:
        history = queries.item_history(session, items[0])
    assert [(e["action"], e["actor"]) for e in history] == [("label", ACTOR)]


def test_queue_model_sorts_unsorted_rows(qtbot):
    rows = [ReviewEntry(id, id, "pseudo_label", 1, score, None, f"{id}.png")
            for id, score in ((1, 0.5), (2, 0.9), (3, 0.5), (4, 0.7))]
    model = ProposalModel()
    model.set_rows(rows)
    assert [row.id for row in model.rows] == [2, 4, 1, 3]
    assert model.row_of(3) == 3
    model.set_rows(model.rows)
    assert [row.id for row in model.rows] == [2, 4, 1, 3]
