"""Embedding view: a pyqtgraph scatter of one stored 2-D projection of the items.

Points are drawn by :class:`PointCloud`, which keeps one color index per
point and paints pre-rendered discs with ``drawPixmapFragments``, so a
recolor only rewrites a small integer array. pyqtgraph's ScatterPlotItem
rebuilds per-point style keys on every ``setData``, which took about 120 ms
for 70,000 points in our measurements (benchmarks/bench_ui.py).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import internals
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QPainter, QPainterPath, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workbench.store import queries
from workbench.store.engine import Project
from workbench.store.queries import ClassInfo
from workbench.ui.point_colors import COLOR_MODES, PointAttributes, color_index, palette

log = logging.getLogger(__name__)

DISC_PX = 6
HOVER_RADIUS_PX = 6
SELECT_MODES = {"pan": "pan and zoom", "rect": "rectangle select", "lasso": "lasso select"}


def projection_key(space: str, method: str) -> str:
    return f"{space}\t{method}"


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Return a boolean mask of the points inside a closed polygon (even-odd rule)."""
    inside = np.zeros(len(points), dtype=bool)
    if len(polygon) < 3 or not len(points):
        return inside
    low, high = polygon.min(axis=0), polygon.max(axis=0)
    candidates = np.flatnonzero(np.all((points >= low) & (points <= high), axis=1))
    x, y = points[candidates, 0], points[candidates, 1]
    hit = np.zeros(len(candidates), dtype=bool)
    previous = polygon[-1]
    for vertex in polygon:
        (x1, y1), (x2, y2) = vertex, previous
        crosses = (y1 > y) != (y2 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            edge_x = (x2 - x1) * (y - y1) / (y2 - y1) + x1
        hit ^= crosses & (x < edge_x)
        previous = vertex
    inside[candidates] = hit
    return inside


class PointCloud(pg.GraphicsObject):
    """Many same-sized points, each drawn in one of a small palette of colors."""

    def __init__(self):
        super().__init__()
        self.xy = np.zeros((0, 2))
        self.color_index = np.zeros(0, dtype=np.int64)
        self._atlas = QPixmap()
        self._bounds = QRectF()
        self._fragments = internals.PrimitiveArray(QPainter.PixmapFragment, 10)

    def set_points(self, xy: np.ndarray) -> None:
        self.prepareGeometryChange()
        self.xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        self.color_index = np.zeros(len(self.xy), dtype=np.int64)
        if len(self.xy):
            low, high = self.xy.min(axis=0), self.xy.max(axis=0)
            self._bounds = QRectF(low[0], low[1], high[0] - low[0], high[1] - low[1])
        else:
            self._bounds = QRectF()
        self.update()

    def set_colors(self, palette: list[str], color_index: np.ndarray) -> None:
        """Set the palette and each point's index into it, then repaint."""
        self._atlas = self._render_atlas(palette)
        self.color_index = np.asarray(color_index, dtype=np.int64)
        self.update()

    def _render_atlas(self, palette: list[str]) -> QPixmap:
        atlas = QPixmap(DISC_PX * max(1, len(palette)), DISC_PX)
        atlas.fill(Qt.GlobalColor.transparent)
        painter = QPainter(atlas)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        for i, color in enumerate(palette):
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QBrush(QColor(color)))
            painter.drawEllipse(QRectF(i * DISC_PX + 0.5, 0.5, DISC_PX - 1, DISC_PX - 1))
        painter.end()
        return atlas

    def boundingRect(self) -> QRectF:
        return self._bounds

    def dataBounds(self, axis, frac=1.0, orthoRange=None):
        if not len(self.xy):
            return None, None
        return float(self.xy[:, axis].min()), float(self.xy[:, axis].max())

    def pixelPadding(self) -> float:
        return DISC_PX

    def paint(self, painter, _option, _widget=None) -> None:
        if not len(self.xy) or self._atlas.isNull():
            return
        transform = painter.transform()
        x, y = self.xy[:, 0], self.xy[:, 1]
        device_x = transform.m11() * x + transform.m21() * y + transform.dx()
        device_y = transform.m12() * x + transform.m22() * y + transform.dy()
        self._fragments.resize(len(x))
        fragments = self._fragments.ndarray()
        fragments[:, 0] = np.clip(device_x, -2**30, 2**30)
        fragments[:, 1] = np.clip(device_y, -2**30, 2**30)
        fragments[:, 2] = self.color_index * DISC_PX
        fragments[:, 3] = 0
        fragments[:, 4:6] = DISC_PX
        fragments[:, 6:10] = (1.0, 1.0, 0.0, 1.0)
        painter.resetTransform()
        painter.drawPixmapFragments(*self._fragments.drawargs(), self._atlas)


