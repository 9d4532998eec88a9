"""Inspecting a frame as a researcher does: hover readout, crosshair, cost inspector, colour maps, layout."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from depthviewer.app.main_window import MainWindow
from tests.app.conftest import SAMPLE, wait_for_frame


def _open_sample(qtbot, window):
    window.open_path(SAMPLE)
    wait_for_frame(qtbot, window, 0)


def test_hover_moves_every_crosshair_and_reads_every_value(qtbot, window):
    _open_sample(qtbot, window)
    disparity_map = window.current.result.prediction.disparity_left_px
    x, y = 700, 250
    assert np.isfinite(disparity_map[y, x])
    window.grid.cell("photometric").hovered.emit(x + 0.3, y + 0.7)
    for cell in window.grid.cells:
        vertical, horizontal = cell.crosshair
        assert vertical.isVisible() and vertical.value() == x + 0.5 and horizontal.value() == y + 0.5
    text = window.readout.text()
    disparity = disparity_map[y, x]
    assert f"x {x}  y {y}" in text and "RGB (" in text
    assert f"Disparity {disparity:.3f} px" in text
    assert "Photometric error" in text and "Left-right consistency" in text and "Depth" in text


def test_real_mouse_hover_gives_image_coordinates(qtbot, window):
    _open_sample(qtbot, window)
    cell = window.grid.cell("left")
    image_point = QPointF(400.0, 200.0)
    scene_point = cell.view.mapViewToScene(image_point)
    widget_point = cell.graphics.mapFromScene(scene_point)
    with qtbot.waitSignal(cell.hovered, timeout=2000) as blocker:
        qtbot.mouseMove(cell.graphics.viewport(), QPoint(int(widget_point.x()), int(widget_point.y())))
    x, y = blocker.args
    assert abs(x - 400) < 3 and abs(y - 200) < 3


def test_click_opens_the_cost_inspector_with_prediction_gt_and_minimum(qtbot, window):
    _open_sample(qtbot, window)
    gt = window.current.result.frame.gt_disparity_px
    ys, xs = np.nonzero(np.isfinite(gt))
    x, y = int(xs[len(xs) // 2]), int(ys[len(ys) // 2])
    window.grid.cell("disparity").clicked.emit(x + 0.4, y + 0.4)
    qtbot.waitUntil(lambda: window.inspector.curve is not None, timeout=10_000)
    assert window.inspector_dock.isVisible()
    text = window.inspector.text
    assert f"pixel ({x}, {y})" in text and "GT" in text and "photometric minimum" in text
    assert "." in text.split("px.")[-1]  # a verdict sentence follows the numbers
    curve = window.inspector.curve
    assert np.isfinite(curve.photometric).sum() > 100


def test_colour_map_and_fixed_range(qtbot, window, three_frame_folder):
    window.open_path(three_frame_folder)
    wait_for_frame(qtbot, window, 0)
    cell = window.grid.cell("disparity")
    cell.colormap_box.setCurrentText("viridis")
    viridis = pg.colormap.get("viridis").getLookupTable(nPts=256)
    assert np.array_equal(cell.image_item.lut, viridis)
    assert np.array_equal(cell.colorbar.colorMap().getLookupTable(nPts=256), viridis)
    cell.fix_range.setChecked(True)
    fixed = cell.levels
    window.timeline.set_index(1)
    wait_for_frame(qtbot, window, 1)
    assert cell.levels == fixed
    cell.fix_range.setChecked(False)
    window.timeline.set_index(2)
    wait_for_frame(qtbot, window, 2)
    assert cell.levels != fixed or np.nanpercentile(cell.data, 99.5) == fixed[1]


def test_a_cell_can_show_another_map_and_the_layout_is_remembered(qtbot, window, settings):
    _open_sample(qtbot, window)
    cell = window.grid.cells[2]
    cell.content.setCurrentIndex(cell.content.findData("gt_error"))
    assert cell.key == "gt_error"
    gt = window.current.result.frame.gt_disparity_px
    shown = cell.data
    assert np.isnan(shown[~np.isfinite(gt)]).all() and np.isfinite(shown[np.isfinite(gt)]).mean() > 0.8
    settings.sync()
    again = MainWindow(backend="sgbm", settings=settings)
    qtbot.addWidget(again)
    assert again.grid.layout_keys()[2] == "gt_error"
    again.reset_layout()
    assert again.grid.layout_keys()[2] == "reconstruction"


def test_scrubbing_back_is_served_from_the_cache(qtbot, window, three_frame_folder):
    window.open_path(three_frame_folder)
    wait_for_frame(qtbot, window, 0)
    window.timeline.set_index(1)
    wait_for_frame(qtbot, window, 1)
    computed = window.worker.worker.frames_computed
    window.timeline.set_index(0)
    assert window.current_index == 0  # at once, without waiting for the worker
    qtbot.wait(200)
    assert window.worker.worker.frames_computed == computed


def test_keys_step_through_frames(qtbot, window, three_frame_folder):
    window.open_path(three_frame_folder)
    wait_for_frame(qtbot, window, 0)
    window.activateWindow()
    window.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_Right)
    assert window.timeline.index == 1
    qtbot.keyClick(window, Qt.Key.Key_End)
    assert window.timeline.index == 2
    qtbot.keyClick(window, Qt.Key.Key_Home)
    assert window.timeline.index == 0
    window.timeline.number.setValue(3)
    assert window.timeline.index == 2


def test_playback_advances_frames(qtbot, window, three_frame_folder):
    window.open_path(three_frame_folder)
    wait_for_frame(qtbot, window, 0)
    window.timeline.fps.setValue(20)
    window.timeline.play_button.setChecked(True)
    qtbot.waitUntil(lambda: window.timeline.index >= 2, timeout=5000)
    window.timeline.play_button.setChecked(False)
    assert not window.timeline.timer.isActive()


def test_losses_plot_fills_in_and_jumps_to_a_clicked_frame(qtbot, window, three_frame_folder):
    window.open_path(three_frame_folder)
    wait_for_frame(qtbot, window, 0)
    window.timeline.set_index(2)
    wait_for_frame(qtbot, window, 2)
    frames, values = window.metrics_plot.series("photometric")
    assert list(frames) == [0, 2] and np.all(values > 0)
    window.metrics_plot.frame_clicked.emit(0)
    assert window.timeline.index == 0


def test_dropping_a_folder_opens_it_and_it_becomes_recent(qtbot, window, three_frame_folder):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(three_frame_folder))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    wait_for_frame(qtbot, window, 0)
    assert window.source.root == three_frame_folder
    assert window.recent_paths()[0] == str(three_frame_folder.resolve())
    assert window.recent_menu.actions()[0].text() == str(three_frame_folder.resolve())


def test_the_backend_and_its_parameters_are_remembered(qtbot, window, settings):
    from depthviewer.app.worker import BackendSpec

    window.set_backends(BackendSpec("sgbm", (("block_size", 5),)))
    settings.sync()
    again = MainWindow(settings=settings)
    qtbot.addWidget(again)
    assert again.backend == BackendSpec("sgbm", (("block_size", 5),))
