"""Weak sources editor: CLIP prompt templates per class and path rules, with statistics.

Statistics per source, over all items: coverage (share of items it votes
on), overlap (share of items it and another source both vote on), conflicts
(share of items where another source votes a different class) and accuracy
(share of its votes on human or imported labels that match them). Path
rules are evaluated here on the item paths; CLIP prompt sets get their votes
from the ``votes`` evidence of the weak-label proposals a job wrote.
"""

from __future__ import annotations

import re
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.store import actions, queries
from workbench.store.engine import Project, ProjectError
from workbench.store.queries import ClassInfo
from workbench.store.schema import GIVEN_SOURCES

KIND_TITLES = {"clip_prompts": "CLIP prompts", "path_rule": "path rule"}
STAT_COLUMNS = ("Name", "Kind", "On", "Coverage", "Overlap", "Conflicts", "Accuracy")
DEFAULT_TEMPLATE = "a photo of a {}"


def rule_votes(definition: dict[str, Any], items: list[tuple], class_ids: dict[str, int]
               ) -> dict[int, int]:
    """Return ``{item_id: class_id}`` for the items whose path matches a path rule."""
    class_id = class_ids.get(definition.get("class"))
    try:
        pattern = re.compile(definition.get("pattern", ""))
    except re.error:
        return {}
    if class_id is None or not pattern.pattern:
        return {}
    return {item_id: class_id for item_id, path, *_ in items if pattern.search(path)}


def source_statistics(votes: dict[str, dict[int, int]], labels: dict[int, int],
                      total: int) -> dict[str, dict[str, float | None]]:
    """Return coverage, overlap, conflicts and accuracy per source (shares of 0 to 1).

    Accuracy is None for a source that votes on no labeled item.
    """
    stats = {}
    for name, own in votes.items():
        others = [v for other, v in votes.items() if other != name]
        overlap = conflicts = 0
        for item_id, class_id in own.items():
            other_votes = [v[item_id] for v in others if item_id in v]
            overlap += bool(other_votes)
            conflicts += any(vote != class_id for vote in other_votes)
        judged = [item_id for item_id in own if item_id in labels]
        correct = sum(own[item_id] == labels[item_id] for item_id in judged)
        stats[name] = {
            "coverage": len(own) / total if total else 0.0,
            "overlap": overlap / total if total else 0.0,
            "conflicts": conflicts / total if total else 0.0,
            "accuracy": correct / len(judged) if judged else None,
        }
    return stats


def project_statistics(project: Project) -> dict[str, dict[str, float | None]]:
    with project.read() as session:
        sources = queries.weak_sources(session)
        items = queries.item_paths_and_labels(session)
        class_ids = {c.name: c.id for c in queries.classes(session)}
        proposal_votes = queries.weak_label_votes(session)
    votes: dict[str, dict[int, int]] = {}
    for source in sources:
        if source["kind"] == "path_rule":
            votes[source["name"]] = rule_votes(source["definition"], items, class_ids)
        else:
            votes[source["name"]] = {
                item_id: class_ids[item_votes[source["name"]]]
                for item_id, item_votes in proposal_votes
                if item_votes.get(source["name"]) in class_ids
            }
    labels = {item_id: class_id for item_id, _path, class_id, source in items
              if class_id is not None and source in GIVEN_SOURCES}
    return source_statistics(votes, labels, len(items))


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


