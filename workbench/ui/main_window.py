"""The main window: grid with filters, item pane, classes, review inbox, jobs, embedding."""

from __future__ import annotations

import gc
import getpass
import logging
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from workbench.jobs.runner import JobError, recover_stale_jobs
from workbench.jobs.specs import JOB_KINDS, ParamError
from workbench.settings import Settings, SettingsError, load_settings, save_settings
from workbench.store import actions, queries
from workbench.store.engine import Project, ProjectError, open_project
from workbench.ui.filters import FilterBar
from workbench.ui.grid import ItemGrid, ItemModel
from workbench.ui.import_export import ImportExport
from workbench.ui.item_pane import ItemPane
from workbench.ui.jobs import JobsPanel, JobSupervisor, job_summary
from workbench.ui.panels import ClassPanel
from workbench.ui.review import BULK_CHANGE, ReviewPanel
from workbench.ui.scatter import EmbeddingView
from workbench.ui.settings_dialog import SettingsDialog
from workbench.ui.thumbnail_cache import ThumbnailCache, ThumbnailWorkers
from workbench.ui.weak_sources import WeakSourcesEditor
from workbench.ui.widgets import wait_cursor

log = logging.getLogger(__name__)

STATUS_MS = 8000
# How long closing waits for cancelled trainer processes before killing them.
CLOSE_WAIT_MS = 2500
MAX_HIGHLIGHTED = 5000


def default_actor() -> str:
    try:
        return f"user:{getpass.getuser()}"
    except (KeyError, OSError):
        return "user"


