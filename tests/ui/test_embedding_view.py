"""The embedding scatter: lasso and rectangle filter the grid, hover, click, highlight."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from sklearn.decomposition import PCA
from sqlalchemy import select

from workbench.store.schema import Item, Projection
from workbench.ui.scatter import points_in_polygon, projection_key

LEFT = Qt.MouseButton.LeftButton
NONE = Qt.MouseButton.NoButton
MOVE_INTERVAL_MS = 25


def _store_pca(project, method="pca", seed=None):
    """Project the digits' pixels to 2-D with scikit-learn and store the rows."""
    with project.read() as session:
        items = session.execute(select(Item.id, Item.path).order_by(Item.id)).all()
    pixels = np.stack([np.asarray(Image.open(project.resolve(path)), dtype=float).ravel()
                       for _, path in items])
    if seed is None:
        xy = PCA(n_components=2, random_state=0).fit_transform(pixels)
    else:
        xy = np.random.default_rng(seed).normal(size=(len(items), 2))
    with project.write() as session:
        session.add_all(Projection(item_id=item_id, space="pixels", method=method,
                                   x=float(x), y=float(y))
                        for (item_id, _), (x, y) in zip(items, xy))
    return np.array([item_id for item_id, _ in items]), xy


@pytest.fixture
def scatter(qtbot, window):
    ids, xy = _store_pca(window.project)
    window.embedding.reload_projections()
    window.docks["embedding"].raise_()
    window.docks["embedding"].show()
    view = window.embedding
    view.plot.resize(700, 500)
    qtbot.waitUntil(lambda: view.plot.isVisible())
    view.plot.getPlotItem().autoRange()
    QApplication.processEvents()
    return window, ids, xy


def _widget_point(view, x, y) -> QPoint:
    scene = view.view_box.mapViewToScene(QPointF(x, y))
    return view.plot.mapFromScene(scene)


def _send(view, kind, point, button, buttons):
    viewport = view.plot.viewport()
    event = QMouseEvent(kind, QPointF(point), QPointF(viewport.mapToGlobal(point)),
                        button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, event)


def _drag(view, points):
    _send(view, QEvent.Type.MouseButtonPress, points[0], LEFT, LEFT)
    for point in points[1:]:
        # pyqtgraph drops mouse moves that follow each other within a frame.
        QTest.qWait(MOVE_INTERVAL_MS)
        _send(view, QEvent.Type.MouseMove, point, NONE, LEFT)
    _send(view, QEvent.Type.MouseButtonRelease, points[-1], LEFT, NONE)


def test_points_in_polygon_cases():
    triangle = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    points = np.array([[1.0, 1.0], [3.0, 3.0], [-1.0, 1.0], [0.5, 3.0], [2.0, 1.9]])
    assert points_in_polygon(points, triangle).tolist() == [True, False, False, True, True]
    assert not points_in_polygon(points, triangle[:2]).any()


def test_lasso_filters_grid(qtbot, scatter):
    window, ids, xy = scatter
    view = window.embedding
    assert window.item_model.rowCount() == 1797
    view.mode_box.setCurrentIndex(view.mode_box.findData("lasso"))
    # A lasso around the lower-left quadrant of the data, traced edge by edge.
    low, mid = xy.min(axis=0) - 1, np.median(xy, axis=0)
    corners = [(low[0], low[1]), (mid[0], low[1]), (mid[0], mid[1]), (low[0], mid[1])]
    path = []
    for (x1, y1), (x2, y2) in zip(corners, corners[1:] + corners[:1]):
        path += [_widget_point(view, x1 + (x2 - x1) * t, y1 + (y2 - y1) * t)
                 for t in np.linspace(0, 1, 6)[:-1]]
    path.append(path[0])
    _drag(view, path)
    shown = set(window.item_model.item_ids())
    # Points near the traced edges can fall either way after the pixel rounding.
    tolerance = view.view_box.viewPixelSize()
    sure_in = (xy[:, 0] < mid[0] - 2 * tolerance[0]) & (xy[:, 1] < mid[1] - 2 * tolerance[1])
    sure_out = (xy[:, 0] > mid[0] + 2 * tolerance[0]) | (xy[:, 1] > mid[1] + 2 * tolerance[1])
    assert set(ids[sure_in]) <= shown
    assert not set(ids[sure_out]) & shown
    assert 200 < len(shown) < 1000
    assert f"{len(shown)} points selected" == window.filter_bar.selection_label.text()
    # Other filters combine with the selection.
    window.filter_box.setCurrentIndex(window.filter_box.findData("imported"))
    assert set(window.item_model.item_ids()) <= shown
    window.filter_box.setCurrentIndex(0)
    view.clear_button.click()
    assert window.item_model.rowCount() == 1797


