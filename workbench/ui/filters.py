"""The grid's filter bar: class, source, proposal state, noise flag, score, path, sort."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from workbench.store.queries import ClassInfo, ItemFilter
from workbench.ui.widgets import refill_combo, unit_spin_box

SOURCE_TITLES = {
    "all": "any label", "unlabeled": "unlabeled", "human": "human", "imported": "imported",
    "pseudo": "pseudo", "weak": "weak",
}
STATE_TITLES = {
    "any": "any proposal state", "none": "no proposal", "pending": "pending proposal",
    "accepted": "accepted proposal", "rejected": "rejected proposal",
    "superseded": "superseded proposal",
}


def _combo(options: dict) -> QComboBox:
    box = QComboBox()
    for key, title in options.items():
        box.addItem(title, key)
    return box


class FilterBar(QWidget):
    """Emits ``changed`` whenever the filter changes; the path box on Enter only."""

    changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.source_box = _combo(SOURCE_TITLES)
        self.class_box = _combo({None: "any class"})
        self.state_box = _combo(STATE_TITLES)
        self.noise_box = QCheckBox("noise flag")
        self.score_box = QCheckBox("score")
        self.score_min, self.score_max = unit_spin_box(0.0, 2, 0.05), unit_spin_box(1.0, 2, 0.05)
        self.sort_box = _combo({"id": "sort by id", "score": "sort by score"})
        self.search_box = QLineEdit()
        self.search_box.setPlaceholderText("Filter by path")
        self.search_box.setClearButtonEnabled(True)
        self.search_box.setMaximumWidth(220)
        self.selection_label = QLabel()
        self.clear_selection = QPushButton("Show all points")
        self.clear_selection.hide()
        self.item_ids: frozenset[int] | None = None
        layout = QHBoxLayout(self)
        layout.setContentsMargins(2, 0, 2, 0)
        for widget in (self.source_box, self.class_box, self.state_box, self.noise_box,
                       self.score_box, self.score_min, QLabel("to"), self.score_max,
                       self.sort_box, self.search_box, self.selection_label,
                       self.clear_selection):
            layout.addWidget(widget)
        layout.addStretch(1)
        for box in (self.source_box, self.class_box, self.state_box, self.sort_box):
            box.currentIndexChanged.connect(lambda _: self.changed.emit())
        for box in (self.noise_box, self.score_box):
            box.toggled.connect(lambda _: self.changed.emit())
        for box in (self.score_min, self.score_max):
            box.valueChanged.connect(self._on_score)
        self.search_box.returnPressed.connect(self.changed.emit)
        self.clear_selection.clicked.connect(lambda: self.set_item_ids(None))

    def set_classes(self, classes: list[ClassInfo]) -> None:
        refill_combo(self.class_box, "any class", [(c.id, c.name) for c in classes])

    def _on_score(self) -> None:
        if self.score_box.isChecked():
            self.changed.emit()

    def set_item_ids(self, item_ids) -> None:
        """Restrict the grid to these items (a scatter selection), or None for all."""
        self.item_ids = None if item_ids is None else frozenset(item_ids)
        if self.item_ids is None:
            self.selection_label.setText("")
            self.clear_selection.hide()
        else:
            self.selection_label.setText(f"{len(self.item_ids)} points selected")
            self.clear_selection.show()
        self.changed.emit()

    def spec(self) -> ItemFilter:
        scored = self.score_box.isChecked()
        return ItemFilter(
            label=self.source_box.currentData(),
            class_id=self.class_box.currentData(),
            proposal_state=self.state_box.currentData(),
            noise_flag=self.noise_box.isChecked(),
            score_min=self.score_min.value() if scored else None,
            score_max=self.score_max.value() if scored else None,
            text=self.search_box.text().strip(),
            sort=self.sort_box.currentData(),
        )

    def is_default(self) -> bool:
        return self.spec() == ItemFilter() and self.item_ids is None
