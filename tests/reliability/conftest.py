from __future__ import annotations

import pytest


@pytest.fixture
def window(qtbot, demo_folder):
    """The main window, shown offscreen, on a fresh copy of the digits demo."""
    from workbench.ui.main_window import MainWindow

    window = MainWindow(actor="user:test")
    qtbot.addWidget(window)
    window.show()
    assert window.open_project(demo_folder)
    yield window
    window.shutdown()
