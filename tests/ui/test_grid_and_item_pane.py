"""The grid filters and sorts items, updates rows in place and shows an item's history."""

from __future__ import annotations

from PySide6.QtCore import Qt
from sqlalchemy import select

from workbench.store import actions, queries
from workbench.store.schema import Item, Proposal

from .conftest import ACTOR, add_proposals, unlabeled_ids


def _ids(window):
    return window.item_model.item_ids()


def _scored_project(window):
    project = window.project
    items = unlabeled_ids(project, 5)
    with project.read() as session:
        imported = session.scalar(select(Item.id).where(Item.label_source == "imported"))
    job = add_proposals(project, [
        (items[0], "1", 0.95, "pseudo_label", {}),
        (items[1], "2", 0.55, "pseudo_label", {}),
        (items[2], "3", 0.75, "weak_label", {}),
        (imported, "9", 0.85, "noise_flag", {}),
    ])
    with project.read() as session:
        weak = session.scalar(select(Proposal.id).where(Proposal.item_id == items[2]))
    actions.reject_proposals(project, [weak], actor=ACTOR)
    window.reload_items()
    return job, items, imported


def test_filter_by_proposal_state_and_noise(qtbot, window):
    _job, items, imported = _scored_project(window)
    bar = window.filter_bar
    bar.state_box.setCurrentIndex(bar.state_box.findData("pending"))
    assert sorted(_ids(window)) == sorted([items[0], items[1], imported])
    bar.state_box.setCurrentIndex(bar.state_box.findData("rejected"))
    assert _ids(window) == [items[2]]
    bar.state_box.setCurrentIndex(bar.state_box.findData("none"))
    assert window.item_model.rowCount() == 1797 - 4
    bar.state_box.setCurrentIndex(0)
    bar.noise_box.setChecked(True)
    assert _ids(window) == [imported]


def test_filter_by_score_and_sort(qtbot, window):
    _job, items, imported = _scored_project(window)
    bar = window.filter_bar
    bar.score_min.setValue(0.6)
    bar.score_box.setChecked(True)
    assert sorted(_ids(window)) == sorted([items[0], imported])
    bar.score_max.setValue(0.9)
    assert _ids(window) == [imported]
    bar.score_box.setChecked(False)
    bar.sort_box.setCurrentIndex(bar.sort_box.findData("score"))
    assert _ids(window)[:3] == [items[0], imported, items[1]]
    assert window.item_model.row(0).score == 0.95


def test_filter_by_class_source_and_path(qtbot, window):
    bar = window.filter_bar
    bar.class_box.setCurrentIndex(bar.class_box.findText("7"))
    assert window.item_model.rowCount() == 5
    assert {window.item_model.row(i).source for i in range(5)} == {"imported"}
    bar.class_box.setCurrentIndex(0)
    bar.source_box.setCurrentIndex(bar.source_box.findData("unlabeled"))
    assert window.item_model.rowCount() == 1797 - 50
    bar.source_box.setCurrentIndex(0)
    bar.search_box.setText("digit_001")
    qtbot.keyClick(bar.search_box, Qt.Key.Key_Return)
    assert window.item_model.rowCount() == 10
    assert all("digit_001" in window.item_model.row(i).path for i in range(10))


def test_invalid_score_range_message(qtbot, window):
    bar = window.filter_bar
    bar.score_min.setValue(0.8)
    bar.score_max.setValue(0.2)
    bar.score_box.setChecked(True)
    assert "Score range 0.8 to 0.2 is empty" in window.statusBar().currentMessage()
    assert window.item_model.rowCount() == 1797


def test_label_keys_update_rows_in_place(qtbot, window):
    ids = unlabeled_ids(window.project, 3)
    resets = []
    window.item_model.modelReset.connect(lambda: resets.append(1))
    window.grid.select_ids(ids)
    window.grid.setFocus()
    qtbot.keyClick(window.grid, Qt.Key.Key_0)
    for item_id in ids:
        row = window.item_model.row(window.item_model.row_of(item_id))
        names = {c.id: c.name for c in window.classes}
        assert (row.source, names[row.class_id]) == ("human", "0")
    assert resets == []
    # With the "unlabeled" filter a labeled item leaves the grid, still without a reset.
    window.filter_box.setCurrentIndex(window.filter_box.findData("unlabeled"))
    resets.clear()
    more = unlabeled_ids(window.project, 2)
    window.grid.select_ids(more)
    qtbot.keyClick(window.grid, Qt.Key.Key_5)
    assert all(window.item_model.row_of(i) is None for i in more)
    assert window.item_model.rowCount() == 1797 - 50 - 5
    assert resets == []


def test_class_panel_labels_selection(qtbot, window):
    ids = unlabeled_ids(window.project, 2)
    window.grid.select_ids(ids)
    panel = window.class_panel
    row = next(r for r in range(panel.rowCount()) if panel.item(r, 1).text() == "6")
    panel.cellDoubleClicked.emit(row, 1)
    qtbot.waitUntil(lambda: panel.count("6", "human") == 2)


def test_item_pane_shows_history_and_proposals(qtbot, window):
    project = window.project
    item = unlabeled_ids(project, 1)[0]
    job = add_proposals(project, [(item, "1", 0.9, "pseudo_label", {}),
                                  (item, "7", 0.4, "weak_label", {})])
    with project.read() as session:
        pseudo = session.scalar(select(Proposal.id).where(Proposal.item_id == item,
                                                          Proposal.kind == "pseudo_label"))
    actions.accept_proposals(project, [pseudo], actor=ACTOR)
    actions.label_items(project, [item], window.classes[2].id, actor=ACTOR)
    window.reload_items()
    window.grid.select_ids([item])
    pane = window.item_pane
    assert pane.item_id == item
    assert "Label: 2 (human" in pane.summary.text()
    cells = [[pane.history.item(r, c).text() for c in range(6)]
             for r in range(pane.history.rowCount())]
    # Newest first: the human label, then the accepted proposal with its job.
    assert cells[0][1:5] == ["label", "1 → 2", "human", ACTOR]
    assert cells[1][1:5] == ["accept", "none → 1", "pseudo", ACTOR]
    assert cells[1][5] == f"#{pseudo} from job {job}"
    assert pane.proposals.rowCount() == 1
    assert pane.proposals.item(0, 1).text() == "7"
    with project.read() as session:
        assert len(queries.item_history(session, item)) == 2
    qtbot.waitUntil(lambda: pane.image.pixmap() is not None and not pane.image.pixmap().isNull())


def test_reopen_forgets_thumbnail_failures(qtbot, window):
    row = window.item_model.row(0)
    path = window.project.resolve(row.path)
    good = path.read_bytes()
    path.write_bytes(b"not an image")
    # A copy of the item's hash, so the thumbnail on disk from an earlier
    # paint is not used: request the broken file under a fresh cache folder.
    cache = window.project.cache / "fresh"
    window.thumbnails.get(cache, path, row.sha256 + "x")
    qtbot.waitUntil(lambda: window.thumbnails.error(row.sha256 + "x") is not None,
                    timeout=60_000)
    path.write_bytes(good)
    assert window.open_project(window.project.folder)
    assert window.thumbnails.error(row.sha256 + "x") is None
