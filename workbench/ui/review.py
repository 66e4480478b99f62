"""Review inbox: every pending proposal in one queue, decided by key or in batches.

The queue model keeps light rows (:class:`ReviewEntry`) sorted by score and
changes by single inserts and removals, so a keypress never reloads the
whole table. Details of the current proposal load on demand.
"""

from __future__ import annotations

import bisect
import json
import logging
from itertools import pairwise
from typing import Any, Iterable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from workbench.store import actions, queries
from workbench.store.engine import Project, ProjectError
from workbench.store.queries import ClassInfo, ReviewEntry
from workbench.ui.widgets import refill_combo, unit_spin_box, wait_cursor

log = logging.getLogger(__name__)

# Above this many changed proposals one reload is cheaper than single updates.
BULK_CHANGE = 200
HISTOGRAM_BINS = 40
KIND_TITLES = {"pseudo_label": "pseudo label", "weak_label": "weak label",
               "noise_flag": "noise flag"}


def _sort_key(entry: ReviewEntry) -> tuple[float, int]:
    return (-entry.score, entry.id)


class ProposalModel(QAbstractListModel):
    """Pending proposals, highest score first, with O(log n) lookup by proposal id."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[ReviewEntry] = []
        self._keys: list[tuple[float, int]] = []
        self._key_of: dict[int, tuple[float, int]] = {}
        self.class_names: dict[int, str] = {}

    def set_rows(self, rows: list[ReviewEntry]) -> None:
        keys = list(map(_sort_key, rows))
        # The store returns the queue in this order already, so the sort
        # usually reduces to one pass that checks it.
        if any(later < earlier for earlier, later in pairwise(keys)):
            order = sorted(range(len(rows)), key=keys.__getitem__)
            rows = [rows[i] for i in order]
            keys = [keys[i] for i in order]
        self.beginResetModel()
        self.rows = list(rows)
        self._keys = keys
        self._key_of = {row.id: key for row, key in zip(self.rows, keys)}
        self.endResetModel()

    def row_of(self, proposal_id: int) -> int | None:
        key = self._key_of.get(proposal_id)
        return None if key is None else bisect.bisect_left(self._keys, key)

    def remove(self, proposal_id: int) -> int | None:
        """Remove one proposal; return the row it had, or None if it was not here."""
        row = self.row_of(proposal_id)
        if row is None:
            return None
        self.beginRemoveRows(QModelIndex(), row, row)
        del self.rows[row]
        del self._keys[row]
        del self._key_of[proposal_id]
        self.endRemoveRows()
        return row

    def insert(self, entry: ReviewEntry) -> None:
        if entry.id in self._key_of:
            return
        key = _sort_key(entry)
        row = bisect.bisect_left(self._keys, key)
        self.beginInsertRows(QModelIndex(), row, row)
        self.rows.insert(row, entry)
        self._keys.insert(row, key)
        self._key_of[entry.id] = key
        self.endInsertRows()

    def ids(self) -> set[int]:
        return set(self._key_of)

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or role != Qt.ItemDataRole.DisplayRole:
            return None
        row = self.rows[index.row()]
        name = self.class_names.get(row.class_id, str(row.class_id))
        kind = KIND_TITLES.get(row.kind, row.kind.replace("_", " "))
        return f"{name}  {row.score:.3f}  {kind}  {row.path}"


# Evidence -------------------------------------------------------------------


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dict) and "class" in value:
        extra = ", ".join(f"{k} {_format_value(v)}" for k, v in value.items() if k != "class")
        return f"{value['class']} ({extra})" if extra else str(value["class"])
    if isinstance(value, list) and all(isinstance(v, dict) and "class" in v for v in value):
        return ", ".join(_format_value(v) for v in value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)[:200]
    return "abstains" if value is None else str(value)


def evidence_lines(evidence: dict[str, Any] | None) -> list[str]:
    """Render a proposal's evidence, whatever its kind, as readable lines.

    Known shapes read best (``votes`` per weak source, ``views`` of
    co-training, ``given`` and ``suggested`` of a noise flag, ``top``
    classes), and any other key is shown as ``key: value`` so a new kind of
    proposal is still readable.
    """
    evidence = dict(evidence or {})
    lines = []
    if "given" in evidence or "suggested" in evidence:
        lines.append(f"Given class: {_format_value(evidence.pop('given', None))}, "
                     f"suggested: {_format_value(evidence.pop('suggested', None))}")
    for key in ("votes", "views"):
        section = evidence.pop(key, None)
        if isinstance(section, dict):
            lines.append("Votes per source:" if key == "votes" else "Views:")
            lines.extend(f"  {name}: {_format_value(v)}" for name, v in section.items())
    top = evidence.pop("top", None)
    if top:
        lines.append("Top classes: " + _format_value(top))
    for key, value in evidence.items():
        lines.append(f"{key.replace('_', ' ').capitalize()}: {_format_value(value)}")
    return lines


def details_text(row: dict[str, Any]) -> str:
    kind = KIND_TITLES.get(row["kind"], row["kind"])
    job = f"job {row['job_id']} ({row['job_kind']})" if row["job_id"] else "no job"
    current = row["current_class"]
    lines = [
        f"Proposed: {row['class_name']} ({row['score']:.3f}), {kind} from {job}",
        f"Current label: {current} ({row['current_source']})" if current
        else "Current label: none",
        *evidence_lines(row["evidence"]),
    ]
    return "\n".join(lines)


# Batch acceptance -------------------------------------------------------------


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def batch_choice(rows: Iterable[ReviewEntry], threshold: float,
                 class_id: int | None) -> list[ReviewEntry]:
    """Return the proposals a batch accept takes: at or above ``threshold``, one per item.

    An item with several proposals above the threshold gets only its
    highest-scored one, so a batch never labels one item twice.
    """
    chosen: dict[int, ReviewEntry] = {}
    for row in rows:
        if row.score < threshold:
            break  # rows are sorted by score, highest first
        if class_id is not None and row.class_id != class_id:
            continue
        chosen.setdefault(row.item_id, row)
    return list(chosen.values())


class BatchPanel(QWidget):
    """Score histogram with a draggable threshold and the accept-all button."""

    accept_requested = Signal(float, object)

    def __init__(self, threshold: float, parent=None):
        super().__init__(parent)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMinimumHeight(110)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setLabel("bottom", "score")
        self.bars = pg.PlotDataItem(stepMode="center", fillLevel=0,
                                    brush=(31, 119, 180, 150), pen=pg.mkPen("#1f77b4"))
        self.plot.addItem(self.bars)
        self.line = pg.InfiniteLine(threshold, angle=90, movable=True,
                                    pen=pg.mkPen("#d62728", width=2), bounds=(0, 1))
        self.plot.addItem(self.line)
        self.threshold = unit_spin_box(threshold)
        self.class_box = QComboBox()
        self.class_box.addItem("all classes", None)
        self.count_label = QLabel()
        self.accept_button = QPushButton("Accept all above")
        self.accept_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.accept_button.clicked.connect(self._request)
        self.line.sigPositionChanged.connect(lambda: self.threshold.setValue(self.line.value()))
        self.threshold.valueChanged.connect(self._on_threshold)
        self.class_box.currentIndexChanged.connect(lambda _: self.recount())
        controls = QHBoxLayout()
        controls.addWidget(QLabel("τ"))
        controls.addWidget(self.threshold)
        controls.addWidget(self.class_box)
        controls.addWidget(self.accept_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        layout.addLayout(controls)
        layout.addWidget(self.count_label)
        self._rows: list[ReviewEntry] = []

    def set_classes(self, classes: list[ClassInfo]) -> None:
        refill_combo(self.class_box, "all classes", [(c.id, c.name) for c in classes])

    def set_rows(self, rows: list[ReviewEntry]) -> None:
        self._rows = rows
        scores = np.fromiter((row.score for row in rows), dtype=float, count=len(rows))
        counts, edges = np.histogram(scores, bins=HISTOGRAM_BINS, range=(0.0, 1.0))
        self.bars.setData(edges, counts)
        self.recount()

    def _on_threshold(self, value: float) -> None:
        if abs(self.line.value() - value) > 1e-9:
            self.line.setValue(value)
        self.recount()

    def chosen(self) -> list[ReviewEntry]:
        return batch_choice(self._rows, self.threshold.value(), self.class_box.currentData())

    def recount(self) -> None:
        chosen = self.chosen()
        proposals = sum(1 for row in self._rows if row.score >= self.threshold.value() and (
            self.class_box.currentData() is None or row.class_id == self.class_box.currentData()))
        text = f"Accepting sets the label of {_count(len(chosen), 'item')}"
        if proposals > len(chosen):
            remaining = proposals - len(chosen)
            others = _count(remaining, "lower-scored proposal")
            verb = "stays" if remaining == 1 else "stay"
            text += f" ({others} for the same items {verb} pending)"
        self.count_label.setText(text + ".")
        self.accept_button.setText(f"Accept {len(chosen)} above τ")
        self.accept_button.setEnabled(bool(chosen))

    def _request(self) -> None:
        self.accept_requested.emit(self.threshold.value(), self.class_box.currentData())


# The panel -------------------------------------------------------------------


def _queue_view(model: ProposalModel) -> QTableView:
    # A one-column table, not a QListView: after a row removal QListView lays
    # out every row again (about 100 ms at 70,000 rows), QTableView does not.
    view = QTableView()
    view.setModel(model)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setShowGrid(False)
    view.setWordWrap(False)
    view.horizontalHeader().hide()
    view.horizontalHeader().setStretchLastSection(True)
    rows = view.verticalHeader()
    rows.hide()
    rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    rows.setDefaultSectionSize(view.fontMetrics().height() + 4)
    return view


class ReviewPanel(QWidget):
    """The review inbox. It runs decisions itself and reports what they changed.

    ``decided`` carries the ids of the items whose labels may have changed,
    so the window can refresh those grid rows and nothing else.
    """

    decided = Signal(list)
    message = Signal(str)

    def __init__(self, previews, accept_threshold: float = 0.95, parent=None):
        super().__init__(parent)
        self.previews = previews
        self.project: Project | None = None
        self.actor = "user"
        self.classes: list[ClassInfo] = []
        self._details: dict[str, Any] | None = None
        self.model = ProposalModel(self)
        self.list = _queue_view(self.model)
        self.list.selectionModel().currentChanged.connect(lambda *_: self.show_current())
        self.preview = QLabel("No proposal selected")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumHeight(170)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.header = QLabel("Review: 0 pending")
        self.job_box, self.kind_box, self.class_box = QComboBox(), QComboBox(), QComboBox()
        for box, title in ((self.job_box, "all jobs"), (self.kind_box, "all kinds"),
                           (self.class_box, "all classes")):
            box.addItem(title, None)
            box.currentIndexChanged.connect(lambda _: self.reload())
        self.batch = BatchPanel(accept_threshold)
        self.batch.accept_requested.connect(self.accept_batch)
        # Class counts and the histogram follow a decision a moment later,
        # so the keypress itself only touches the rows it changed.
        self._histogram_timer = QTimer(self)
        self._histogram_timer.setSingleShot(True)
        self._histogram_timer.setInterval(150)
        self._histogram_timer.timeout.connect(lambda: self.batch.set_rows(self.model.rows))
        self._build_layout()
        previews.ready.connect(self._on_preview_ready)

    def _build_layout(self) -> None:
        filters = QHBoxLayout()
        for box in (self.job_box, self.kind_box, self.class_box):
            filters.addWidget(box)
        buttons = QGridLayout()
        for i, (text, slot) in enumerate((("Accept (A)", self.accept_current),
                                          ("Reject (X)", self.reject_current),
                                          ("Skip (Space)", self.skip))):
            button = QPushButton(text)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.clicked.connect(slot)
            buttons.addWidget(button, 0, i)
        self.hint = QLabel("1-9 assign another class, Ctrl+Z undo")
        buttons.addWidget(self.hint, 1, 0, 1, 3)
        top = QWidget()
        layout = QVBoxLayout(top)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.header)
        layout.addLayout(filters)
        layout.addWidget(self.preview)
        layout.addWidget(self.details)
        layout.addLayout(buttons)
        layout.addWidget(self.batch)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(self.list)
        splitter.setStretchFactor(1, 1)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(2, 2, 2, 2)
        outer.addWidget(splitter)

    # Loading ----------------------------------------------------------------

    def set_project(self, project: Project | None, classes: list[ClassInfo]) -> None:
        self.project = project
        self.set_classes(classes)
        self.reload()

    def set_classes(self, classes: list[ClassInfo]) -> None:
        self.classes = classes
        self.model.class_names = {c.id: c.name for c in classes}
        self.batch.set_classes(classes)
        refill_combo(self.class_box, "all classes", [(c.id, c.name) for c in classes])

    def _filters(self) -> dict[str, Any]:
        return {"job_id": self.job_box.currentData(), "kind": self.kind_box.currentData(),
                "class_id": self.class_box.currentData()}

    def reload(self, keep_row: int = 0) -> None:
        """Reload the queue from the store; used on open, after jobs and on filter changes."""
        if self.project is None:
            self.model.set_rows([])
            self._after_change(None)
            return
        with self.project.read() as session:
            facets = queries.review_facets(session)
            rows = queries.review_queue(session, **self._filters())
        refill_combo(self.job_box, "all jobs",
                       [(job_id, f"job {job_id} ({kind})") for job_id, kind in facets["jobs"]])
        refill_combo(self.kind_box, "all kinds",
                       [(kind, KIND_TITLES.get(kind, kind)) for kind in facets["kinds"]])
        self.model.set_rows(rows)
        self._after_change(keep_row)
        self.batch.set_rows(self.model.rows)

    def sync(self, proposal_ids: Iterable[int]) -> None:
        """Bring these proposals up to date: insert the reviewable ones, drop the rest."""
        ids = sorted(set(proposal_ids))
        if not ids or self.project is None:
            return
        if len(ids) > BULK_CHANGE:
            self.reload(self.current_row() or 0)
            return
        with self.project.read() as session:
            fresh = queries.review_queue(session, proposal_ids=ids, **self._filters())
        current = self.current_id()
        for proposal_id in set(ids) - {entry.id for entry in fresh}:
            self.model.remove(proposal_id)
        for entry in fresh:
            self.model.insert(entry)
        row = self.model.row_of(current) if current is not None else None
        self._after_change(row if row is not None else 0)
        self._histogram_timer.start()

    def _after_change(self, keep_row: int | None) -> None:
        count = self.model.rowCount()
        self.header.setText(f"Review: {count} pending")
        if count and keep_row is not None:
            self.select(min(keep_row, count - 1))
        elif not count:
            self._details = None
            self.preview.setPixmap(QPixmap())
            self.preview.setText("No pending proposals. Run a job to get some.")
            self.details.setText("")

    # Current proposal -------------------------------------------------------

    def current_row(self) -> int | None:
        index = self.list.currentIndex()
        return index.row() if index.isValid() else None

    def current_id(self) -> int | None:
        row = self.current_row()
        return self.model.rows[row].id if row is not None else None

    def current(self) -> dict[str, Any] | None:
        """Return the details of the current proposal (see queries.proposal_details)."""
        proposal_id = self.current_id()
        if proposal_id is None:
            return None
        if self._details is None or self._details["id"] != proposal_id:
            self.show_current()
        return self._details

    def select(self, row: int) -> None:
        index = self.model.index(row)
        self.list.setCurrentIndex(index)
        self.list.scrollTo(index)
        if self._details is None or self._details["id"] != self.model.rows[row].id:
            self.show_current()

    def show_current(self) -> None:
        proposal_id = self.current_id()
        if proposal_id is None or self.project is None:
            return
        with self.project.read() as session:
            self._details = queries.proposal_details(session, proposal_id)
        if self._details is None:
            return
        row = self._details
        pixmap = self.previews.get(self.project.cache, self.project.resolve(row["path"]),
                                   row["sha256"])
        if pixmap is not None and not pixmap.isNull():
            self.preview.setPixmap(pixmap)
        else:
            self.preview.setPixmap(QPixmap())
            self.preview.setText(row["path"])
        self.details.setText(details_text(row))

    def _on_preview_ready(self, sha256: str) -> None:
        if self._details is not None and self._details["sha256"] == sha256:
            self.show_current()

    def skip(self) -> None:
        row = self.current_row()
        if row is not None and self.model.rows:
            self.select((row + 1) % len(self.model.rows))

    # Decisions --------------------------------------------------------------

    def _current_or_message(self) -> dict[str, Any] | None:
        if self.project is None:
            self.message.emit("Open a project first (File > Open project).")
            return None
        row = self.current()
        if row is None:
            self.message.emit("No proposal to decide on: the review queue is empty. "
                              "Run a job to get proposals.")
        return row

    def accept_current(self) -> None:
        self._decide_current(actions.accept_proposals, "Accepted")

    def reject_current(self) -> None:
        self._decide_current(actions.reject_proposals, "Rejected")

    def assign_current(self, class_id: int) -> None:
        row = self._current_or_message()
        if row is None:
            return
        name = self.model.class_names.get(class_id, str(class_id))
        try:
            decision = actions.assign_class(self.project, row["id"], class_id, actor=self.actor)
        except (actions.ActionError, ProjectError) as exc:
            self.message.emit(str(exc))
            return
        self._finish(row, decision, f"Labeled {row['path']} as {name} instead of "
                                    f"{row['class_name']}")

    def _decide_current(self, action, verb: str) -> None:
        row = self._current_or_message()
        if row is None:
            return
        try:
            decision = action(self.project, [row["id"]], actor=self.actor)
        except (actions.ActionError, ProjectError) as exc:
            self.message.emit(str(exc))
            return
        self._finish(row, decision, f"{verb} {row['class_name']} for {row['path']}")

    def _finish(self, row: dict[str, Any], decision: actions.Decision, text: str) -> None:
        if decision.skipped:
            self.message.emit(f"Nothing changed: {'; '.join(decision.skipped)}.")
        else:
            self.message.emit(f"{text}.")
        position = self.current_row() or 0
        self.model.remove(row["id"])
        # Other proposals for the same item may have stopped being reviewable
        # (a human label now protects it).
        others = [entry.id for entry in self.model.rows[max(0, position - 50):position + 50]
                  if entry.item_id == row["item_id"]]
        if others:
            self.sync(others)
        self._after_change(position)
        self._histogram_timer.start()
        self.decided.emit([row["item_id"]])

    def accept_batch(self, threshold: float, class_id: int | None) -> None:
        if self.project is None:
            self.message.emit("Open a project first (File > Open project).")
            return
        chosen = batch_choice(self.model.rows, threshold, class_id)
        if not chosen:
            self.message.emit(f"No pending proposal scores {threshold:.3f} or more.")
            return
        try:
            # NOTE: this runs on the GUI thread, about 1 s for 10,000 proposals
            # (benchmarks/throughput_store.py), so the window waits that long.
            with wait_cursor():
                decision = actions.accept_proposals(self.project, [e.id for e in chosen],
                                                    actor=self.actor)
        except (actions.ActionError, ProjectError) as exc:
            self.message.emit(str(exc))
            return
        skipped = f"; skipped {len(decision.skipped)}" if decision.skipped else ""
        self.message.emit(f"Accepted {decision.changed} proposals scoring {threshold:.3f} "
                          f"or more as one decision{skipped}. Ctrl+Z undoes all of them.")
        # A batch is one decision, not a keypress, so one reload is fine here.
        self.reload()
        self.decided.emit([entry.item_id for entry in chosen])
