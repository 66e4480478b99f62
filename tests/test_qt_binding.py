"""Guards against Qt binding releases the window cannot run on."""

from __future__ import annotations

import sys

from PySide6.QtCore import QStringListModel


def test_data_changed_keeps_bool_references(qapp):
    # PySide6 6.12.0 drops a reference to True or False on each emit, which
    # aborts the interpreter once the count reaches zero; pyproject pins below it.
    model = QStringListModel(["a", "b"])
    index = model.index(0)
    before = (sys.getrefcount(True), sys.getrefcount(False))
    for _ in range(1000):
        model.dataChanged.emit(index, index)
    after = (sys.getrefcount(True), sys.getrefcount(False))
    assert after[0] >= before[0] - 10
    assert after[1] >= before[1] - 10
