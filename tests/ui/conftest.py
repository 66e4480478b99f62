from __future__ import annotations

import pytest

from workbench.ui.main_window import MainWindow

ACTOR = "user:test"


@pytest.fixture
def window(qtbot, demo_folder):
    """The main window, shown offscreen, on a fresh copy of the digits demo."""
    window = MainWindow(actor=ACTOR)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    assert window.open_project(demo_folder)
    yield window
    window.shutdown()
