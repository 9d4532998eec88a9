"""The main window: the panel grid of the current frame, the timeline, the inspector docks, open and export."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFileDialog, QLabel, QMainWindow, QVBoxLayout, QWidget

from depthviewer.app.calibration_dialog import CalibrationDialog
from depthviewer.app.cost_inspector import CostInspector
from depthviewer.app.metrics_plot import MetricsPlot
from depthviewer.app.panel_grid import PanelGrid
from depthviewer.app.panels import DEFAULT_STEREO_LAYOUT, STEREO_PANELS
from depthviewer.app.point_cloud import PointCloudView
from depthviewer.app.result_cache import DEFAULT_BUDGET_BYTES, ResultCache
from depthviewer.app.timeline import Timeline
from depthviewer.app.worker import BackendSpec, WorkerOutput, WorkerThread
from depthviewer.errors import DepthViewerError
from depthviewer.io.ply import write_ply
from depthviewer.io.stereo_folder import StereoFolder, open_stereo_folder
from depthviewer.types import StereoCalibration

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "sample_data" / "kitti2015_stereo"
MAX_RECENT = 8
PERCENT_KEYS = ("d1_all", "d1_est", "bad2", "density", "bad0.5", "bad1", "bad4")


def format_metrics(metrics: dict[str, float]) -> str:
    parts = []
    for key, value in metrics.items():
        if value is not None and math.isfinite(value):
            parts.append(f"{key} {value:.2f}%" if key in PERCENT_KEYS else f"{key} {value:.4g}")
    return "   ".join(parts)


def _banner(style: str) -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setStyleSheet(style)
    label.hide()
    return label


class MainWindow(QMainWindow):
    """Opens a stereo folder and keeps every panel, dock and readout in step with the current frame."""

    def __init__(self, backend: str | BackendSpec = "sgbm", settings: QSettings | None = None) -> None:
        super().__init__()
        self.setWindowTitle("depthviewer")
        self.resize(1600, 950)
        self.settings = settings or QSettings("depthviewer", "depthviewer")
        self.backend = BackendSpec(backend) if isinstance(backend, str) else backend
        self.backend_device = "…"
        self.analysis_device = "starting"
        self.source: StereoFolder | None = None
        self.current: WorkerOutput | None = None
        self.current_index = -1
        self.last_error = ""
        self._source_token = 0
        self.cache = ResultCache(int(self.settings.value("cache_bytes", DEFAULT_BUDGET_BYTES)))

        self.point_cloud = PointCloudView()
        layout_keys = self.settings.value("layout", list(DEFAULT_STEREO_LAYOUT))
        self.grid = PanelGrid(STEREO_PANELS, list(layout_keys), self.point_cloud)
        self.grid.hovered.connect(self._on_hovered)
        self.grid.clicked.connect(self._on_clicked)
        self.grid.layout_changed.connect(lambda: self.settings.setValue("layout", self.grid.layout_keys()))
        self.timeline = Timeline()
        self.timeline.index_changed.connect(self.request_frame)
        self.error_banner = _banner("background: #5a1e1e; color: #fff; padding: 6px;")
        self.info_banner = _banner("background: #2e3f5a; color: #fff; padding: 6px;")
        self.readout = QLabel(" ")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.metrics_label = QLabel()
        self.metrics_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(4, 4, 4, 4)
        for widget, stretch in ((self.error_banner, 0), (self.info_banner, 0), (self.grid, 1),
                                (self.timeline, 0), (self.readout, 0), (self.metrics_label, 0)):
            column.addWidget(widget, stretch)
        self.setCentralWidget(central)

        self.inspector = CostInspector()
        self.metrics_plot = MetricsPlot()
        self.metrics_plot.frame_clicked.connect(self.timeline.set_index)
        self.inspector_dock = self._dock("Cost inspector", self.inspector, Qt.DockWidgetArea.RightDockWidgetArea)
        self.metrics_dock = self._dock("Losses over frames", self.metrics_plot, Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.metrics_dock, self.inspector_dock)
        self._docks_sized = False

        self.worker = WorkerThread(self)
        self.worker.worker.finished.connect(self._on_finished)
        self.worker.worker.failed.connect(self._on_failed)
        self.worker.worker.curve_ready.connect(self._on_curve)
        self.worker.worker.backend_ready.connect(self._on_backend_ready)
        self.worker.worker.device_ready.connect(self._on_device_ready)
        self._build_menus()
        self.setAcceptDrops(True)
        self.statusBar().showMessage(self._status_text())

    # Construction ---------------------------------------------------------------------------------------
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _action(self, menu, text: str, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "&Open stereo folder…", self._choose_folder, QKeySequence.StandardKey.Open)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self._action(file_menu, "Open &sample", lambda: self.open_path(SAMPLE_DIR))
        self.export_action = self._action(file_menu, "&Export point cloud (PLY)…", self._choose_export,
                                          QKeySequence("Ctrl+E"))
        self.export_action.setEnabled(False)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        view_menu = self.menuBar().addMenu("&View")
        view_menu.addAction(self.inspector_dock.toggleViewAction())
        view_menu.addAction(self.metrics_dock.toggleViewAction())
        self._action(view_menu, "Reset panel layout", self.reset_layout)
        calib_menu = self.menuBar().addMenu("&Calibration")
        self._action(calib_menu, "&Set calibration…", self.ask_calibration)
        self._refresh_recent()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if not self._docks_sized:  # dock sizes only stick once the window has its geometry
            self.resizeDocks([self.metrics_dock], [max(self.width() // 4, 320)], Qt.Orientation.Horizontal)
            self._docks_sized = True

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        """Arrow keys, Home/End and Space drive the timeline unless a focused widget used the key."""
        actions = {Qt.Key.Key_Right: lambda: self.timeline.step(1), Qt.Key.Key_Left: lambda: self.timeline.step(-1),
                   Qt.Key.Key_Home: self.timeline.first, Qt.Key.Key_End: self.timeline.last,
                   Qt.Key.Key_Space: self.timeline.play_button.toggle}
        action = actions.get(Qt.Key(event.key()))
        if action is None:
            super().keyPressEvent(event)
            return
        action()
        event.accept()

    def _status_text(self, extra: str = "") -> str:
        text = f"backend: {self.backend.label} ({self.backend_device})   analysis: {self.analysis_device}"
        return f"{text}   {extra}" if extra else text

    def _on_backend_ready(self, label: str, device: str) -> None:
        if label == self.backend.label:
            self.backend_device = device
            self.statusBar().showMessage(self._status_text())

    def _on_device_ready(self, label: str) -> None:
        self.analysis_device = label
        self.statusBar().showMessage(self._status_text())

    # Errors and notes are shown in the window, never as a crash; the last good frame stays on screen.
    def show_error(self, message: str) -> None:
        self.last_error = message
        self.error_banner.setText(message)
        self.error_banner.show()

    def clear_error(self) -> None:
        self.last_error = ""
        self.error_banner.hide()

    # Opening --------------------------------------------------------------------------------------------
    def open_path(self, path: str | Path, calibration: StereoCalibration | None = None) -> bool:
        """Open a stereo folder and show its first frame; on failure keep what was open and say why."""
        try:
            source = open_stereo_folder(Path(path), calibration=calibration)
        except DepthViewerError as exc:
            self.show_error(f"Cannot open {path}: {exc.reason}")
            return False
        self.clear_error()
        self.source = source
        self._source_token += 1
        self.cache.clear()
        self.metrics_plot.clear()
        self.current = None
        self.current_index = -1
        self.setWindowTitle(f"depthviewer — {source.root} ({source.layout}, {len(source)} frames)")
        if source.calibration_for(0) is None:
            self.info_banner.setText(f"{source.calibration_note} (Calibration > Set calibration…)")
            self.info_banner.show()
        else:
            self.info_banner.hide()
        if calibration is None:
            self._remember_recent(source.root)
        self.timeline.set_count(len(source))
        self.metrics_plot.set_frame_count(len(source))
        self.request_frame(0)
        return True

    def _remember_recent(self, root: Path) -> None:
        recent = [str(root.resolve())] + [p for p in self.recent_paths() if p != str(root.resolve())]
        self.settings.setValue("recent", recent[:MAX_RECENT])
        self._refresh_recent()

    def recent_paths(self) -> list[str]:
        value = self.settings.value("recent", [])
        return [value] if isinstance(value, str) else list(value or [])

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.recent_paths():
            self._action(self.recent_menu, path, lambda checked=False, p=path: self.open_path(p))
        self.recent_menu.setEnabled(bool(self.recent_paths()))

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        urls = event.mimeData().urls()
        if urls:
            self.open_path(urls[0].toLocalFile())

    # Frames ---------------------------------------------------------------------------------------------
    def _cache_key(self, index: int) -> tuple:
        return (self._source_token, index, self.backend)

    def request_frame(self, index: int) -> None:
        if self.source is None:
            return
        self.timeline.label.setText(f"{self.source.names[index]} (computing…)")
        cached = self.cache.get(self._cache_key(index))
        if cached is not None:
            self.worker.invalidate()  # whatever is in flight is no longer wanted
            self._show(index, cached)
            return
        self.worker.request(index, self.source, self.backend, self._source_token)

    def _on_finished(self, generation: int, index: int, output: WorkerOutput) -> None:
        if output.source_token != self._source_token:
            return
        self.cache.put(self._cache_key(index), output)
        self.metrics_plot.add(index, output.result.analysis.metrics)
        if generation == self.worker.generation:
            self._show(index, output)

    def _show(self, index: int, output: WorkerOutput) -> None:
        self.current = output
        self.current_index = index
        result = output.result
        self.grid.show_output(output, result.frame.size_hw)
        if output.points_m is not None:
            self.point_cloud.set_points(output.points_m, output.colours_rgb, result.frame.calibration.K,
                                        result.frame.size_hw)
            self.export_action.setEnabled(True)
        else:
            self.point_cloud.show_message("No calibration, so no metric depth.\nCalibration > Set calibration…")
            self.export_action.setEnabled(False)
        self.timeline.label.setText(f"{result.frame.name}")
        self.metrics_plot.set_current(index)
        self.metrics_label.setText(format_metrics(result.analysis.metrics))
        self.statusBar().showMessage(self._status_text(f"last inference {result.prediction.seconds:.2f} s"))
        if self.last_error.startswith("Frame"):
            self.clear_error()

    def _on_failed(self, generation: int, index: int, message: str) -> None:
        if generation != self.worker.generation:
            return
        name = self.source.names[index] if self.source is not None else str(index)
        self.timeline.label.setText(f"{name} (failed)")
        self.show_error(f"Frame {name} failed: {message}")

    # Inspection -----------------------------------------------------------------------------------------
    def readout_text(self, x: float, y: float) -> str:
        """Every value at image pixel (x, y) of the current frame, with units."""
        if self.current is None:
            return ""
        col, row = int(x), int(y)
        left = self.current.result.frame.left_rgb
        if not (0 <= row < left.shape[0] and 0 <= col < left.shape[1]):
            return ""
        parts = [f"x {col}  y {row}", "RGB ({}, {}, {})".format(*left[row, col])]
        for spec in STEREO_PANELS:
            if spec.kind != "scalar":
                continue
            values = spec.extract(self.current)
            if values is None:
                continue
            value = float(values[row, col])
            parts.append(f"{spec.title.split(' (')[0]} {value:.3f}{(' ' + spec.unit) if spec.unit else ''}"
                         if math.isfinite(value) else f"{spec.title.split(' (')[0]} —")
        gt = self.current.result.frame.gt_disparity_px
        if gt is not None:
            parts.append(f"GT {gt[row, col]:.2f} px" if math.isfinite(gt[row, col]) else "GT —")
        return "   ".join(parts)

    def _on_hovered(self, x: float, y: float) -> None:
        self.readout.setText(self.readout_text(x, y))

    def _on_clicked(self, x: float, y: float) -> None:
        if self.current is None:
            return
        frame = self.current.result.frame
        disparity = self.current.result.prediction.disparity_left_px
        top = np.nanmax(disparity) if np.isfinite(disparity).any() else 128.0
        candidates = np.arange(0.0, max(128.0, float(top) * 1.25), 0.25)
        self.worker.request_curve(frame.left_rgb, frame.right_rgb, int(x), int(y), candidates)
        self.inspector_dock.show()
        self.inspector_dock.raise_()

    def _on_curve(self, curve) -> None:
        if self.current is None:
            return
        frame = self.current.result.frame
        predicted = float(self.current.result.prediction.disparity_left_px[curve.y, curve.x])
        gt = None if frame.gt_disparity_px is None else float(frame.gt_disparity_px[curve.y, curve.x])
        self.inspector.show_curve(curve, predicted, gt)

    def reset_layout(self) -> None:
        self.grid.set_specs(STEREO_PANELS, list(DEFAULT_STEREO_LAYOUT))
        if self.current is not None:
            self.grid.show_output(self.current, self.current.result.frame.size_hw)

    # Calibration and export -----------------------------------------------------------------------------
    def ask_calibration(self) -> None:
        if self.source is None:
            return
        size = self.current.result.frame.size_hw if self.current is not None else (0, 0)
        dialog = CalibrationDialog((size[1], size[0]), self.source.calibration_note, self)
        if dialog.exec() and dialog.calibration is not None:
            self.set_calibration(dialog.calibration)

    def set_calibration(self, calibration: StereoCalibration) -> None:
        """Reopen the current folder with this calibration, at the same frame."""
        if self.source is None:
            return
        index = max(self.timeline.index, 0)
        if self.open_path(self.source.root, calibration=calibration) and index:
            self.timeline.set_index(index)

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open stereo folder")
        if path:
            self.open_path(path)

    def _choose_export(self) -> None:
        if self.current is None:
            return
        default = f"{Path(self.current.result.frame.name).stem}.ply"
        path, _ = QFileDialog.getSaveFileName(self, "Export point cloud", default, "PLY (*.ply)")
        if path:
            self.export_point_cloud(path)

    def export_point_cloud(self, path: str | Path) -> Path | None:
        """Write the current frame's full point cloud as binary PLY; returns the path, or None on failure."""
        if self.current is None or self.current.points_m is None:
            self.show_error("Nothing to export: the current frame has no point cloud (no calibration?).")
            return None
        from depthviewer.pipeline import CAMERA_FRAME_NOTE

        frame = self.current.result.frame
        try:
            write_ply(Path(path), self.current.points_m, self.current.colours_rgb,
                      comments=[CAMERA_FRAME_NOTE, f"source: {frame.left_path}", f"backend: {self.backend.name}"])
        except (DepthViewerError, OSError) as exc:
            self.show_error(f"Export failed: {exc}")
            return None
        self.statusBar().showMessage(self._status_text(f"exported {len(self.current.points_m)} points to {path}"))
        return Path(path)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self.timeline.play_button.setChecked(False)
        self.worker.stop()
        super().closeEvent(event)
