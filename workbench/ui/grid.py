"""Thumbnail grid: a list model over item rows, thumbnails decoded in worker processes."""

from __future__ import annotations

import bisect
import logging
from pathlib import Path

from PySide6.QtCore import (
    QAbstractListModel,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QSize,
    Qt,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QListView

from workbench.store.queries import ClassInfo, ItemRow
from workbench.ui.thumbnail_cache import ThumbnailCache

log = logging.getLogger(__name__)

ITEM_ID_ROLE = Qt.ItemDataRole.UserRole + 1
SOURCE_LETTER = {"human": "H", "imported": "I", "pseudo": "P", "weak": "W"}
# Rows this close together are repainted as one range when thumbnails arrive.
MAX_ROW_GAP = 32


class ItemModel(QAbstractListModel):
    """Item rows for the grid, with an id-to-row index for in-place updates."""

    def __init__(self, thumbnails: ThumbnailCache, parent=None):
        super().__init__(parent)
        self.thumbnails = thumbnails
        self.cache_folder: Path | None = None
        self.resolve = lambda path: Path(path)
        self._rows: list[ItemRow] = []
        self._row_of_id: dict[int, int] = {}
        # Rows painted without their thumbnail, by SHA-256, so an arriving
        # thumbnail repaints them without an index of every row's hash.
        self._waiting_rows: dict[str, set[int]] = {}
        self._classes: dict[int, ClassInfo] = {}
        thumbnails.batch_ready.connect(self._on_thumbnails)

    def set_rows(self, rows: list[ItemRow], classes: list[ClassInfo]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self._classes = {c.id: c for c in classes}
        self._reindex()
        self.endResetModel()

    def _reindex(self) -> None:
        self._row_of_id = {row.id: i for i, row in enumerate(self._rows)}
        self._waiting_rows.clear()

    def update_rows(self, updated: dict[int, ItemRow]) -> None:
        """Replace rows in place by item id and repaint them; unknown ids are ignored."""
        for item_id, row in updated.items():
            i = self._row_of_id.get(item_id)
            if i is None:
                continue
            self._rows[i] = row
            index = self.index(i)
            self.dataChanged.emit(index, index)

    def remove_ids(self, item_ids) -> None:
        """Remove the rows of these items, one contiguous run at a time."""
        doomed = sorted((self._row_of_id[i] for i in item_ids if i in self._row_of_id),
                        reverse=True)
        if not doomed:
            return
        if len(doomed) > 200:
            # Many single removals cost more than one reset of the view.
            gone = {self._rows[i].id for i in doomed}
            self.beginResetModel()
            self._rows = [row for row in self._rows if row.id not in gone]
            self._reindex()
            self.endResetModel()
            return
        for i in doomed:
            self.beginRemoveRows(QModelIndex(), i, i)
            del self._rows[i]
            self.endRemoveRows()
        self._reindex()

    def insert_rows(self, rows: list[ItemRow], key) -> None:
        """Insert rows where ``key`` puts them in the current order."""
        rows = sorted((row for row in rows if row.id not in self._row_of_id), key=key)
        if not rows:
            return
        if not self._rows or key(rows[0]) > key(self._rows[-1]):
            # New items sort last (the usual case after an import): one block.
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
            self._rows.extend(rows)
            self._row_of_id.update((row.id, first + i) for i, row in enumerate(rows))
            self.endInsertRows()
            return
        keys = [key(row) for row in self._rows]
        for row in rows:
            if row.id in self._row_of_id:
                continue
            i = bisect.bisect_left(keys, key(row))
            self.beginInsertRows(QModelIndex(), i, i)
            self._rows.insert(i, row)
            keys.insert(i, key(row))
            self._row_of_id[row.id] = i
            self.endInsertRows()
        self._reindex()

    def row_of(self, item_id: int) -> int | None:
        return self._row_of_id.get(item_id)

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def row(self, index: int) -> ItemRow:
        return self._rows[index]

    def item_ids(self) -> list[int]:
        return [row.id for row in self._rows]

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        label = self._classes.get(row.class_id) if row.class_id is not None else None
        if role == Qt.ItemDataRole.DisplayRole:
            text = f"{label.name} {SOURCE_LETTER.get(row.source, '')}" if label else ""
            return f"{text} {row.score:.2f}" if row.score is not None else text
        if role == Qt.ItemDataRole.DecorationRole and self.cache_folder is not None:
            pixmap = self.thumbnails.get(self.cache_folder, self.resolve(row.path), row.sha256)
            if pixmap is None:
                self._waiting_rows.setdefault(row.sha256, set()).add(index.row())
            return pixmap
        if role == Qt.ItemDataRole.ForegroundRole and label:
            return QColor(label.color)
        if role == Qt.ItemDataRole.ToolTipRole:
            text = f"{row.path}\n{label.name + ' (' + row.source + ')' if label else 'unlabeled'}"
            error = self.thumbnails.error(row.sha256)
            return f"{text}\nUnreadable: {error}" if error else text
        if role == Qt.ItemDataRole.SizeHintRole:
            side = self.thumbnails.size
            return QSize(side + 12, side + 20)
        if role == ITEM_ID_ROLE:
            return row.id
        return None

    def _on_thumbnails(self, sha256s: list[str]) -> None:
        """Repaint the rows of newly arrived thumbnails, one ``dataChanged`` per run of rows.

        Runs stay short because QListView in icon mode requests from the model the
        size of every row inside a changed range.
        """
        rows = sorted(i for sha256 in sha256s for i in self._waiting_rows.pop(sha256, ())
                      if i < len(self._rows) and self._rows[i].sha256 == sha256)
        roles = [Qt.ItemDataRole.DecorationRole, Qt.ItemDataRole.ToolTipRole]
        for first, last in _runs(rows, MAX_ROW_GAP):
            self.dataChanged.emit(self.index(first), self.index(last), roles)


def _runs(rows: list[int], max_gap: int) -> list[tuple[int, int]]:
    """Split sorted row numbers into ``(first, last)`` runs without a gap above ``max_gap``."""
    runs: list[tuple[int, int]] = []
    for row in rows:
        if runs and row - runs[-1][1] <= max_gap:
            runs[-1] = (runs[-1][0], row)
        else:
            runs.append((row, row))
    return runs


class ItemGrid(QListView):
    def __init__(self, model: ItemModel, parent=None):
        super().__init__(parent)
        size = model.thumbnails.size
        self.setModel(model)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        # Lay out rows a batch per event-loop pass: a single pass over
        # 70,000 icons blocked the window for about 0.2 s after each reset.
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(1000)
        self.set_thumbnail_size(size)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)

    def set_thumbnail_size(self, size: int) -> None:
        self.setIconSize(QSize(size, size))
        self.setGridSize(QSize(size + 16, size + 24))

    def selected_item_ids(self) -> list[int]:
        return sorted(index.data(ITEM_ID_ROLE) for index in self.selectionModel().selectedIndexes())

    def select_ids(self, item_ids) -> None:
        """Select the rows of these items and scroll to the first one."""
        model = self.model()
        selection = QItemSelection()
        rows = sorted(r for r in (model.row_of(i) for i in item_ids) if r is not None)
        for row in rows:
            index = model.index(row)
            selection.select(index, index)
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect
        self.selectionModel().select(selection, flags)
        if rows:
            self.selectionModel().setCurrentIndex(
                model.index(rows[0]), QItemSelectionModel.SelectionFlag.NoUpdate)
            self.scrollTo(model.index(rows[0]))