class WeakSourcesEditor(QWidget):
    """Lists the project's weak sources with statistics and edits one at a time."""

    message = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.project: Project | None = None
        self.classes: list[ClassInfo] = []
        self._sources: list[dict[str, Any]] = []
        self._editing: int | None = None
        self._stale = False
        # Whether the editor is on screen: a dock behind another tab stays
        # "visible" to Qt, so the main window sets this from the dock.
        self._on_screen = True
        self.table = QTableWidget(0, len(STAT_COLUMNS))
        self.table.setHorizontalHeaderLabels(STAT_COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.itemSelectionChanged.connect(self._edit_selected)
        self.name_edit = QLineEdit()
        self.kind_box = QComboBox()
        for key, title in KIND_TITLES.items():
            self.kind_box.addItem(title, key)
        self.enabled_box = QCheckBox("enabled")
        self.enabled_box.setChecked(True)
        self.templates = QTableWidget(0, 2)
        self.templates.setHorizontalHeaderLabels(("Class", "Prompt templates ({} is the class)"))
        self.templates.horizontalHeader().setStretchLastSection(True)
        self.templates.verticalHeader().setVisible(False)
        self.pattern_edit = QLineEdit()
        self.pattern_edit.setPlaceholderText("regular expression searched in the item path")
        self.rule_class = QComboBox()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.templates)
        rule = QWidget()
        rule_form = QFormLayout(rule)
        rule_form.addRow("Path pattern", self.pattern_edit)
        rule_form.addRow("Votes for class", self.rule_class)
        self.stack.addWidget(rule)
        self.kind_box.currentIndexChanged.connect(self.stack.setCurrentIndex)
        self._build_layout()

    def _build_layout(self) -> None:
        form = QFormLayout()
        form.addRow("Name", self.name_edit)
        form.addRow("Kind", self.kind_box)
        form.addRow("", self.enabled_box)
        buttons = QHBoxLayout()
        for text, slot in (("New", self.new_source), ("Save", self.save),
                           ("Delete", self.delete)):
            button = QPushButton(text)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Weak sources and their statistics on this project"))
        layout.addWidget(self.table, 1)
        layout.addLayout(form)
        layout.addWidget(self.stack, 1)
        layout.addLayout(buttons)

    def set_project(self, project: Project | None, classes: list[ClassInfo]) -> None:
        self.project = project
        self.classes = classes
        self.rule_class.clear()
        for info in classes:
            self.rule_class.addItem(info.name)
        self.new_source()
        # The statistics read every item, so a hidden editor computes them
        # when it is first shown instead of while the project opens.
        self._stale = not self._on_screen
        self.reload(statistics=not self._stale)

    def set_on_screen(self, on_screen: bool) -> None:
        """Record whether the editor is on screen, and compute stale statistics once it is."""
        self._on_screen = on_screen
        if on_screen and self._stale:
            self._stale = False
            self.reload()

    def reload(self, statistics: bool = True) -> None:
        """Refill the sources table; without ``statistics`` their columns stay empty."""
        if self.project is None:
            self.table.setRowCount(0)
            return
        with self.project.read() as session:
            self._sources = queries.weak_sources(session)
        stats = project_statistics(self.project) if statistics else {}
        self.table.blockSignals(True)
        self.table.setRowCount(len(self._sources))
        for row, source in enumerate(self._sources):
            numbers = stats.get(source["name"], {})
            figures = [_percent(numbers.get(key)) if statistics else ""
                       for key in ("coverage", "overlap", "conflicts", "accuracy")]
            values = (source["name"], KIND_TITLES.get(source["kind"], source["kind"]),
                      "yes" if source["enabled"] else "no", *figures)
            for column, value in enumerate(values):
                self.table.setItem(row, column, QTableWidgetItem(value))
        self.table.resizeColumnsToContents()
        self.table.blockSignals(False)

    def statistics_row(self, name: str) -> dict[str, str]:
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).text() == name:
                return {STAT_COLUMNS[c]: self.table.item(row, c).text()
                        for c in range(len(STAT_COLUMNS))}
        raise KeyError(name)

    def new_source(self) -> None:
        self._editing = None
        self.table.clearSelection()
        self.name_edit.clear()
        self.enabled_box.setChecked(True)
        self.pattern_edit.clear()
        self._fill_templates({})

    def _fill_templates(self, templates: dict[str, list[str]]) -> None:
        self.templates.setRowCount(len(self.classes))
        for row, info in enumerate(self.classes):
            name = QTableWidgetItem(info.name)
            name.setFlags(name.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.templates.setItem(row, 0, name)
            text = "; ".join(templates.get(info.name, [DEFAULT_TEMPLATE]))
            self.templates.setItem(row, 1, QTableWidgetItem(text))

    def _edit_selected(self) -> None:
        rows = {index.row() for index in self.table.selectedIndexes()}
        if not rows:
            return
        source = self._sources[rows.pop()]
        self._editing = source["id"]
        self.name_edit.setText(source["name"])
        self.kind_box.setCurrentIndex(self.kind_box.findData(source["kind"]))
        self.enabled_box.setChecked(bool(source["enabled"]))
        definition = source["definition"] or {}
        if source["kind"] == "path_rule":
            self.pattern_edit.setText(definition.get("pattern", ""))
            self.rule_class.setCurrentText(definition.get("class", ""))
        else:
            self._fill_templates(definition.get("templates", {}))

    def definition(self) -> dict[str, Any]:
        """Return the definition in the editor; raises ValueError for an invalid one."""
        if self.kind_box.currentData() == "path_rule":
            pattern = self.pattern_edit.text()
            if not pattern:
                raise ValueError("A path rule needs a pattern, for example 'cats/'.")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"Invalid pattern {pattern!r}: {exc}. "
                                 "Use a Python regular expression.") from None
            return {"pattern": pattern, "class": self.rule_class.currentText()}
        templates = {}
        for row in range(self.templates.rowCount()):
            cell = self.templates.item(row, 1)
            lines = [t.strip() for t in (cell.text() if cell else "").split(";") if t.strip()]
            bad = [t for t in lines if "{}" not in t]
            if bad:
                raise ValueError(f"Template {bad[0]!r} has no {{}} for the class name; "
                                 f"write it like {DEFAULT_TEMPLATE!r}.")
            if lines:
                templates[self.templates.item(row, 0).text()] = lines
        if not templates:
            raise ValueError("A CLIP prompt set needs at least one template.")
        return {"templates": templates}

    def save(self) -> None:
        if self.project is None:
            self.message.emit("Open a project first (File > Open project).")
            return
        try:
            definition = self.definition()
            self._editing = actions.save_weak_source(
                self.project, self.name_edit.text(), self.kind_box.currentData(), definition,
                enabled=self.enabled_box.isChecked(), source_id=self._editing)
        except (ValueError, actions.ActionError, ProjectError) as exc:
            self.message.emit(str(exc))
            return
        self.message.emit(f"Saved weak source {self.name_edit.text().strip()!r}.")
        self.reload()

    def delete(self) -> None:
        if self.project is None or self._editing is None:
            self.message.emit("Select a weak source to delete.")
            return
        try:
            actions.delete_weak_source(self.project, self._editing)
        except (actions.ActionError, ProjectError) as exc:
            self.message.emit(str(exc))
            return
        self.message.emit(f"Deleted weak source {self.name_edit.text().strip()!r}.")
        self.new_source()
        self.reload()
