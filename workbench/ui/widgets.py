"""Small widget helpers shared by the panels."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox


@contextmanager
def wait_cursor() -> Iterator[None]:
    """Show the wait cursor while a step of a second or more runs on the GUI thread."""
    QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        yield
    finally:
        QGuiApplication.restoreOverrideCursor()


def unit_spin_box(value: float, decimals: int = 3, step: float = 0.01) -> QDoubleSpinBox:
    """Return a spin box for a value between 0 and 1 (scores and thresholds)."""
    box = QDoubleSpinBox()
    box.setRange(0.0, 1.0)
    box.setDecimals(decimals)
    box.setSingleStep(step)
    box.setValue(value)
    return box


def refill_combo(box: QComboBox, title: str, options: list[tuple[Any, str]]) -> None:
    """Replace a combo box's entries with "title" (data None) and ``options``.

    The selection stays on the same data when it is still offered, and no
    change signal is sent, so refilling never triggers a reload.
    """
    current = box.currentData()
    box.blockSignals(True)
    box.clear()
    box.addItem(title, None)
    for value, text in options:
        box.addItem(text, value)
    box.setCurrentIndex(max(0, box.findData(current)))
    box.blockSignals(False)
