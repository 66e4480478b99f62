"""Mistakes in the window give a message in the status bar, never a traceback."""

from __future__ import annotations

from PySide6.QtCore import Qt

from workbench.store import queries
from workbench.ui.main_window import MainWindow


def test_label_key_with_nothing_selected(qtbot, window):
    window.grid.clearSelection()
    window.grid.setFocus()
    qtbot.keyClick(window.grid, Qt.Key.Key_1)
    assert "No items selected" in window.statusBar().currentMessage()


def test_accept_with_nothing_pending(qtbot, window):
    window.grid.setFocus()
    qtbot.keyClick(window.grid, Qt.Key.Key_A)
    assert "review queue is empty" in window.statusBar().currentMessage()


def test_undo_with_nothing_to_undo(qtbot, window):
    qtbot.keyClick(window.grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert "Nothing to undo" in window.statusBar().currentMessage()


def test_job_with_one_labeled_class(qtbot, tmp_path):
    from workbench.ingest.demo import build_demo

    project, _ = build_demo(tmp_path / "d", labels_per_class=0)
    project.close()
    window = MainWindow(actor="user:test")
    qtbot.addWidget(window)
    assert window.open_project(tmp_path / "d")
    assert window.start_job("self-training") is None
    assert "at least two classes" in window.statusBar().currentMessage()
    with window.project.read() as session:
        assert queries.jobs(session) == []
    window.shutdown()


def test_open_folder_without_project(qtbot, tmp_path):
    window = MainWindow(actor="user:test")
    qtbot.addWidget(window)
    assert not window.open_project(tmp_path)
    assert "No workbench project" in window.statusBar().currentMessage()


def test_filters_show_matching_items(qtbot, window):
    index = window.filter_box.findData("unlabeled")
    window.filter_box.setCurrentIndex(index)
    assert window.item_model.rowCount() == 1797 - 50
    window.filter_box.setCurrentIndex(window.filter_box.findData("imported"))
    assert window.item_model.rowCount() == 50
    window.filter_box.setCurrentIndex(window.filter_box.findData("human"))
    assert window.item_model.rowCount() == 0
