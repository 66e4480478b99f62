"""The item pane: large image, current label, whole label history, open proposals."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.store import queries
from workbench.store.engine import Project

HISTORY_COLUMNS = ("When", "Action", "Label", "Source", "By", "Proposal")
PROPOSAL_COLUMNS = ("Kind", "Class", "Score", "Job")


def _table(columns: tuple[str, ...]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(columns)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setStretchLastSection(True)
    return table


def _fill(table: QTableWidget, rows: list[list[str]]) -> None:
    table.setRowCount(len(rows))
    for r, values in enumerate(rows):
        for c, value in enumerate(values):
            table.setItem(r, c, QTableWidgetItem(value))
    table.resizeColumnsToContents()


def history_cells(event: dict) -> list[str]:
    old, new = event["old_class"] or "none", event["new_class"] or "none"
    label = new if event["action"] == "reject" else f"{old} → {new}"
    if event["proposal_id"] is None:
        origin = ""
    elif event["job_id"] is not None:
        origin = f"#{event['proposal_id']} from job {event['job_id']}"
    else:
        origin = f"#{event['proposal_id']}"
    when = event["time"].strftime("%Y-%m-%d %H:%M:%S") if event["time"] else ""
    return [when, event["action"], label, event["source"] or "", event["actor"], origin]


class ItemPane(QWidget):
    """Shows one item; call :meth:`show_item` with an id, or None to clear."""

    def __init__(self, images, parent=None):
        super().__init__(parent)
        self.images = images
        self.project: Project | None = None
        self.item_id: int | None = None
        self._sha: str | None = None
        self.image = QLabel("Select an image in the grid")
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setMinimumSize(images.size, images.size)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.history = _table(HISTORY_COLUMNS)
        self.proposals = _table(PROPOSAL_COLUMNS)
        layout = QVBoxLayout(self)
        layout.addWidget(self.image)
        layout.addWidget(self.summary)
        layout.addWidget(QLabel("History"))
        layout.addWidget(self.history, 2)
        layout.addWidget(QLabel("Open proposals"))
        layout.addWidget(self.proposals, 1)
        images.ready.connect(self._on_image_ready)

    def show_item(self, item_id: int | None) -> None:
        self.item_id = item_id
        if item_id is None or self.project is None:
            self._clear()
            return
        with self.project.read() as session:
            detail = queries.item_detail(session, item_id)
            history = queries.item_history(session, item_id)
            proposals = queries.item_proposals(session, item_id)
        if detail is None:
            self._clear()
            return
        self._sha = detail["sha256"]
        self._show_image(detail["path"])
        self.summary.setText(self._summary(detail))
        _fill(self.history, [history_cells(event) for event in reversed(history)])
        _fill(self.proposals, [
            [p["kind"].replace("_", " "), p["class_name"], f"{p['score']:.3f}",
             str(p["job_id"] or "")] for p in proposals])

    def _summary(self, detail: dict) -> str:
        size = f"{detail['width']}×{detail['height']}"
        if detail["class_name"] is None:
            label = "Label: none"
        else:
            confidence = detail["confidence"]
            score = f", confidence {confidence:.3f}" if confidence is not None else ""
            label = (f"Label: {detail['class_name']} ({detail['source']}{score}) "
                     f"by {detail['actor']}")
        return f"{detail['path']}  {size}\n{label}"

    def _show_image(self, path: str) -> None:
        pixmap = self.images.get(self.project.cache, self.project.resolve(path), self._sha)
        if pixmap is None:
            self.image.setPixmap(QPixmap())
            error = self.images.error(self._sha)
            self.image.setText(f"Unreadable: {error}" if error else "Loading…")
        else:
            self.image.setPixmap(pixmap)

    def _on_image_ready(self, sha256: str) -> None:
        if sha256 == self._sha and self.item_id is not None:
            self.show_item(self.item_id)

    def _clear(self) -> None:
        self._sha = None
        self.image.setPixmap(QPixmap())
        self.image.setText("Select an image in the grid")
        self.summary.setText("")
        self.history.setRowCount(0)
        self.proposals.setRowCount(0)
