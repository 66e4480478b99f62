"""Render resources/icon.svg to resources/icon.png (256 px) with Qt's SVG renderer.

Run it after changing the SVG: ``python packaging/render-icon.py``. PyInstaller
turns the PNG into the Windows .ico and the macOS .icns when it builds.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QGuiApplication, QImage, QPainter  # noqa: E402
from PySide6.QtSvg import QSvgRenderer  # noqa: E402

RESOURCES = Path(__file__).resolve().parents[1] / "resources"


def render(size: int = 256) -> Path:
    renderer = QSvgRenderer(str(RESOURCES / "icon.svg"))
    if not renderer.isValid():
        raise SystemExit(f"Invalid SVG: {RESOURCES / 'icon.svg'}")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    target = RESOURCES / "icon.png"
    if not image.save(str(target)):
        raise SystemExit(f"Could not write {target}")
    return target


if __name__ == "__main__":
    app = QGuiApplication(sys.argv[:1])
    print(render())
