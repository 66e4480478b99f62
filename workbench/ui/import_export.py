"""File > Import and File > Export: a dialog, a worker process and a progress dialog.

The ingest functions run in a worker process (workbench.ingest.worker),
watched by a Python thread whose Progress handle turns the child's reports
into queued signals for the GUI thread. The window keeps repainting and the
dialog's Cancel button works while files are read. Reports cross as plain
dataclasses, never ORM objects.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QMenu,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QSpinBox,
    QWidget,
)

from workbench.ingest.common import IngestError
from workbench.ingest.export import ExportError
from workbench.ingest.idx import find_source
from workbench.ingest.images import ImageError
from workbench.ingest.progress import Cancelled, Progress
from workbench.ingest.worker import TaskFailed, run_in_worker
from workbench.store import queries
from workbench.store.engine import ProjectError

log = logging.getLogger(__name__)

EXPECTED_ERRORS = (IngestError, ExportError, ImageError, ProjectError, TaskFailed,
                   FileNotFoundError, OSError)
REPORT_LINES_SHOWN = 12
EXPORT_FILTERS = {"csv": "CSV files (*.csv)", "jsonl": "JSON lines (*.jsonl)"}


class _Signals(QObject):
    progressed = Signal(str, int, int)
    succeeded = Signal(object)
    failed = Signal(str)


class IdxImportDialog(QDialog):
    """Choose an IDX images file and how many of its labels to keep."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Import MNIST IDX files")
        self.images = QLineEdit()
        self.images.setPlaceholderText("train-images-idx3-ubyte.gz")
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.images)
        row.addWidget(browse)
        self.split = QComboBox()
        for title, value in (("From the file name", None), ("train", "train"), ("test", "test")):
            self.split.addItem(title, value)
        self.share = QComboBox()
        for title, value in (("Keep every label", "all"), ("Labels per class", "per_class"),
                             ("Labeled fraction", "fraction")):
            self.share.addItem(title, value)
        self.per_class = QSpinBox()
        self.per_class.setRange(0, 1_000_000)
        self.per_class.setValue(10)
        self.fraction = QDoubleSpinBox()
        self.fraction.setRange(0.0, 1.0)
        self.fraction.setSingleStep(0.01)
        self.fraction.setDecimals(3)
        self.fraction.setValue(0.1)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.share.currentIndexChanged.connect(lambda _: self._update())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Images file", row)
        form.addRow("Split", self.split)
        form.addRow("Labels", self.share)
        form.addRow("Labels per class", self.per_class)
        form.addRow("Labeled fraction", self.fraction)
        form.addRow("Seed", self.seed)
        form.addRow(buttons)
        self._update()

    def _browse(self) -> None:
        file, _ = QFileDialog.getOpenFileName(
            self, "IDX images file", "/usr/share/datasets",
            "IDX images (*-images-idx3-ubyte *-images-idx3-ubyte.gz);;All files (*)")
        if file:
            self.images.setText(file)

    def _update(self) -> None:
        self.per_class.setEnabled(self.share.currentData() == "per_class")
        self.fraction.setEnabled(self.share.currentData() == "fraction")

    def options(self) -> dict[str, Any]:
        """Return the import_idx keyword arguments from the dialog's fields."""
        share = self.share.currentData()
        return {
            "path": self.images.text().strip(),
            "split": self.split.currentData(),
            "labels_per_class": self.per_class.value() if share == "per_class" else None,
            "labeled_fraction": self.fraction.value() if share == "fraction" else None,
            "seed": self.seed.value(),
        }