class SelectViewBox(pg.ViewBox):
    """A ViewBox that turns left-button drags into rectangle or lasso selections."""

    polygon_selected = Signal(object)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.select_mode = "pan"
        self._path: list[QPointF] = []
        self._outline = pg.QtWidgets.QGraphicsPathItem()
        self._outline.setPen(pg.mkPen("#222222", width=1, style=Qt.PenStyle.DashLine))
        self._outline.setZValue(1e9)
        self.addItem(self._outline, ignoreBounds=True)

    def mouseDragEvent(self, event, axis=None) -> None:
        if self.select_mode == "pan" or event.button() != Qt.MouseButton.LeftButton:
            super().mouseDragEvent(event, axis)
            return
        event.accept()
        point = self.mapSceneToView(event.scenePos())
        if event.isStart():
            self._path = [self.mapSceneToView(event.buttonDownScenePos())]
        self._path.append(point)
        self._outline.setPath(self._outline_path())
        if event.isFinish():
            polygon = np.array([(p.x(), p.y()) for p in self._polygon()])
            self._path = []
            self._outline.setPath(QPainterPath())
            self.polygon_selected.emit(polygon)

    def _polygon(self) -> list[QPointF]:
        if self.select_mode == "rect":
            first, last = self._path[0], self._path[-1]
            return [first, QPointF(last.x(), first.y()), last, QPointF(first.x(), last.y())]
        return self._path

    def _outline_path(self) -> QPainterPath:
        path = QPainterPath()
        points = self._polygon()
        path.moveTo(points[0])
        for point in points[1:]:
            path.lineTo(point)
        path.closeSubpath()
        return path


def _legend_sample(color: str) -> pg.ScatterPlotItem:
    return pg.ScatterPlotItem(pen=None, brush=pg.mkBrush(color), size=8)


