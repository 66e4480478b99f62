"""File > Import and File > Export run in the background; the grid shows what came in."""

from __future__ import annotations

import csv
import gzip
import struct
import time

import numpy as np
import pytest
from PIL import Image
from PySide6.QtWidgets import QPushButton

from workbench.store import queries
from workbench.ui import import_export

DEMO_ITEMS = 1797


def _menu_action(window, *titles):
    menu = window.file_menu
    for title in titles[:-1]:
        menu = next(a.menu() for a in menu.actions() if a.text().replace("&", "") == title)
    return next(a for a in menu.actions() if a.text().replace("&", "") == titles[-1])


@pytest.fixture
def new_images(tmp_path):
    root = tmp_path / "new images"
    rng = np.random.default_rng(5)
    for i in range(20):
        folder = root / ("shoe" if i < 12 else "unlabeled")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(
            folder / f"photo {i}.png")
    (root / "shoe" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    return root


def test_import_folder_from_menu(qtbot, window, new_images, monkeypatch):
    monkeypatch.setattr(import_export.QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *args, **kwargs: str(new_images)))
    controller = window.import_export
    with qtbot.waitSignal(controller.finished, timeout=60_000) as finished:
        _menu_action(window, "Import", "Folder tree...").trigger()
        # The menu action returned while the import is still in hand.
        assert controller.busy and controller.progress_dialog is not None
    assert finished.args == [True]
    assert not controller.busy
    assert window.item_model.rowCount() == DEMO_ITEMS + 20
    shoe = next(c for c in window.classes if c.name == "shoe")
    paths = {window.item_model.row(i).path: window.item_model.row(i).class_id
             for i in range(window.item_model.rowCount())}
    assert sum(1 for p, c in paths.items() if "new images/shoe/" in p and c == shoe.id) == 12
    assert window.class_panel.count("shoe", "imported") == 12
    # The new items join the end of the grid, in id order, after the demo's.
    new_rows = [window.item_model.row(i) for i in range(DEMO_ITEMS, DEMO_ITEMS + 20)]
    assert all("new images/" in row.path for row in new_rows)
    assert [row.id for row in new_rows] == sorted(row.id for row in new_rows)
    report = controller.last_report
    assert (report.added, report.labeled) == (20, 12)
    assert [p.rsplit("/", 1)[-1] for p, _ in report.unreadable] == ["broken.jpg"]
    assert "broken.jpg" in controller.report_box.text()
    controller.report_box.close()


def _export_csv_from_menu(qtbot, window, out, monkeypatch) -> list:
    """Run File > Export > CSV with the save dialog returning ``out``; return the result."""
    monkeypatch.setattr(import_export.QFileDialog, "getSaveFileName",
                        staticmethod(lambda *args, **kwargs: (str(out), "")))
    with qtbot.waitSignal(window.import_export.finished, timeout=60_000) as finished:
        _menu_action(window, "Export", "CSV...").trigger()
    return finished.args


def test_export_csv_from_menu(qtbot, window, tmp_path, monkeypatch):
    out = tmp_path / "export" / "labels.csv"
    controller = window.import_export
    assert _export_csv_from_menu(qtbot, window, out, monkeypatch) == [True]
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == DEMO_ITEMS
    assert sum(1 for row in rows if row["label"]) == 50
    controller.report_box.close()


def test_export_replaces_confirmed_file(qtbot, window, tmp_path, monkeypatch):
    # Qt's save dialog confirms with the user before it returns an existing file.
    out = tmp_path / "labels.csv"
    out.write_text("old contents\n", encoding="utf-8")
    assert _export_csv_from_menu(qtbot, window, out, monkeypatch) == [True]
    assert "old contents" not in out.read_text(encoding="utf-8")
    window.import_export.report_box.close()


def _idx(path, array, magic):
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_cancel_changes_nothing(qtbot, window, tmp_path):
    rng = np.random.default_rng(0)
    _idx(tmp_path / "train-images-idx3-ubyte.gz",
         rng.integers(0, 255, (5000, 28, 28), dtype=np.uint8), 0x0803)
    _idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(5000) % 10, 0x0801)
    controller, project = window.import_export, window.project
    with qtbot.waitSignal(controller.finished, timeout=60_000) as finished:
        controller.start_task("Importing IDX", "import-idx",
                              {"path": str(tmp_path / "train-images-idx3-ubyte.gz")},
                              changes_items=True)
        controller.progress_dialog.findChild(QPushButton).click()
    assert finished.args == [False]
    with project.read() as session:
        assert queries.item_count(session) == DEMO_ITEMS
    assert window.item_model.rowCount() == DEMO_ITEMS
    assert "Cancelled" in window.statusBar().currentMessage()


