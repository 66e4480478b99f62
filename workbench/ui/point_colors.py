"""Scatter coloring: per-point attribute columns, palettes and palette indexes.

The embedding view colors up to hundreds of thousands of points, so the
attributes are NumPy columns aligned with the points and every color mode
maps a whole column at once instead of calling a function per point.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from workbench.store.queries import ClassInfo

NO_VALUE_COLOR = "#c8c8c8"
SOURCE_COLORS = {"human": "#1f77b4", "imported": "#2ca02c", "pseudo": "#ff7f0e",
                 "weak": "#9467bd"}
STATE_COLORS = {"pending": "#ff7f0e", "accepted": "#2ca02c", "rejected": "#d62728",
                "superseded": "#8c564b"}
NOISE_BINS = 8
COLOR_MODES = {"class": "class", "source": "label source", "state": "proposal state",
               "noise": "noise score"}


class PointAttributes:
    """Attribute columns (class id, label source, proposal state, noise score) of points.

    ``class_id`` is -1 and ``noise`` NaN where the item has none; ``source``
    and ``state`` are object arrays holding strings or None.
    """

    def __init__(self, count: int = 0):
        self.class_id = np.full(count, -1, dtype=np.int64)
        self.source = np.full(count, None, dtype=object)
        self.state = np.full(count, None, dtype=object)
        self.noise = np.full(count, np.nan)

    def __len__(self) -> int:
        return len(self.class_id)

    @classmethod
    def from_rows(cls, point_ids: np.ndarray, rows: list[tuple]) -> PointAttributes:
        """Align ``(item_id, class_id, source, state, noise)`` rows with ``point_ids``.

        Points whose item has no row keep the empty values.
        """
        attributes = cls(len(point_ids))
        attributes.assign(point_ids, rows)
        return attributes

    def assign(self, point_ids: np.ndarray, rows: list[tuple]) -> np.ndarray:
        """Write the rows' values at their items' points; return the points written."""
        if not rows or not len(point_ids):
            return np.zeros(0, dtype=np.int64)
        row_ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
        order = np.argsort(point_ids, kind="stable")
        slots = np.searchsorted(point_ids, row_ids, sorter=order)
        slots = np.minimum(slots, len(point_ids) - 1)
        found = point_ids[order[slots]] == row_ids
        points = order[slots[found]]
        matched = [row for row, hit in zip(rows, found) if hit]
        class_ids = [-1 if row[1] is None else row[1] for row in matched]
        self.class_id[points] = np.asarray(class_ids, dtype=np.int64)
        self.source[points] = [row[2] for row in matched]
        self.state[points] = [row[3] for row in matched]
        self.noise[points] = [np.nan if row[4] is None else row[4] for row in matched]
        return points


def _categories(mode: str, classes: list[ClassInfo]) -> tuple[list, list[str], list[str]]:
    """Return the keys, colors and names of a categorical mode."""
    if mode == "class":
        return [c.id for c in classes], [c.color for c in classes], [c.name for c in classes]
    table = SOURCE_COLORS if mode == "source" else STATE_COLORS
    return list(table), list(table.values()), list(table)


def palette(mode: str, classes: list[ClassInfo]) -> tuple[list[str], list[tuple[str, str]]]:
    """Return the palette (index 0 is "no value") and the legend entries of a mode."""
    if mode == "noise":
        colormap = pg.colormap.get("viridis")
        colors = [colormap.map((i + 0.5) / NOISE_BINS, mode="qcolor").name()
                  for i in range(NOISE_BINS)]
        legend = [(NO_VALUE_COLOR, "no noise flag")]
        legend += [(colors[i], f"noise score {i / NOISE_BINS:.2f}+")
                   for i in (0, NOISE_BINS // 2, NOISE_BINS - 1)]
        return [NO_VALUE_COLOR, *colors], legend
    _keys, colors, names = _categories(mode, classes)
    none = "unlabeled" if mode in ("class", "source") else "no proposal"
    return [NO_VALUE_COLOR, *colors], [(NO_VALUE_COLOR, none), *zip(colors, names)]


def color_index(attributes: PointAttributes, mode: str, classes: list[ClassInfo],
                points: np.ndarray | slice = slice(None)) -> np.ndarray:
    """Return each point's index into ``palette(mode, classes)``; 0 means no value."""
    if mode == "noise":
        score = attributes.noise[points]
        bins = np.clip(np.nan_to_num(score, nan=0.0) * NOISE_BINS, 0, NOISE_BINS - 1)
        return np.where(np.isnan(score), 0, 1 + bins.astype(np.int64))
    column = {"class": attributes.class_id, "source": attributes.source,
              "state": attributes.state}[mode][points]
    keys, _colors, _names = _categories(mode, classes)
    index = np.zeros(len(column), dtype=np.int64)
    for position, key in enumerate(keys, start=1):
        index[column == key] = position
    return index
