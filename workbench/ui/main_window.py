"""The main window: grid, class panel, review queue and jobs."""

from __future__ import annotations

import getpass
import logging
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QToolBar,
)

from workbench.jobs.runner import JobError, recover_stale_jobs
from workbench.jobs.specs import JOB_KINDS, ParamError
from workbench.store import actions, queries
from workbench.store.engine import Project, ProjectError, open_project
from workbench.ui.grid import ItemGrid, ItemModel, ThumbnailCache
from workbench.ui.jobs import JobsPanel, JobSupervisor, job_summary
from workbench.ui.panels import ClassPanel, ReviewPanel

log = logging.getLogger(__name__)

FILTER_TITLES = {
    "all": "All", "unlabeled": "Unlabeled", "human": "Human", "imported": "Imported",
    "pseudo": "Pseudo", "weak": "Weak",
}
STATUS_MS = 8000


def default_actor() -> str:
    try:
        return f"user:{getpass.getuser()}"
    except (KeyError, OSError):
        return "user"


class MainWindow(QMainWindow):
    def __init__(self, actor: str | None = None):
        super().__init__()
        self.actor = actor or default_actor()
        self.project: Project | None = None
        self.classes: list[queries.ClassInfo] = []
        self.setWindowTitle("Workbench")
        self.resize(1400, 900)

        self.thumbnails = ThumbnailCache(size=64, parent=self)
        self.previews = ThumbnailCache(size=160, capacity=200, parent=self)
        self.item_model = ItemModel(self.thumbnails, self)
        self.grid = ItemGrid(self.item_model)
        self.setCentralWidget(self.grid)
        self.grid.setFocus()

        self.class_panel = ClassPanel()
        self.class_panel.class_activated.connect(self.label_selection)
        self.review = ReviewPanel()
        self.supervisor = JobSupervisor(self)
        self.jobs_panel = JobsPanel(self.supervisor)
        self.supervisor.finished.connect(self._on_job_finished)
        self.previews.ready.connect(self._on_preview_ready)
        self.review.list.selectionModel().currentChanged.connect(lambda *_: self._show_current())
        self.review.accept_requested.connect(self.accept_current)
        self.review.reject_requested.connect(self.reject_current)
        self.review.skip_requested.connect(self.review.skip)
        self.review.undo_requested.connect(self.undo)

        self._add_dock("Classes", self.class_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._add_dock("Review", self.review, Qt.DockWidgetArea.RightDockWidgetArea)
        self._add_dock("Jobs", self.jobs_panel, Qt.DockWidgetArea.BottomDockWidgetArea)
        self._build_toolbar()
        self._build_actions()
        self.status_label = QLabel("")
        self.statusBar().addPermanentWidget(self.status_label)
        self._class_shortcuts: list[QAction] = []
        self._restore_geometry()

    # Layout ---------------------------------------------------------------

    def _add_dock(self, title: str, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title.lower()}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_toolbar(self) -> None:
        bar = QToolBar("Main")
        bar.setObjectName("toolbar-main")
        self.addToolBar(bar)
        bar.addWidget(QLabel(" Show: "))
        self.filter_box = QComboBox()
        for key, title in FILTER_TITLES.items():
            self.filter_box.addItem(title, key)
        self.filter_box.currentIndexChanged.connect(lambda _: self.reload_items())
        bar.addWidget(self.filter_box)
        self.search_box = QLineEdit()
        self.search_box.setPlaceholderText("Filter by path")
        self.search_box.setClearButtonEnabled(True)
        self.search_box.setMaximumWidth(260)
        self.search_box.returnPressed.connect(self.reload_items)
        bar.addWidget(self.search_box)
        bar.addSeparator()
        self.run_actions: dict[str, QAction] = {}
        for kind in JOB_KINDS.values():
            action = bar.addAction(f"Run {kind.title.lower()}")
            action.setToolTip(kind.description)
            action.triggered.connect(lambda _=False, name=kind.name: self.start_job(name))
            self.run_actions[kind.name] = action

    def _build_actions(self) -> None:
        menu = self.menuBar().addMenu("&File")
        open_action = menu.addAction("&Open project...")
        open_action.setShortcut(QKeySequence.StandardKey.Open)
        open_action.triggered.connect(self._choose_project)
        menu.addSeparator()
        quit_action = menu.addAction("&Quit")
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)

        review = self.menuBar().addMenu("&Review")
        self.accept_action = self._shortcut(review, "Accept", "A", self.accept_current)
        self.reject_action = self._shortcut(review, "Reject", "X", self.reject_current)
        self.skip_action = self._shortcut(review, "Skip", "Space", self.review.skip)
        self.undo_action = self._shortcut(review, "Undo", QKeySequence.StandardKey.Undo, self.undo)
        self.label_menu = self.menuBar().addMenu("&Label")

    def _shortcut(self, menu, text, key, slot) -> QAction:
        action = menu.addAction(text)
        action.setShortcut(QKeySequence(key))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(slot)
        return action

    def _rebuild_class_shortcuts(self) -> None:
        self.label_menu.clear()
        self._class_shortcuts = []
        for info in self.classes:
            action = self.label_menu.addAction(f"Label as {info.name}")
            if info.shortcut:
                action.setShortcut(QKeySequence(info.shortcut))
            action.triggered.connect(lambda _=False, class_id=info.id: self.label_selection(class_id))
            self._class_shortcuts.append(action)

    def _restore_geometry(self) -> None:
        settings = QSettings()
        geometry = settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
            self.restoreState(settings.value("window/state"))

    # Project --------------------------------------------------------------

    def _choose_project(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open project folder")
        if folder:
            self.open_project(Path(folder))

    def open_project(self, folder: Path) -> bool:
        """Open a project folder; a problem shows as a message and returns False."""
        try:
            project = open_project(folder)
        except ProjectError as exc:
            self.show_error("Cannot open project", str(exc))
            return False
        if self.project is not None:
            self.supervisor.cancel_all(wait_ms=3000)
            self.project.close()
        self.project = project
        self.supervisor.project = project
        recover_stale_jobs(project)
        self.item_model.cache_folder = project.cache
        self.item_model.resolve = project.resolve
        self.setWindowTitle(f"Workbench - {project.folder.name}")
        self.refresh_all()
        with project.read() as session:
            self.jobs_panel.load(queries.jobs(session))
        return True

    def refresh_all(self) -> None:
        self.reload_classes()
        self.reload_items()
        self.reload_review()

    def reload_classes(self) -> None:
        with self.project.read() as session:
            self.classes = queries.classes(session)
            counts = queries.class_counts(session)
            total = queries.item_count(session)
        self.class_panel.set_counts(self.classes, counts)
        self._rebuild_class_shortcuts()
        labeled = sum(sum(by_source.values()) for by_source in counts.values())
        self.status_label.setText(f"{total} items, {labeled} labeled")

    def current_filter(self) -> str:
        return self.filter_box.currentData()

    def reload_items(self) -> None:
        if self.project is None:
            return
        with self.project.read() as session:
            rows = queries.items(session, self.current_filter(), self.search_box.text().strip())
        self.item_model.set_rows(rows, self.classes)

    def _refresh_items(self, item_ids: list[int]) -> None:
        """Repaint changed items in place, or reload when the filter may hide them."""
        if self.current_filter() != "all" or self.search_box.text().strip():
            self.reload_items()
            return
        with self.project.read() as session:
            rows = {row.id: row for row in queries.items(session) if row.id in set(item_ids)}
        self.item_model.update_rows(rows)

    def reload_review(self, keep_row: int = 0) -> None:
        with self.project.read() as session:
            rows = queries.pending_proposals(session)
        self.review.set_rows(rows, keep_row)
        self._show_current()

    def _show_current(self) -> None:
        row = self.review.current()
        if row is None or self.project is None:
            return
        sha = row["sha256"]
        pixmap = self.previews.get(self.project.cache, self.project.resolve(row["path"]), sha)
        self._preview_sha = sha
        self.review.show_preview(pixmap, row)

    def _on_preview_ready(self, sha256: str) -> None:
        if getattr(self, "_preview_sha", None) == sha256:
            self._show_current()

    # Messages -------------------------------------------------------------

    def show_message(self, text: str) -> None:
        log.info("%s", text)
        self.statusBar().showMessage(text, STATUS_MS)

    def show_error(self, title: str, text: str) -> None:
        log.warning("%s: %s", title, text)
        self.statusBar().showMessage(f"{title}: {text.splitlines()[0]}", STATUS_MS * 2)
        if self.isVisible():
            box = QMessageBox(QMessageBox.Icon.Warning, title, text, parent=self)
            box.setWindowModality(Qt.WindowModality.WindowModal)
            box.open()

    def _require_project(self) -> bool:
        if self.project is None:
            self.show_message("Open a project first (File > Open project).")
            return False
        return True

    # User actions ---------------------------------------------------------

    def label_selection(self, class_id: int) -> None:
        if not self._require_project():
            return
        try:
            decision = actions.label_items(self.project, self.grid.selected_item_ids(), class_id,
                                           actor=self.actor)
        except actions.ActionError as exc:
            self.show_message(str(exc))
            return
        name = next(c.name for c in self.classes if c.id == class_id)
        self.show_message(f"Labeled {decision.changed} items as {name}.")
        self._refresh_items(self.grid.selected_item_ids())
        self.reload_classes()
        self.reload_review(self.review.current_row() or 0)

    def accept_current(self) -> None:
        self._decide(actions.accept_proposals, "Accepted")

    def reject_current(self) -> None:
        self._decide(actions.reject_proposals, "Rejected")

    def _decide(self, action, verb: str) -> None:
        if not self._require_project():
            return
        row = self.review.current()
        if row is None:
            self.show_message("No proposal to decide on: the review queue is empty. "
                              "Run a job to get proposals.")
            return
        position = self.review.current_row()
        try:
            decision = action(self.project, [row["id"]], actor=self.actor)
        except actions.ActionError as exc:
            self.show_message(str(exc))
            return
        if decision.skipped:
            self.show_message(f"{verb} nothing: {'; '.join(decision.skipped)}.")
        else:
            self.show_message(f"{verb} {row['class_name']} for {row['path']}.")
        self._refresh_items([row["item_id"]])
        self.reload_classes()
        self.reload_review(position or 0)

    def undo(self) -> None:
        if not self._require_project():
            return
        try:
            decision = actions.undo_last(self.project, actor=self.actor)
        except actions.ActionError as exc:
            self.show_message(str(exc))
            return
        self.show_message(f"Undid the last decision ({decision.changed} changes).")
        self.reload_classes()
        self.reload_items()
        self.reload_review(self.review.current_row() or 0)

    def start_job(self, kind: str, params: dict | None = None) -> int | None:
        if not self._require_project():
            return None
        try:
            job_id = self.supervisor.start(kind, params)
        except (JobError, ParamError) as exc:
            self.show_error(f"Cannot start {kind}", str(exc))
            return None
        self.jobs_panel.add_job(job_id, kind, "queued")
        self.show_message(f"Started {kind} (job {job_id}).")
        return job_id

    def _on_job_finished(self, job_id: int, _state: str) -> None:
        state, error, summary = job_summary(self.project, job_id)
        self.jobs_panel.on_finished(job_id, state, error, summary)
        if state == "failed":
            self.show_error(f"Job {job_id} failed", error or "no reason given")
        else:
            self.show_message(f"Job {job_id} {state}: {summary}.")
        self.reload_review(self.review.current_row() or 0)
        self.reload_classes()

    # Closing --------------------------------------------------------------

    def closeEvent(self, event) -> None:
        if self.supervisor.running:
            answer = QMessageBox.question(
                self, "Jobs are running",
                f"{len(self.supervisor.running)} jobs are running. Cancel them and quit?",
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.shutdown()
        settings = QSettings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState())
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Cancel running jobs, wait for them and close the project."""
        self.supervisor.cancel_all(wait_ms=int(2000 + 500))
        self.thumbnails.clear()
        self.previews.clear()
        if self.project is not None:
            self.project.close()
            self.project = None
