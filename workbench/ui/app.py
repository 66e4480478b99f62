"""Start the Qt application and route Qt messages and uncaught errors to the log."""

from __future__ import annotations

import logging
import signal
import sys
import traceback
from pathlib import Path

from PySide6.QtCore import QTimer, QtMsgType, qInstallMessageHandler
from PySide6.QtWidgets import QApplication, QMessageBox

from workbench.logs import setup_logging

log = logging.getLogger("workbench.qt")

# Python runs a signal handler only when the interpreter runs, and Qt's
# event loop runs no Python while idle, so a timer wakes it this often.
SIGNAL_POLL_MS = 200

_QT_LEVELS = {
    QtMsgType.QtDebugMsg: logging.DEBUG,
    QtMsgType.QtInfoMsg: logging.INFO,
    QtMsgType.QtWarningMsg: logging.WARNING,
    QtMsgType.QtCriticalMsg: logging.ERROR,
    QtMsgType.QtFatalMsg: logging.CRITICAL,
}


def _qt_message(mode, _context, message) -> None:
    log.log(_QT_LEVELS.get(mode, logging.WARNING), "%s", message)


def _excepthook(window):
    def hook(kind, value, tb) -> None:
        text = "".join(traceback.format_exception(kind, value, tb))
        logging.getLogger("workbench").error("Uncaught error:\n%s", text)
        if window is not None and window.isVisible():
            QMessageBox.critical(window, "Unexpected error",
                                 f"{kind.__name__}: {value}\n\nDetails are in the log file.")
    return hook


def quit_on_signals(app: QApplication) -> QTimer:
    """Quit the application on SIGINT (Ctrl+C in its terminal) and SIGTERM.

    Quitting emits aboutToQuit, which runs the window's shutdown, so
    running jobs are cancelled and the thumbnail worker processes stop.
    Otherwise Qt's loop leaves Ctrl+C unhandled, and SIGTERM ends the
    process without stopping those worker processes. Returns the wake-up
    timer, which the application owns.
    """
    def handle(number, _frame) -> None:
        log.info("Received %s, quitting", signal.Signals(number).name)
        app.quit()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    timer = QTimer(app)
    timer.timeout.connect(lambda: None)
    timer.start(SIGNAL_POLL_MS)
    return timer


def make_application(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    app.setApplicationName("workbench")
    app.setOrganizationName("workbench")
    return app


def run_app(folder: Path | None = None) -> int:
    from workbench.ui.main_window import MainWindow

    setup_logging()
    qInstallMessageHandler(_qt_message)
    app = make_application()
    window = MainWindow()
    sys.excepthook = _excepthook(window)
    app.aboutToQuit.connect(window.shutdown)
    quit_on_signals(app)
    window.show()
    if folder is not None:
        window.open_project(Path(folder))
    else:
        window.show_message("Open a project with File > Open project, or run 'workbench demo'.")
    return app.exec()