class ImportExport(QObject):
    """Runs one import or export at a time for the main window."""

    # True when the work succeeded; tests and the window wait on it.
    finished = Signal(bool)

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.progress_dialog: QProgressDialog | None = None
        self.report_box: QMessageBox | None = None
        self.last_report = None
        # While the close confirmation is open, a finished import's report
        # waits here instead of opening on top of it.
        self.reports_held = False
        self._pending_report: tuple[str, str] | None = None
        self._thread: threading.Thread | None = None
        self._progress: Progress | None = None
        self._task: dict[str, Any] = {}
        self._closed = False
        self._signals = _Signals(self)
        self._signals.progressed.connect(self._on_progress)
        self._signals.succeeded.connect(self._on_succeeded)
        self._signals.failed.connect(self._on_failed)

    @property
    def busy(self) -> bool:
        return bool(self._task)

    @property
    def title(self) -> str:
        """The running import's or export's title, such as "Importing photos"; empty when idle."""
        return self._task.get("title", "")

    def add_menus(self, menu: QMenu) -> None:
        imports = menu.addMenu("&Import")
        imports.addAction("&Folder tree...").triggered.connect(self.import_folder)
        imports.addAction("&CSV manifest...").triggered.connect(self.import_csv)
        imports.addAction("MNIST &IDX files...").triggered.connect(self.import_idx)
        exports = menu.addMenu("&Export")
        for title, fmt, mode in (("&CSV...", "csv", "copy"),
                                 ("&JSON lines with label history...", "jsonl", "copy"),
                                 ("Folder tree (&copies)...", "folders", "copy"),
                                 ("Folder tree (&links)...", "folders", "symlink")):
            exports.addAction(title).triggered.connect(
                lambda _=False, f=fmt, m=mode: self.export(f, m))

    # Choosing what to do ---------------------------------------------------

    def _ready(self) -> bool:
        if self.window.project is None:
            self.window.show_message("Open a project first (File > Open project).")
            return False
        if self.busy:
            self.window.show_message("An import or export is already running.")
            return False
        return True

    def import_folder(self) -> None:
        if not self._ready():
            return
        folder = QFileDialog.getExistingDirectory(self.window, "Import a folder tree")
        if folder:
            self.start_task(f"Importing {Path(folder).name}", "import-folder",
                            {"root": folder}, changes_items=True)

    def import_csv(self) -> None:
        if not self._ready():
            return
        file, _ = QFileDialog.getOpenFileName(
            self.window, "Import a CSV manifest", "",
            "Manifests (*.csv *.jsonl);;All files (*)")
        if file:
            self.start_task(f"Importing {Path(file).name}", "import-manifest",
                            {"manifest": file}, changes_items=True)

    def import_idx(self) -> None:
        if not self._ready():
            return
        dialog = IdxImportDialog(self.window)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        options = dialog.options()
        try:
            find_source(options["path"], options["split"])
        except (IngestError, FileNotFoundError) as exc:
            self.window.show_error("Cannot import IDX files", str(exc))
            return
        self.start_task(f"Importing {Path(options['path']).name}", "import-idx", options,
                        changes_items=True)

    def export(self, fmt: str, mode: str = "copy") -> None:
        if not self._ready():
            return
        if fmt == "folders":
            out = QFileDialog.getExistingDirectory(
                self.window, "Export into an empty folder")
        else:
            out, _ = QFileDialog.getSaveFileName(
                self.window, f"Export as {fmt}", f"labels.{fmt}", EXPORT_FILTERS[fmt])
        if out:
            # The save dialog has asked before replacing an existing file.
            self.start_task(f"Exporting to {Path(out).name}", "export",
                            {"fmt": fmt, "out": out, "mode": mode, "overwrite": True})

    # Running it ------------------------------------------------------------

    def start_task(self, title: str, task: str, options: dict[str, Any], *,
                   changes_items: bool = False) -> None:
        """Run a workbench.ingest.worker task on the open project in a worker process."""
        folder = self.window.project.folder
        self.start(title, lambda progress: run_in_worker(task, folder, options, progress),
                   changes_items=changes_items)

    def start(self, title: str, work: Callable[[Progress], Any], *,
              changes_items: bool = False) -> None:
        """Run ``work(progress)`` on a watching thread behind a progress dialog.

        ``work`` should hand heavy work to a process, as start_task does,
        because work done on this thread stalls the window.
        """
        self._progress = Progress(self._signals.progressed.emit)
        self._task = {"title": title, "project": self.window.project,
                      "changes_items": changes_items,
                      "first_new_id": self._next_item_id() if changes_items else None}
        dialog = QProgressDialog(title, "Cancel", 0, 0, self.window)
        dialog.setWindowTitle(title)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(300)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        dialog.canceled.connect(self._progress.cancel)
        self.progress_dialog = dialog
        self._thread = threading.Thread(target=self._run, args=(work, self._progress),
                                        name="import-export", daemon=True)
        self._thread.start()

    def _next_item_id(self) -> int | None:
        """Return the id the next new item gets, or None if it cannot be read."""
        try:
            with self.window.project.read() as session:
                return queries.max_item_id(session) + 1
        except ProjectError:
            return None

    def _run(self, work: Callable[[Progress], Any], progress: Progress) -> None:
        try:
            report = work(progress)
        except Cancelled as exc:
            self._emit(self._signals.failed, str(exc))
        except EXPECTED_ERRORS as exc:
            self._emit(self._signals.failed, str(exc))
        except Exception as exc:  # a bug must reach the user, not end the thread silently
            log.exception("Import or export failed")
            self._emit(self._signals.failed, f"Unexpected error: {exc!r}")
        else:
            self._emit(self._signals.succeeded, report)

    @staticmethod
    def _emit(signal, value) -> None:
        try:
            signal.emit(value)
        except RuntimeError:
            # The window was deleted while the work ran.
            pass

    def _on_progress(self, stage: str, done: int, total: int) -> None:
        dialog = self.progress_dialog
        if self._closed or dialog is None or dialog.wasCanceled():
            return
        dialog.setLabelText(f"{self._task['title']}\n{stage}: {done:,} of {total:,}")
        dialog.setMaximum(max(total, 1))
        dialog.setValue(min(done, max(total, 1)))

    def _finish(self) -> dict[str, Any]:
        if self.progress_dialog is not None:
            self.progress_dialog.close()
            self.progress_dialog.deleteLater()
            self.progress_dialog = None
        if self._thread is not None:
            self._thread.join()
        self._thread = None
        task, self._task = self._task, {}
        return task

    def _on_succeeded(self, report) -> None:
        if self._closed:
            return
        task = self._finish()
        self.last_report = report
        if task["changes_items"] and task["project"] is self.window.project:
            self.window.refresh_after_import(task["first_new_id"])
        summary = report.summary()
        self.window.show_message(summary.splitlines()[0])
        self._show_report(task["title"], summary)
        self.finished.emit(True)

    def _on_failed(self, message: str) -> None:
        if self._closed:
            return
        cancelled = self._progress is not None and self._progress.cancelled
        task = self._finish()
        if cancelled:
            self.window.show_message(f"{task['title']}: {message}")
        else:
            self.window.show_error(f"{task['title']} stopped", message)
        self.finished.emit(False)

    def hold_reports(self) -> None:
        self.reports_held = True

    def release_reports(self) -> None:
        """Show the report that finished while reports were held, if any."""
        self.reports_held = False
        pending, self._pending_report = self._pending_report, None
        if pending and not self._closed:
            self._show_report(*pending)

    def _show_report(self, title: str, summary: str) -> None:
        if self.reports_held:
            self._pending_report = (title, summary)
            return
        lines = summary.splitlines()
        text = "\n".join(lines[:REPORT_LINES_SHOWN])
        if len(lines) > REPORT_LINES_SHOWN:
            text += f"\n... {len(lines) - REPORT_LINES_SHOWN} more lines under Show Details."
        box = QMessageBox(QMessageBox.Icon.Information, title, text, parent=self.window)
        if len(lines) > REPORT_LINES_SHOWN:
            box.setDetailedText(summary)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        self.report_box = box
        box.open()

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Cancel running work and wait for its thread (the window is closing)."""
        self._closed = True
        if self._progress is not None:
            self._progress.cancel()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if not self._thread.is_alive():
                # _closed drops the thread's result, so no task remains.
                self._thread, self._task = None, {}
