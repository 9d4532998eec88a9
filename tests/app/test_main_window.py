"""The main window as a person uses it: open, see six panels, scrub, export, recover from bad input."""

from __future__ import annotations

import numpy as np

from depthviewer.io.ply import read_ply
from tests.app.conftest import SAMPLE, wait_for_frame

IMAGE_PANELS = ("left", "disparity", "reconstruction", "photometric", "lr")


def test_opens_on_the_sample_with_every_panel_filled(qtbot, window):
    assert window.open_path(SAMPLE)
    wait_for_frame(qtbot, window, 0)
    for key in IMAGE_PANELS:
        data = window.grid.cell(key).data
        assert data is not None and data.shape[:2] == (375, 1242), key
        assert np.nanstd(data) > 0, f"{key} panel is uniform"
    assert window.point_cloud.point_count > 50_000
    assert "d1_all" in window.metrics_label.text() and "photometric" in window.metrics_label.text()
    assert "sgbm (cpu)" in window.statusBar().currentMessage() and "last inference" in window.statusBar().currentMessage()
    assert not window.error_banner.isVisible()


def test_panels_pan_and_zoom_together(qtbot, window):
    window.open_path(SAMPLE)
    wait_for_frame(qtbot, window, 0)
    window.grid.cell("left").view.setRange(xRange=(100, 300), yRange=(50, 150), padding=0)
    qtbot.wait(50)
    left_view = window.grid.cell("left").view
    for key in ("disparity", "photometric", "lr", "reconstruction"):
        view = window.grid.cell(key).view
        # Same image pixel at the centre and the same zoom (image pixels per screen pixel).
        (x0, x1), (y0, y1) = view.viewRange()
        assert abs((x0 + x1) / 2 - 200) < 1 and abs((y0 + y1) / 2 - 100) < 1, key
        assert abs(view.viewPixelSize()[0] / left_view.viewPixelSize()[0] - 1) < 0.02, key


def test_slider_scrubs_frames_in_natural_order(qtbot, window, three_frame_folder):
    assert window.open_path(three_frame_folder)
    wait_for_frame(qtbot, window, 0)
    assert window.current.result.frame.name == "frame_1.png"
    first_left = window.grid.cell("left").data.copy()
    assert window.timeline.slider.isEnabled() and window.timeline.slider.maximum() == 2
    window.timeline.slider.setValue(2)
    wait_for_frame(qtbot, window, 2)
    assert window.current.result.frame.name == "frame_10.png"
    assert window.timeline.number.value() == 3 and "frame_10" in window.timeline.label.text()
    assert not np.array_equal(window.grid.cell("left").data, first_left)


def test_dragging_the_slider_does_not_queue_every_frame(qtbot, window, three_frame_folder):
    window.open_path(three_frame_folder)
    wait_for_frame(qtbot, window, 0)
    computed_before = window.worker.worker.frames_computed
    for value in [1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 1, 0, 2] * 3:
        window.timeline.slider.setValue(value)
    wait_for_frame(qtbot, window, 2)
    qtbot.wait(300)
    assert window.current_index == 2
    # 42 requests: the one in flight when the drag started, perhaps one more, and the last.
    assert window.worker.worker.frames_computed - computed_before <= 3


def test_export_writes_a_readable_ply(qtbot, window, tmp_path):
    window.open_path(SAMPLE)
    wait_for_frame(qtbot, window, 0)
    target = window.export_point_cloud(tmp_path / "cloud.ply")
    assert target is not None
    points, colours, comments = read_ply(target)
    assert len(points) == len(window.current.points_m) > 300_000
    assert colours is not None and any("camera frame" in c for c in comments)
    assert np.all(points[:, 2] > 0)


def test_export_to_a_missing_folder_shows_an_error(qtbot, window, tmp_path):
    window.open_path(SAMPLE)
    wait_for_frame(qtbot, window, 0)
    assert window.export_point_cloud(tmp_path / "missing" / "cloud.ply") is None
    assert window.error_banner.isVisible() and "missing" in window.error_banner.text()


def test_bad_folder_keeps_the_open_one(qtbot, window, tmp_path):
    window.open_path(SAMPLE)
    wait_for_frame(qtbot, window, 0)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not window.open_path(empty)
    assert window.error_banner.isVisible() and "empty" in window.error_banner.text()
    assert window.source.root == SAMPLE and window.grid.cell("left").data is not None


def test_missing_calibration_is_asked_for_not_invented(qtbot, window, middlebury_dir):
    from depthviewer.io.calibration import calibration_from_values

    window.open_path(middlebury_dir)
    wait_for_frame(qtbot, window, 0)
    assert window.info_banner.isVisible() and "calibration" in window.info_banner.text().lower()
    assert window.point_cloud.point_count == 0
    assert window.grid.cell("disparity").data is not None
    window.set_calibration(calibration_from_values(994.978, 0.193001, 310.2, 253.9, doffs_px=28.6, source="test"))
    qtbot.waitUntil(lambda: window.point_cloud.point_count > 0, timeout=30_000)
    assert not window.info_banner.isVisible()