def test_idx_dialog_options(qtbot):
    dialog = import_export.IdxImportDialog()
    qtbot.addWidget(dialog)
    dialog.images.setText(" /data/train-images-idx3-ubyte.gz ")
    dialog.share.setCurrentIndex(dialog.share.findData("per_class"))
    dialog.per_class.setValue(25)
    dialog.seed.setValue(3)
    assert not dialog.fraction.isEnabled()
    assert dialog.options() == {
        "path": "/data/train-images-idx3-ubyte.gz", "split": None, "labels_per_class": 25,
        "labeled_fraction": None, "seed": 3}


def _start_blocked_import(controller, project, tmp_path):
    """Start an import that waits until the returned event is set."""
    import threading

    from workbench.ingest.folder import import_folder

    release = threading.Event()
    (tmp_path / "empty").mkdir()

    def slow_import(progress):
        release.wait(30)
        return import_folder(project, tmp_path / "empty", progress=progress)

    controller.start("Importing", slow_import)
    return release


def test_open_project_waits_for_import(qtbot, window, tmp_path):
    controller, folder = window.import_export, window.project.folder
    with qtbot.waitSignal(controller.finished, timeout=60_000):
        release = _start_blocked_import(controller, window.project, tmp_path)
        assert not window.open_project(folder)
        assert "import or export is running" in window.statusBar().currentMessage()
        assert window.project.folder == folder
        release.set()


def test_new_project_waits_for_import(qtbot, window, tmp_path):
    controller, folder = window.import_export, window.project.folder
    with qtbot.waitSignal(controller.finished, timeout=60_000):
        release = _start_blocked_import(controller, window.project, tmp_path)
        assert not window.new_project(tmp_path / "new project")
        assert "import or export is running" in window.statusBar().currentMessage()
        assert not (tmp_path / "new project").exists()
        assert window.project.folder == folder
        release.set()


def test_import_error_from_worker(qtbot, window, tmp_path, monkeypatch):
    manifest = tmp_path / "labels.csv"
    manifest.write_text("file,label\nmissing.png,cat\n", encoding="utf-8")
    monkeypatch.setattr(import_export.QFileDialog, "getOpenFileName",
                        staticmethod(lambda *args, **kwargs: (str(manifest), "")))
    errors = []
    monkeypatch.setattr(window, "show_error", lambda title, text: errors.append((title, text)))
    controller = window.import_export
    with qtbot.waitSignal(controller.finished, timeout=60_000) as finished:
        _menu_action(window, "Import", "CSV manifest...").trigger()
    # The worker process's IngestError reaches the window as its message.
    assert finished.args == [False]
    assert not controller.busy
    [(title, text)] = errors
    assert title == "Importing labels.csv stopped"
    assert "no 'path' column" in text
    assert "Traceback" not in text
    with window.project.read() as session:
        assert queries.item_count(session) == DEMO_ITEMS


def _answer_close(answer):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    # Another modal box, such as an import's report, may open on top, so
    # the question is found by its name rather than as the active modal.
    def click():
        boxes = [widget for widget in QApplication.topLevelWidgets()
                 if isinstance(widget, QMessageBox) and widget.isVisible()
                 and widget.objectName() == "confirm-close"]
        if boxes:
            boxes[0].button(answer).click()
        else:
            QTimer.singleShot(50, click)
    QTimer.singleShot(50, click)


def test_close_during_import_asks(qtbot, window):
    from PySide6.QtWidgets import QMessageBox

    def wait_for_cancel(progress):
        # Runs until the window's close cancels it, so it cannot end early.
        progress.start("Reading files", 1)
        while not progress.cancelled:
            time.sleep(0.02)
        progress.check()

    controller, folder = window.import_export, window.project.folder
    controller.start("Importing many", wait_for_cancel, changes_items=True)

    _answer_close(QMessageBox.StandardButton.No)
    assert not window.close()
    assert controller.busy

    _answer_close(QMessageBox.StandardButton.Yes)
    assert window.close()
    from workbench.store import open_project

    with open_project(folder) as reopened, reopened.read() as session:
        assert queries.item_count(session) == DEMO_ITEMS


def test_report_waits_for_close_confirmation(qtbot, window, tmp_path):
    """An import that ends during the close confirmation shows its report after it."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    controller = window.import_export
    release = _start_blocked_import(controller, window.project, tmp_path)
    seen = {}

    def answer_no():
        question = next((w for w in QApplication.topLevelWidgets()
                         if isinstance(w, QMessageBox) and w.isVisible()
                         and w.objectName() == "confirm-close"), None)
        if question is None:
            QTimer.singleShot(50, answer_no)
            return
        release.set()
        qtbot.waitUntil(lambda: not controller.busy, timeout=30_000)
        seen["report while asking"] = controller.report_box
        question.button(QMessageBox.StandardButton.No).click()

    QTimer.singleShot(50, answer_no)
    assert not window.close()
    assert seen == {"report while asking": None}
    assert controller.report_box is not None and controller.report_box.isVisible()
    assert controller.report_box.windowTitle() == "Importing"
    assert "Imported 0 images" in controller.report_box.text()
    controller.report_box.close()