def test_rectangle_selects(qtbot, scatter):
    window, ids, xy = scatter
    view = window.embedding
    view.mode_box.setCurrentIndex(view.mode_box.findData("rect"))
    high, mid = xy.max(axis=0) + 1, np.median(xy, axis=0)
    start, end = _widget_point(view, mid[0], mid[1]), _widget_point(view, high[0], high[1])
    _drag(view, [start, (start + end) / 2, end])
    shown = set(window.item_model.item_ids())
    tolerance = 2 * np.array(view.view_box.viewPixelSize())
    sure_in = np.all(xy > mid + tolerance, axis=1)
    assert set(ids[sure_in]) <= shown
    assert not set(ids[np.any(xy < mid - tolerance, axis=1)]) & shown


def test_hover_click_and_highlight(qtbot, scatter):
    window, ids, xy = scatter
    view = window.embedding
    # The point farthest from the others is unambiguous under the cursor.
    centre = xy.mean(axis=0)
    row = int(np.argmax(((xy - centre) ** 2).sum(axis=1)))
    point = _widget_point(view, *xy[row])
    _send(view, QEvent.Type.MouseMove, point, NONE, NONE)
    assert view.hovered_item() == ids[row]
    qtbot.waitUntil(lambda: view.hover_label.pixmap() is not None
                    and not view.hover_label.pixmap().isNull())
    _send(view, QEvent.Type.MouseButtonPress, point, LEFT, LEFT)
    _send(view, QEvent.Type.MouseButtonRelease, point, LEFT, NONE)
    assert window.grid.selected_item_ids() == [ids[row]]
    assert window.item_pane.item_id == ids[row]
    window.grid.select_ids(ids[:25].tolist())
    assert len(view.highlight.data) == 25


def test_recolor_and_switch_projection(qtbot, scatter):
    window, ids, xy = scatter
    view = window.embedding
    view.color_box.setCurrentIndex(view.color_box.findData("source"))
    with window.project.read() as session:
        imported = set(session.scalars(select(Item.id).where(Item.label_source == "imported")))
    index = view.points.color_index
    assert len({index[i] for i, item_id in enumerate(ids) if item_id in imported}) == 1
    assert {index[i] for i, item_id in enumerate(ids) if item_id not in imported} == {0}
    legend_names = [label.text for _sample, label in view.legend.items]
    assert legend_names[:2] == ["unlabeled", "human"]
    view.color_box.setCurrentIndex(view.color_box.findData("class"))
    assert len(set(view.points.color_index.tolist())) == 11

    _store_pca(window.project, method="random", seed=1)
    view.reload_projections()
    assert view.projection_box.count() == 2
    view.projection_box.setCurrentIndex(view.projection_box.findData(projection_key("pixels", "random")))
    assert not np.allclose(view.points.xy, xy)
    view.projection_box.setCurrentIndex(view.projection_box.findData(projection_key("pixels", "pca")))
    assert np.allclose(view.points.xy, xy)


def test_no_projection_message(qtbot, window):
    assert "No projection stored yet" in window.embedding.info.text()


def test_hidden_view_loads_when_raised(qtbot, window):
    _store_pca(window.project)
    window.docks["jobs"].raise_()
    window.embedding.reload_projections()
    # The Embedding dock is behind the Jobs tab, so nothing is read yet.
    assert len(window.embedding.ids) == 0
    window.docks["embedding"].raise_()
    qtbot.waitUntil(lambda: len(window.embedding.ids) == 1797)
