"""Class panel and review panel."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.store.queries import ClassInfo

COUNT_SOURCES = ("human", "imported", "pseudo", "weak")


class ClassPanel(QTableWidget):
    """Classes with their key and label counts per source; activating a row labels."""

    class_activated = Signal(int)

    def __init__(self, parent=None):
        super().__init__(0, 3 + len(COUNT_SOURCES), parent)
        self.setHorizontalHeaderLabels(["Key", "Class", *COUNT_SOURCES, "Total"])
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setStretchLastSection(True)
        self._class_ids: list[int] = []
        self.cellDoubleClicked.connect(lambda row, _col: self.class_activated.emit(self._class_ids[row]))

    def set_counts(self, classes: list[ClassInfo], counts: dict[int, dict[str, int]]) -> None:
        self.setRowCount(len(classes))
        self._class_ids = [c.id for c in classes]
        for row, info in enumerate(classes):
            by_source = counts.get(info.id, {})
            values = [info.shortcut or "", info.name,
                      *(str(by_source.get(s, 0)) for s in COUNT_SOURCES),
                      str(sum(by_source.values()))]
            for column, value in enumerate(values):
                cell = QTableWidgetItem(value)
                if column == 1:
                    cell.setForeground(QColor(info.color))
                self.setItem(row, column, cell)
        self.resizeColumnsToContents()

    def count(self, class_name: str, source: str) -> int:
        column = 2 + COUNT_SOURCES.index(source)
        for row in range(self.rowCount()):
            if self.item(row, 1).text() == class_name:
                return int(self.item(row, column).text())
        raise KeyError(class_name)


class ProposalModel(QAbstractListModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[dict[str, Any]] = []

    def set_rows(self, rows: list[dict[str, Any]]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            kind = row["kind"].replace("_", " ")
            return f"{row['class_name']}  {row['score']:.3f}  {kind}  {row['path']}"
        return None


def evidence_text(row: dict[str, Any]) -> str:
    current = row["current_class"]
    lines = [
        f"Proposed: {row['class_name']} ({row['score']:.3f}) by job {row['job_id']}",
        f"Current label: {current} ({row['current_source']})" if current else "Current label: none",
    ]
    top = (row.get("evidence") or {}).get("top")
    if top:
        lines.append("Top classes: " + ", ".join(f"{t['class']} {t['p']:.3f}" for t in top))
    elif row.get("evidence"):
        lines.append(json.dumps(row["evidence"], default=str)[:300])
    return "\n".join(lines)


class ReviewPanel(QWidget):
    """The queue of pending proposals with a preview of the current one."""

    accept_requested = Signal()
    reject_requested = Signal()
    skip_requested = Signal()
    undo_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model = ProposalModel(self)
        self.list = QListView()
        self.list.setModel(self.model)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setUniformItemSizes(True)
        self.preview = QLabel("No proposal selected")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumHeight(160)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.header = QLabel("Review: 0 pending")
        buttons = QHBoxLayout()
        for text, signal in (("Accept (A)", self.accept_requested),
                             ("Reject (X)", self.reject_requested),
                             ("Skip (Space)", self.skip_requested),
                             ("Undo (Ctrl+Z)", self.undo_requested)):
            button = QPushButton(text)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.clicked.connect(signal.emit)
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.header)
        layout.addWidget(self.preview)
        layout.addWidget(self.details)
        layout.addLayout(buttons)
        layout.addWidget(self.list, 1)

    def set_rows(self, rows: list[dict[str, Any]], keep_row: int = 0) -> None:
        self.model.set_rows(rows)
        self.header.setText(f"Review: {len(rows)} pending")
        if rows:
            self.select(min(keep_row, len(rows) - 1))
        else:
            self.preview.setText("No pending proposals. Run a job to get some.")
            self.preview.setPixmap(QPixmap())
            self.details.setText("")

    def current_row(self) -> int | None:
        indexes = self.list.selectionModel().selectedIndexes()
        return indexes[0].row() if indexes else None

    def current(self) -> dict[str, Any] | None:
        row = self.current_row()
        return self.model.rows[row] if row is not None else None

    def select(self, row: int) -> None:
        index = self.model.index(row)
        self.list.setCurrentIndex(index)
        self.list.scrollTo(index)

    def skip(self) -> None:
        row = self.current_row()
        if row is not None and self.model.rows:
            self.select((row + 1) % len(self.model.rows))

    def show_preview(self, pixmap: QPixmap | None, row: dict[str, Any]) -> None:
        if pixmap is not None and not pixmap.isNull():
            self.preview.setPixmap(pixmap)
        else:
            self.preview.setText(row["path"])
        self.details.setText(evidence_text(row))