class MainWindow(QMainWindow):
    def __init__(self, actor: str | None = None, settings: Settings | None = None):
        super().__init__()
        self.actor = actor or default_actor()
        self.settings = settings or load_settings()
        self.project: Project | None = None
        self.classes: list[queries.ClassInfo] = []
        self.setWindowTitle("Workbench")
        self.resize(1500, 950)
        size = self.settings.thumbnail_size
        self.thumbnail_workers = ThumbnailWorkers()
        self.thumbnails = ThumbnailCache(size=size, workers=self.thumbnail_workers, parent=self)
        self.previews = ThumbnailCache(size=200, capacity=300, workers=self.thumbnail_workers,
                                       parent=self)
        self._build_widgets()
        self._connect()
        self._build_menus()
        self.status_label = QLabel("")
        self.statusBar().addPermanentWidget(self.status_label)
        # Class counts follow label changes a moment later, so a keypress
        # does not wait for a count over every item.
        self._counts_timer = QTimer(self)
        self._counts_timer.setSingleShot(True)
        self._counts_timer.setInterval(250)
        self._counts_timer.timeout.connect(self.reload_counts)
        self._restore_geometry()

    # Layout ---------------------------------------------------------------

    def _build_widgets(self) -> None:
        self.item_model = ItemModel(self.thumbnails, self)
        self.grid = ItemGrid(self.item_model)
        self.filter_bar = FilterBar()
        # The source filter and path box, under the names older code uses.
        self.filter_box = self.filter_bar.source_box
        self.search_box = self.filter_bar.search_box
        center = QWidget()
        layout = QVBoxLayout(center)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.filter_bar)
        layout.addWidget(self.grid, 1)
        self.setCentralWidget(center)
        self.grid.setFocus()
        self.class_panel = ClassPanel()
        self.item_pane = ItemPane(self.previews)
        self.review = ReviewPanel(self.previews, self.settings.accept_threshold)
        self.review.actor = self.actor
        self.supervisor = JobSupervisor(self, threads_per_job=self.settings.job_threads)
        self.jobs_panel = JobsPanel(self.supervisor, self._job_defaults())
        self.embedding = EmbeddingView(self.thumbnails)
        self.weak_sources = WeakSourcesEditor()
        # The class list and the item pane run the window's full height.
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.docks = {
            "classes": self._add_dock("Classes", self.class_panel,
                                      Qt.DockWidgetArea.LeftDockWidgetArea),
            "item": self._add_dock("Item", self.item_pane, Qt.DockWidgetArea.LeftDockWidgetArea),
            "review": self._add_dock("Review", self.review,
                                     Qt.DockWidgetArea.RightDockWidgetArea),
            "weak": self._add_dock("Weak sources", self.weak_sources,
                                   Qt.DockWidgetArea.RightDockWidgetArea),
            "jobs": self._add_dock("Jobs", self.jobs_panel,
                                   Qt.DockWidgetArea.BottomDockWidgetArea),
            "embedding": self._add_dock("Embedding", self.embedding,
                                        Qt.DockWidgetArea.BottomDockWidgetArea),
        }
        # Both load their data only while their dock is on screen.
        for name, view in (("weak", self.weak_sources), ("embedding", self.embedding)):
            view.set_on_screen(False)
            self.docks[name].visibilityChanged.connect(view.set_on_screen)
        self.tabifyDockWidget(self.docks["review"], self.docks["weak"])
        self.tabifyDockWidget(self.docks["jobs"], self.docks["embedding"])
        self.docks["review"].raise_()
        self.docks["jobs"].raise_()

    def _add_dock(self, title: str, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title.lower().replace(' ', '-')}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _connect(self) -> None:
        self.class_panel.class_activated.connect(self.label_selection)
        self.filter_bar.changed.connect(self.reload_items)
        self.grid.selectionModel().selectionChanged.connect(lambda *_: self._on_grid_selection())
        self.grid.selectionModel().currentChanged.connect(lambda *_: self._on_grid_selection())
        self.review.decided.connect(self._after_review_decision)
        self.review.message.connect(self.show_message)
        self.weak_sources.message.connect(self.show_message)
        self.supervisor.finished.connect(self._on_job_finished)
        self.supervisor.queued.connect(lambda job_id: self.show_message(
            f"Job {job_id} is queued; it starts when the running job ends."))
        self.jobs_panel.launcher.launch_requested.connect(self.start_job)
        self.embedding.selection_changed.connect(self.filter_bar.set_item_ids)
        self.embedding.item_clicked.connect(self._on_point_clicked)

    def _build_jobs_menu(self) -> None:
        """Build the Jobs menu: one entry per declared job kind, run with the user's defaults.

        The Jobs panel's form offers every parameter; the menu is the quick way.
        """
        menu = self.menuBar().addMenu("&Jobs")
        self.run_actions: dict[str, QAction] = {}
        for kind in JOB_KINDS.values():
            action = menu.addAction(f"Run {kind.title.lower()}")
            action.setToolTip(kind.description)
            action.triggered.connect(lambda _=False, name=kind.name: self.start_job(name))
            self.run_actions[kind.name] = action

    def _build_menus(self) -> None:
        self.file_menu = menu = self.menuBar().addMenu("&File")
        new_action = menu.addAction("&New project...")
        new_action.setShortcut(QKeySequence.StandardKey.New)
        new_action.triggered.connect(self._choose_new_project)
        open_action = menu.addAction("&Open project...")
        open_action.setShortcut(QKeySequence.StandardKey.Open)
        open_action.triggered.connect(self._choose_project)
        self.recent_menu = menu.addMenu("Open &recent")
        self._rebuild_recent_menu()
        menu.addSeparator()
        self.import_export = ImportExport(self)
        self.import_export.add_menus(menu)
        menu.addSeparator()
        menu.addAction("&Settings...").triggered.connect(self.edit_settings)
        menu.addSeparator()
        quit_action = menu.addAction("&Quit")
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)

        review = self.menuBar().addMenu("&Review")
        self.accept_action = self._shortcut(review, "Accept", "A", self.review.accept_current)
        self.reject_action = self._shortcut(review, "Reject", "X", self.review.reject_current)
        self.skip_action = self._shortcut(review, "Skip", "Space", self.review.skip)
        self.undo_action = self._shortcut(review, "Undo", QKeySequence.StandardKey.Undo,
                                          self.undo)
        self.label_menu = self.menuBar().addMenu("&Label")
        self._class_shortcuts: list[QAction] = []
        self._build_jobs_menu()
        view = self.menuBar().addMenu("&View")
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())

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
            action.triggered.connect(lambda _=False, class_id=info.id: self.class_key(class_id))
            self._class_shortcuts.append(action)

    def _restore_geometry(self) -> None:
        settings = QSettings()
        geometry = settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
            self.restoreState(settings.value("window/state"))
            return
        # First start: room for ten class rows above the item pane. Qt sizes
        # docks only once the window is laid out, so this waits for the loop.
        QTimer.singleShot(0, self._default_dock_sizes)

    def _default_dock_sizes(self) -> None:
        docks = self.docks
        self.resizeDocks([docks["classes"], docks["item"]], [300, 600], Qt.Orientation.Vertical)

    # Project --------------------------------------------------------------

    def _choose_project(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open project folder")
        if folder:
            self.open_project(Path(folder))

    def _choose_new_project(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose an empty folder for the project")
        if folder:
            self.new_project(Path(folder))

    def new_project(self, folder: Path) -> bool:
        """Create an empty project in ``folder`` and open it."""
        # Checked before the folder is written, because open_project would
        # reject the new project and leave it behind.
        if self._import_running():
            return False
        if (folder / "project.sqlite").exists():
            self.show_error("Cannot create project",
                            f"{folder} already has a project. Open it with File > Open project.")
            return False
        try:
            open_project(folder, create=True).close()
        except (ProjectError, OSError) as exc:
            self.show_error("Cannot create project", str(exc))
            return False
        return self.open_project(folder)

    def _import_running(self) -> bool:
        """Show a status message and return True while an import or export runs."""
        if not self.import_export.busy:
            return False
        self.show_message("An import or export is running; wait for it to finish "
                          "or cancel it, then open the other project.")
        return True

    def open_project(self, folder: Path) -> bool:
        """Open a project folder; a problem shows as a message and returns False."""
        if self._import_running():
            return False
        try:
            project = open_project(folder)
        except ProjectError as exc:
            self.show_error("Cannot open project", str(exc))
            return False
        if self.project is not None:
            self.supervisor.cancel_all(wait_ms=CLOSE_WAIT_MS)
            self.project.close()
        self.project = project
        self.supervisor.project = project
        # Thumbnails and their failures are by file hash, which another
        # project or a repaired file may not share.
        self.thumbnails.clear()
        self.previews.clear()
        recover_stale_jobs(project)
        self.item_model.cache_folder = project.cache
        self.item_model.resolve = project.resolve
        self.item_pane.project = project
        self.setWindowTitle(f"Workbench - {project.folder.name}")
        self._remember_recent(project.folder)
        self.filter_bar.blockSignals(True)
        self.filter_bar.set_item_ids(None)
        self.filter_bar.blockSignals(False)
        self.refresh_all()
        with project.read() as session:
            self.jobs_panel.load(queries.jobs(session))
        return True

    def _remember_recent(self, folder: Path) -> None:
        self.settings.add_recent(folder)
        try:
            save_settings(self.settings)
        except (OSError, SettingsError) as exc:
            log.warning("Cannot save the recent projects list: %s", exc)
        self._rebuild_recent_menu()

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        for folder in self.settings.recent_projects:
            action = self.recent_menu.addAction(folder)
            action.triggered.connect(lambda _=False, f=folder: self.open_project(Path(f)))
        self.recent_menu.setEnabled(bool(self.settings.recent_projects))

    def refresh_all(self) -> None:
        """Reload every view from the store.

        The rows of a large project are hundreds of thousands of tracked
        objects, and a full garbage collection over them stalled the event
        loop for 90 ms at 70,000 items. They are moved out of the collector's
        reach (``gc.freeze``) until the next reload; the rows hold no
        reference cycles, so reference counting still frees them.
        """
        gc.unfreeze()
        self.reload_classes()
        self.reload_items()
        self.review.set_project(self.project, self.classes)
        self.embedding.set_project(self.project, self.classes)
        self.weak_sources.set_project(self.project, self.classes)
        gc.freeze()

    def refresh_after_import(self, first_new_id: int | None = None) -> None:
        """Show what an import changed: classes, counts, new grid rows, source statistics.

        An import adds items and never touches existing ones. New items have
        no proposals or projection points yet, so the review queue and the
        scatter keep their rows. The grid gains the items from
        ``first_new_id`` on, or is reloaded whole without one.
        """
        gc.unfreeze()
        self.reload_classes()
        if first_new_id is None:
            self.reload_items()
        else:
            self.item_model.insert_rows(self._visible_rows(first_id=first_new_id),
                                        self._sort_key())
        self.review.set_classes(self.classes)
        self.embedding.classes = self.classes
        self.weak_sources.set_project(self.project, self.classes)
        gc.freeze()

    def reload_classes(self) -> None:
        with self.project.read() as session:
            self.classes = queries.classes(session)
        self.filter_bar.set_classes(self.classes)
        self._rebuild_class_shortcuts()
        self.reload_counts()

    def reload_counts(self) -> None:
        if self.project is None:
            return
        with self.project.read() as session:
            counts = queries.class_counts(session)
            total = queries.item_count(session)
        self.class_panel.set_counts(self.classes, counts)
        labeled = sum(sum(by_source.values()) for by_source in counts.values())
        self.status_label.setText(f"{total} items, {labeled} labeled")

    def current_filter(self) -> str:
        return self.filter_box.currentData()

    def _visible_rows(self, item_ids: list[int] | None = None, *,
                      first_id: int | None = None) -> list[queries.ItemRow]:
        with self.project.read() as session:
            rows = queries.filtered_items(session, self.filter_bar.spec(), item_ids,
                                          first_id=first_id)
        allowed = self.filter_bar.item_ids
        return rows if allowed is None else [row for row in rows if row.id in allowed]

    def reload_items(self) -> None:
        if self.project is None:
            return
        try:
            rows = self._visible_rows()
        except ValueError as exc:
            self.show_message(str(exc))
            return
        self.item_model.set_rows(rows, self.classes)
        self._on_grid_selection()

    def refresh_items(self, item_ids: list[int]) -> None:
        """Update the grid rows of these items in place, adding or dropping them as the
        filter now decides; many changes reload the grid once instead."""
        if self.project is None or not item_ids:
            return
        if len(item_ids) > BULK_CHANGE:
            self.reload_items()
            return
        fresh = {row.id: row for row in self._visible_rows(item_ids)}
        self.item_model.remove_ids([i for i in item_ids if i not in fresh])
        self.item_model.update_rows(fresh)
        missing = [row for row in fresh.values() if self.item_model.row_of(row.id) is None]
        if missing:
            self.item_model.insert_rows(missing, self._sort_key())
        self._on_grid_selection()

    def _sort_key(self):
        if self.filter_bar.spec().sort == "score":
            return lambda row: (row.score is None, -(row.score or 0.0), row.id)
        return lambda row: row.id

    def _on_grid_selection(self) -> None:
        selected = self.grid.selected_item_ids()
        current = self.grid.currentIndex()
        item_id = self.item_model.row(current.row()).id if current.isValid() else None
        if selected and item_id not in selected:
            item_id = selected[0]
        self.item_pane.show_item(item_id)
        self.embedding.highlight_items(selected[:MAX_HIGHLIGHTED])

    def _on_point_clicked(self, item_id: int) -> None:
        if self.item_model.row_of(item_id) is None:
            self.filter_bar.set_item_ids(None)
            if self.item_model.row_of(item_id) is None:
                self.show_message(f"Item {item_id} is hidden by the grid's filters.")
                self.item_pane.show_item(item_id)
                return
        self.grid.select_ids([item_id])

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

    def class_key(self, class_id: int) -> None:
        """Handle a class key: assign in the review panel when it has focus, else label the grid."""
        focus = QApplication.focusWidget()
        if focus is not None and (focus is self.review or self.review.isAncestorOf(focus)):
            self.review.assign_current(class_id)
        else:
            self.label_selection(class_id)

    def label_selection(self, class_id: int) -> None:
        if not self._require_project():
            return
        selected = self.grid.selected_item_ids()
        try:
            decision = actions.label_items(self.project, selected, class_id, actor=self.actor)
        except (actions.ActionError, ProjectError) as exc:
            self.show_message(str(exc))
            return
        name = next(c.name for c in self.classes if c.id == class_id)
        self.show_message(f"Labeled {decision.changed} items as {name}.")
        self._after_label_change(selected)

    def _after_review_decision(self, item_ids: list[int]) -> None:
        self.refresh_items(item_ids)
        self.embedding.update_items(item_ids)
        self._counts_timer.start()

    def _after_label_change(self, item_ids: list[int], proposal_ids=()) -> None:
        """Refresh what a label change touched: grid rows, queue entries, points, counts."""
        self.refresh_items(item_ids)
        if len(item_ids) > BULK_CHANGE:
            self.review.reload(self.review.current_row() or 0)
        else:
            with self.project.read() as session:
                pending = queries.pending_proposal_ids(session, item_ids)
            self.review.sync([*pending, *proposal_ids])
        self.embedding.update_items(item_ids)
        self._counts_timer.start()

    def undo(self) -> None:
        if not self._require_project():
            return
        try:
            with wait_cursor():
                decision = actions.undo_last(self.project, actor=self.actor)
        except (actions.ActionError, ProjectError) as exc:
            self.show_message(str(exc))
            return
        with self.project.read() as session:
            item_ids, proposal_ids = queries.decision_changes(session, decision.number)
        self.show_message(f"Undid the last decision ({decision.changed} changes).")
        self._after_label_change(item_ids, proposal_ids)

    def start_job(self, kind: str, params: dict | None = None) -> int | None:
        if not self._require_project():
            return None
        if params is None:
            params = self._form_defaults(kind)
        try:
            job_id = self.supervisor.start(kind, params)
        except (JobError, ParamError) as exc:
            self.show_error(f"Cannot start {kind}", str(exc))
            return None
        self.jobs_panel.add_job(job_id, kind, "queued")
        self.jobs_panel.select_job(job_id)
        self.show_message(f"Started {kind} (job {job_id}).")
        return job_id

    def _job_defaults(self) -> dict:
        return {"device": self.settings.device, "threshold": self.settings.job_threshold}

    def _form_defaults(self, kind: str) -> dict:
        """Return the user's defaults for the parameters this kind declares."""
        names = {param.name for param in JOB_KINDS[kind].params} if kind in JOB_KINDS else set()
        return {name: value for name, value in self._job_defaults().items() if name in names}

    def _on_job_finished(self, job_id: int, _state: str) -> None:
        if self.project is None:
            return
        state, error, summary = job_summary(self.project, job_id)
        self.jobs_panel.on_finished(job_id, state, error, summary)
        if state == "failed":
            self.show_error(f"Job {job_id} failed", error or "no reason given")
        else:
            self.show_message(f"Job {job_id} {state}: {summary}.")
        if state == "succeeded":
            self.review.reload(self.review.current_row() or 0)
            self.embedding.reload_projections()
            self.weak_sources.reload()
            self.reload_items()
            self.reload_counts()

    def edit_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.accepted.connect(lambda: self.apply_settings(dialog.result_settings()))
        dialog.open()

    def apply_settings(self, settings: Settings) -> None:
        """Save new settings and apply them; an invalid value shows a message."""
        try:
            save_settings(settings)
        except (OSError, SettingsError) as exc:
            self.show_message(f"Settings not saved: {exc}")
            return
        self.settings = settings
        self.supervisor.threads_per_job = settings.job_threads
        self.jobs_panel.launcher.defaults = self._job_defaults()
        self.jobs_panel.launcher.refresh()
        self.review.batch.threshold.setValue(settings.accept_threshold)
        if settings.thumbnail_size != self.thumbnails.size:
            self.thumbnails.clear()
            self.thumbnails.size = settings.thumbnail_size
            self.grid.set_thumbnail_size(settings.thumbnail_size)
        self.show_message("Settings saved.")

    # Closing --------------------------------------------------------------

    def confirm_close(self) -> bool:
        """Ask whether to cancel running jobs and imports; True when the window may close."""
        lines = []
        count = len(self.supervisor.running) + len(self.supervisor.queue)
        if count:
            lines.append(f"{count} {'job is' if count == 1 else 'jobs are'} running or queued.")
        if self.import_export.busy:
            lines.append(f"{self.import_export.title} has not finished. Quitting cancels it, "
                         "and a cancelled import writes nothing to the project.")
        box = QMessageBox(QMessageBox.Icon.Question, "Work is running",
                          "\n".join(lines) + "\nCancel and quit?",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                          self)
        box.setObjectName("confirm-close")
        self.import_export.hold_reports()
        quitting = box.exec() == QMessageBox.StandardButton.Yes
        if not quitting:
            # After a Yes the window closes and the held report is dropped.
            self.import_export.release_reports()
        return quitting

    def closeEvent(self, event) -> None:
        busy = self.supervisor.busy or self.import_export.busy
        if busy and not self.confirm_close():
            event.ignore()
            return
        settings = QSettings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState())
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Cancel running jobs, wait for them and close the project."""
        self.import_export.shutdown()
        self.supervisor.cancel_all(wait_ms=CLOSE_WAIT_MS)
        # Without a cache folder the grid requests no thumbnails, so no
        # worker process starts again after this.
        self.item_model.cache_folder = None
        self.thumbnails.clear()
        self.previews.clear()
        self.thumbnail_workers.shutdown()
        if self.project is not None:
            self.project.close()
            self.project = None
            self.supervisor.project = None
