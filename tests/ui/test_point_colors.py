"""Scatter coloring columns: alignment of attribute rows with points, and each color mode."""

from __future__ import annotations

import numpy as np

from workbench.store.queries import ClassInfo
from workbench.ui.point_colors import NOISE_BINS, PointAttributes, color_index, palette

CLASSES = [ClassInfo(7, "cat", "#111111", "1", 0), ClassInfo(3, "dog", "#222222", "2", 1)]
# (item_id, class_id, source, proposal_state, noise_score), ordered by item id
# as queries.point_attributes returns them.
ROWS = [
    (10, 7, "human", None, None),
    (11, None, None, "pending", 0.95),
    (12, 3, "pseudo", "accepted", None),
    (14, 3, "weak", "rejected", 0.0),
]


def test_rows_align_with_unordered_points():
    # Item 13 has no row (deleted after the projection ran); item 99 likewise.
    point_ids = np.array([12, 99, 10, 14, 11, 13])
    attributes = PointAttributes.from_rows(point_ids, ROWS)
    assert attributes.class_id.tolist() == [3, -1, 7, 3, -1, -1]
    assert attributes.source.tolist() == ["pseudo", None, "human", "weak", None, None]
    assert attributes.state.tolist() == ["accepted", None, None, "rejected", "pending", None]
    assert np.isnan(attributes.noise[[0, 1, 2, 5]]).all()
    assert attributes.noise[3] == 0.0
    assert attributes.noise[4] == 0.95


def test_assign_returns_written_points():
    point_ids = np.array([10, 11, 12, 14])
    attributes = PointAttributes(len(point_ids))
    written = attributes.assign(point_ids, [(12, 7, "human", None, None), (50, 3, None, None, None)])
    assert written.tolist() == [2]
    assert attributes.class_id.tolist() == [-1, -1, 7, -1]


def test_class_and_source_modes():
    attributes = PointAttributes.from_rows(np.array([10, 11, 12, 14]), ROWS)
    colors, legend = palette("class", CLASSES)
    assert colors == ["#c8c8c8", "#111111", "#222222"]
    assert [name for _color, name in legend] == ["unlabeled", "cat", "dog"]
    assert color_index(attributes, "class", CLASSES).tolist() == [1, 0, 2, 2]
    # Sources in the palette's order: human, imported, pseudo, weak.
    assert color_index(attributes, "source", CLASSES).tolist() == [1, 0, 3, 4]


def test_state_mode_on_some_points():
    attributes = PointAttributes.from_rows(np.array([10, 11, 12, 14]), ROWS)
    # States in the palette's order: pending, accepted, rejected, superseded.
    assert color_index(attributes, "state", CLASSES).tolist() == [0, 1, 2, 3]
    assert color_index(attributes, "state", CLASSES, np.array([3, 1])).tolist() == [3, 1]


def test_noise_mode_bins_scores():
    attributes = PointAttributes.from_rows(np.array([10, 11, 12, 14]), ROWS)
    colors, _legend = palette("noise", CLASSES)
    assert len(colors) == NOISE_BINS + 1
    # No flag is 0; a score of 0.0 is the first bin, 0.95 the last.
    assert color_index(attributes, "noise", CLASSES).tolist() == [0, NOISE_BINS, 0, 1]
