"""Class panel: classes with their shortcut keys and label counts per source."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QTableWidget, QTableWidgetItem

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
