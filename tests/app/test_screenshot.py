"""A real render of the window under Xvfb: every panel must show visible content, not a uniform area."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PySide6.QtGui import QImage

from tests.app.conftest import SAMPLE, wait_for_frame

SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "screenshots"


def _to_array(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height, stride = image.width(), image.height(), image.bytesPerLine()
    buffer = np.frombuffer(image.constBits(), dtype=np.uint8, count=stride * height)
    return buffer.reshape(height, stride)[:, : width * 3].reshape(height, width, 3).copy()


def test_every_panel_has_visible_content(qtbot, window, tmp_path):
    window.open_path(SAMPLE)
    wait_for_frame(qtbot, window, 0)
    qtbot.wait(500)  # let the GL canvas draw
    shot = window.grab()
    target = (SCREENSHOT_DIR if os.environ.get("DEPTHVIEWER_KEEP_SCREENSHOTS") else tmp_path) / "main_window.png"
    target.parent.mkdir(exist_ok=True)
    assert shot.save(str(target))
    pixels = _to_array(shot.toImage())
    ratio = shot.devicePixelRatio()
    widgets = {cell.key: cell for cell in window.grid.cells} | {"point cloud": window.point_cloud}
    for key, widget in widgets.items():
        top_left = widget.mapTo(window, widget.rect().topLeft())
        x0, y0 = int(top_left.x() * ratio), int(top_left.y() * ratio)
        x1, y1 = x0 + int(widget.width() * ratio), y0 + int(widget.height() * ratio)
        region = pixels[y0 + 30 : y1 - 5, x0 + 5 : x1 - 5]  # below the title
        assert region.size > 0, key
        assert region.std() > 12.0, f"{key} panel looks uniform (std {region.std():.1f})"
        distinct = len(np.unique(region.reshape(-1, 3)[::7], axis=0))
        assert distinct > 200, f"{key} panel shows too few colours ({distinct})"
