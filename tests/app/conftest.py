"""GUI fixtures: a main window on real data, driven with qtbot (run under xvfb-run for OpenGL)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyqtgraph as pg
import pytest

from depthviewer.app.main_window import MainWindow

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data" / "kitti2015_stereo"


@pytest.fixture
def settings(tmp_path):
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, settings):
    pg.setConfigOptions(imageAxisOrder="row-major")
    win = MainWindow(backend="sgbm", settings=settings)
    qtbot.addWidget(win)
    win.resize(1500, 850)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()
    # Closing waits at most half a second; a frame still computing then finishes on its own. Let it, so the
    # next test (or the interpreter's exit) doesn't race a thread that is still importing or computing.
    win.worker.thread.wait(120_000)
    if win.exports.export_job is not None:
        win.exports.export_job.thread.wait(120_000)


def wait_for_frame(qtbot, win: MainWindow, index: int, timeout: int = 30_000) -> None:
    qtbot.waitUntil(lambda: win.current is not None and win.current_index == index, timeout=timeout)


@pytest.fixture
def three_frame_folder(tmp_path, kitti2015_dir) -> Path:
    """A plain left/right folder of three real frames (the KITTI pair, mirrored, and cropped-then-padded)."""
    import cv2
    import numpy as np

    left = cv2.imread(str(kitti2015_dir / "image_2" / "000000_10.png"))
    right = cv2.imread(str(kitti2015_dir / "image_3" / "000000_10.png"))
    root = tmp_path / "my rig ü"
    (root / "left").mkdir(parents=True)
    (root / "right").mkdir()
    frames = {
        "frame_1.png": (left, right),
        "frame_2.png": (np.ascontiguousarray(right[:, ::-1]), np.ascontiguousarray(left[:, ::-1])),
        "frame_10.png": (np.roll(left, 40, axis=0), np.roll(right, 40, axis=0)),
    }
    for name, (l_img, r_img) in frames.items():
        cv2.imencode(".png", l_img)[1].tofile(str(root / "left" / name))
        cv2.imencode(".png", r_img)[1].tofile(str(root / "right" / name))
    shutil.copy(kitti2015_dir / "calib_cam_to_cam_2011_09_26.txt", root / "calib.txt")
    return root