class EmbeddingView(QWidget):
    """Scatter of a projection; emits item ids for clicks and selections."""

    item_clicked = Signal(int)
    selection_changed = Signal(object)  # a list of item ids, or None to clear

    def __init__(self, thumbnails, parent=None):
        super().__init__(parent)
        self.thumbnails = thumbnails
        self.project: Project | None = None
        self.classes: list[ClassInfo] = []
        self.ids = np.zeros(0, dtype=np.int64)
        self._row_of_id: dict[int, int] = {}
        self._attributes = PointAttributes()
        self._hover_id: int | None = None
        self._stale = False
        # Whether the view is on screen: a dock behind another tab stays
        # "visible" to Qt, so the main window sets this from the dock.
        self._on_screen = True
        self._changed_ids: set[int] = set()
        self._update_timer = QTimer(self)
        self._update_timer.setSingleShot(True)
        self._update_timer.setInterval(200)
        self._update_timer.timeout.connect(self._flush_updates)
        self.projection_box = QComboBox()
        self.color_box = QComboBox()
        for key, title in COLOR_MODES.items():
            self.color_box.addItem(f"color by {title}", key)
        self.mode_box = QComboBox()
        for key, title in SELECT_MODES.items():
            self.mode_box.addItem(title, key)
        self.clear_button = QPushButton("Clear selection")
        self.info = QLabel()
        self.view_box = SelectViewBox()
        self.plot = pg.PlotWidget(viewBox=self.view_box, background="w")
        self.plot.setAspectLocked(False)
        self.points = PointCloud()
        self.plot.addItem(self.points)
        self.highlight = pg.ScatterPlotItem(pen=pg.mkPen("#000000", width=1.5),
                                            brush=None, size=11)
        self.highlight.setZValue(10)
        self.plot.addItem(self.highlight)
        self.legend = pg.LegendItem(offset=(-10, 10), labelTextColor="#222222",
                                    brush=pg.mkBrush(255, 255, 255, 200))
        self.legend.setParentItem(self.plot.getPlotItem())
        self.hover_label = QLabel(self.plot)
        self.hover_label.setStyleSheet("background: white; border: 1px solid #888;")
        self.hover_label.hide()
        self._build_layout()
        self.projection_box.currentIndexChanged.connect(lambda _: self.load_projection())
        self.color_box.currentIndexChanged.connect(lambda _: self.recolor())
        self.mode_box.currentIndexChanged.connect(self._on_mode)
        self.clear_button.clicked.connect(lambda: self.selection_changed.emit(None))
        self.view_box.polygon_selected.connect(self.select_polygon)
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.plot.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        thumbnails.ready.connect(self._on_thumbnail)

    def _build_layout(self) -> None:
        bar = QHBoxLayout()
        for widget in (self.projection_box, self.color_box, self.mode_box, self.clear_button):
            bar.addWidget(widget)
        bar.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.info)

    # Loading ----------------------------------------------------------------

    def set_project(self, project: Project | None, classes: list[ClassInfo]) -> None:
        self.project = project
        self.classes = classes
        self.reload_projections()

    def reload_projections(self) -> None:
        """Refill the projection list from the store and show the selected one."""
        current = self.projection_box.currentData()
        sets = []
        if self.project is not None:
            with self.project.read() as session:
                sets = queries.projection_sets(session)
        self.projection_box.blockSignals(True)
        self.projection_box.clear()
        for space, method, count in sets:
            # A string key: QComboBox.findData cannot compare Python tuples.
            key = projection_key(space, method)
            self.projection_box.addItem(f"{method} of {space} ({count} points)", key)
        self.projection_box.setCurrentIndex(max(0, self.projection_box.findData(current)))
        self.projection_box.blockSignals(False)
        self.load_projection()

    def set_on_screen(self, on_screen: bool) -> None:
        """Record whether the view is on screen, and load a deferred projection once it is."""
        self._on_screen = on_screen
        if on_screen and self._stale:
            self.load_projection()

    def load_projection(self) -> None:
        """Load the selected projection's points; deferred until the view is shown."""
        key = self.projection_box.currentData()
        if key is not None and self.project is not None and not self._on_screen:
            self._stale = True
            self.info.setText("")
            return
        self._stale = False
        if key is None or self.project is None:
            self._set_points([], [])
            self.info.setText("No projection stored yet. Run a projection job to get one.")
            return
        with self.project.read() as session:
            rows = queries.projection_points(session, *key.split("\t", 1))
            attributes = queries.point_attributes(session)
        points = np.asarray(rows, dtype=float).reshape(-1, 3)
        ids = points[:, 0].astype(np.int64)
        self._set_points(ids, points[:, 1:])
        self._attributes = PointAttributes.from_rows(ids, attributes)
        self.recolor()
        self.plot.getPlotItem().enableAutoRange()
        self.info.setText(f"{len(ids)} points. Hover shows the image; click selects it.")

    def _set_points(self, ids, xy) -> None:
        self.ids = np.asarray(ids, dtype=np.int64)
        self._row_of_id = dict(zip(self.ids.tolist(), range(len(self.ids))))
        self._attributes = PointAttributes(len(self.ids))
        self.points.set_points(np.asarray(xy, dtype=float).reshape(-1, 2))
        self.highlight.setData([], [])

    def update_items(self, item_ids: list[int]) -> None:
        """Recolor these items a moment later; calls in between are merged."""
        self._changed_ids.update(i for i in item_ids if i in self._row_of_id)
        if self._changed_ids:
            self._update_timer.start()

    def _flush_updates(self) -> None:
        """Recolor only the changed points; the palette and legend stay as they are."""
        ids, self._changed_ids = sorted(self._changed_ids), set()
        if self.project is None or not ids:
            return
        with self.project.read() as session:
            rows = queries.point_attributes(session, ids)
        points = self._attributes.assign(self.ids, rows)
        mode = self.color_box.currentData()
        self.points.color_index[points] = color_index(self._attributes, mode, self.classes,
                                                      points)
        self.points.update()

    # Coloring ---------------------------------------------------------------

    def recolor(self) -> None:
        mode = self.color_box.currentData()
        colors, legend = palette(mode, self.classes)
        self.points.set_colors(colors, color_index(self._attributes, mode, self.classes))
        self.legend.clear()
        for color, name in legend:
            self.legend.addItem(_legend_sample(color), name)

    # Selection --------------------------------------------------------------

    def _on_mode(self) -> None:
        mode = self.mode_box.currentData()
        self.view_box.select_mode = mode
        self.view_box.setMouseEnabled(x=mode == "pan", y=mode == "pan")

    def select_polygon(self, polygon: np.ndarray) -> list[int]:
        """Emit and return the ids of the points inside ``polygon`` (view coordinates)."""
        mask = points_in_polygon(self.points.xy, np.asarray(polygon, dtype=float))
        ids = [int(i) for i in self.ids[mask]]
        self.info.setText(f"{len(ids)} of {len(self.ids)} points selected; "
                          "the grid shows only these.")
        self.selection_changed.emit(ids)
        return ids

    def highlight_items(self, item_ids: list[int]) -> None:
        """Ring the points of the grid's selected items."""
        rows = [self._row_of_id[i] for i in item_ids if i in self._row_of_id]
        xy = self.points.xy[rows] if rows else np.zeros((0, 2))
        self.highlight.setData(xy[:, 0], xy[:, 1])

    def nearest_item(self, scene_pos) -> int | None:
        """Return the item under a scene position, within HOVER_RADIUS_PX, or None."""
        if not len(self.ids) or not self.plot.sceneBoundingRect().contains(scene_pos):
            return None
        pixel = self.view_box.viewPixelSize()
        point = self.view_box.mapSceneToView(scene_pos)
        dx = (self.points.xy[:, 0] - point.x()) / pixel[0]
        dy = (self.points.xy[:, 1] - point.y()) / pixel[1]
        distance = dx * dx + dy * dy
        row = int(np.argmin(distance))
        return int(self.ids[row]) if distance[row] <= HOVER_RADIUS_PX ** 2 else None

    def _on_mouse_moved(self, scene_pos) -> None:
        item_id = self.nearest_item(scene_pos)
        self._hover_id = item_id
        if item_id is None:
            self.hover_label.hide()
            return
        self._show_hover(scene_pos)

    def _show_hover(self, scene_pos=None) -> None:
        detail = self._hover_detail(self._hover_id)
        if detail is None:
            return
        pixmap = self.thumbnails.get(self.project.cache, self.project.resolve(detail["path"]),
                                     detail["sha256"])
        error = self.thumbnails.error(detail["sha256"])
        if pixmap is not None:
            self.hover_label.setPixmap(pixmap)
        elif error is not None:
            self.hover_label.setText(f"{detail['path']}\nUnreadable: {error}")
        else:
            self.hover_label.setText(detail["path"])
        self.hover_label.adjustSize()
        if scene_pos is not None:
            widget_pos = self.plot.mapFromScene(scene_pos)
            self.hover_label.move(widget_pos.x() + 12, widget_pos.y() + 12)
        self.hover_label.show()
        self.hover_label.raise_()

    def _hover_detail(self, item_id: int | None) -> dict[str, Any] | None:
        if item_id is None or self.project is None:
            return None
        with self.project.read() as session:
            return queries.item_detail(session, item_id)

    def hovered_item(self) -> int | None:
        return self._hover_id if self.hover_label.isVisible() else None

    def _on_thumbnail(self, _sha256: str) -> None:
        if self.hover_label.isVisible() and self._hover_id is not None:
            self._show_hover()

    def _on_mouse_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or event.isAccepted():
            return
        item_id = self.nearest_item(event.scenePos())
        if item_id is not None:
            self.item_clicked.emit(item_id)
