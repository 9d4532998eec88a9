"""Exporting from the app: a frame range in the background with progress, cancel without partial files,
screenshots, and the dialog's choices."""

from __future__ import annotations

import numpy as np

from depthviewer.app.export_job import FORMAT_LABELS, ExportDialog
from depthviewer.exporting import FORMATS
from depthviewer.io.kitti_png import read_kitti_disparity
from depthviewer.io.ply import read_ply
from tests.app.conftest import wait_for_frame


def test_dialog_offers_every_format_and_keeps_metric_ones_for_calibrated_data(qtbot):
    from depthviewer.app.export_job import SEQUENCE_FORMATS as APP_SEQUENCE_FORMATS
    from depthviewer.exporting import SEQUENCE_FORMATS

    assert set(FORMAT_LABELS) == set(FORMATS) and APP_SEQUENCE_FORMATS == SEQUENCE_FORMATS
    dialog = ExportDialog(frame_count=10, current=4, has_calibration=False)
    qtbot.addWidget(dialog)
    assert not dialog.format_boxes["ply"].isEnabled() and dialog.format_boxes["pfm"].isEnabled()
    assert dialog.indices() == [4]
    dialog.range.setChecked(True)
    dialog.first.setValue(3)
    dialog.last.setValue(5)
    assert dialog.indices() == [2, 3, 4]
    dialog.all_frames.setChecked(True)
    assert dialog.indices() == list(range(10))
    assert dialog.formats() == ["disparity-png"]


def test_export_all_frames_in_the_background(qtbot, window, three_frame_folder, tmp_path):
    window.open_path(three_frame_folder)
    wait_for_frame(qtbot, window, 0)
    out = tmp_path / "out"
    job = window.exports.start_export(out, [0, 1, 2], ["ply", "disparity-png"])
    assert window.exports.progress.isVisible() and window.exports.cancel_button.isVisible()
    with qtbot.waitSignal(job.done, timeout=120_000) as blocker:
        pass
    assert blocker.args[0] == "finished"
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"{stem}{suffix}" for stem in ("frame_1", "frame_2", "frame_10")
                           for suffix in (".ply", "_disp.png"))
    points, colours, _ = read_ply(out / "frame_2.ply")
    assert len(points) > 300_000 and colours is not None
    assert np.isfinite(read_kitti_disparity(out / "frame_1_disp.png")).mean() > 0.7
    qtbot.waitUntil(lambda: not window.exports.progress.isVisible(), timeout=2000)
    assert "exported 3 frame(s)" in window.statusBar().currentMessage()


def test_cancel_leaves_only_complete_files_and_no_thread(qtbot, window, three_frame_folder, tmp_path):
    window.open_path(three_frame_folder)
    wait_for_frame(qtbot, window, 0)
    out = tmp_path / "out"
    job = window.exports.start_export(out, [0, 1, 2], ["ply", "npy"])
    job.progress.connect(lambda *_: window.exports.cancel_export())
    with qtbot.waitSignal(job.done, timeout=120_000) as blocker:
        pass
    assert blocker.args[0] == "cancelled"
    assert job.thread.wait(2000)
    files = sorted(out.iterdir())
    assert [p.name for p in files] == ["frame_1.npy", "frame_1.ply"]  # the first frame only, whole
    assert np.load(files[0]).shape == (375, 1242)
    read_ply(files[1])


def test_export_to_an_unwritable_place_shows_the_error(qtbot, window, three_frame_folder, tmp_path):
    window.open_path(three_frame_folder)
    wait_for_frame(qtbot, window, 0)
    blocker_file = tmp_path / "file"
    blocker_file.write_text("x")
    job = window.exports.start_export(blocker_file / "out", [0], ["ply"])
    with qtbot.waitSignal(job.done, timeout=60_000) as blocker:
        pass
    assert blocker.args[0] == "failed" and "file" in blocker.args[1]
    qtbot.waitUntil(lambda: window.error_banner.isVisible(), timeout=2000)
    assert "Export failed" in window.error_banner.text()


def test_screenshot_of_the_panels(qtbot, window, three_frame_folder, tmp_path):
    import cv2

    window.open_path(three_frame_folder)
    wait_for_frame(qtbot, window, 0)
    path = window.exports.save_screenshot(tmp_path / "shots" / "panels.png")
    image = cv2.imread(str(path))
    assert image is not None and image.shape[0] > 200 and image.std() > 10


def test_backend_dock_switches_backend_and_ab_panels_appear(qtbot, window, three_frame_folder):
    window.open_path(three_frame_folder)
    wait_for_frame(qtbot, window, 0)
    qtbot.waitUntil(lambda: window.backend_dock is not None, timeout=60_000)
    panel = window.backend_panel
    assert {"sgbm", "torch-sgm", "monodepth2", "onnx"} <= {panel.backend.itemText(i) for i in range(panel.backend.count())}
    panel._editors["block_size"][1](5)
    panel.compare.setCurrentText("sgbm")
    panel.apply()
    assert window.backend.params == (("block_size", 5),) and window.backend_b.name == "sgbm"
    qtbot.waitUntil(lambda: window.current is not None and window.current.comparison is not None, timeout=60_000)
    cell = window.grid.cells[2]
    cell.content.setCurrentIndex(cell.content.findData("ab_disparity"))
    shown = cell.data
    a = window.current.result.prediction.disparity_left_px
    b = window.current.comparison.prediction.disparity_left_px
    assert np.allclose(shown, a - b, equal_nan=True) and np.nanmax(np.abs(shown)) > 0
    lo, hi = cell.levels
    assert lo == -hi  # a symmetric range for a difference
    assert "block_size=5" in window.statusBar().currentMessage()


def test_export_frames_of_a_sequence(qtbot, window, shared_data, tmp_path):
    window.open_path(shared_data / "euroc_V1_01_easy_micro")
    wait_for_frame(qtbot, window, 0, timeout=120_000)
    job = window.exports.start_export(tmp_path, [0, 1], ["npy", "ply"])
    with qtbot.waitSignal(job.done, timeout=300_000) as blocker:
        pass
    assert blocker.args[0] == "finished", blocker.args[1]
    depths = sorted(tmp_path.glob("*.npy"))
    assert len(depths) == 2 and len(list(tmp_path.glob("*.ply"))) == 2
    assert 1.0 < np.nanmedian(np.load(depths[0])) < 10.0
