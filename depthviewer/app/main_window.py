"""The main window: six linked panels of the current frame, a frame slider, open and export."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QApplication,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from depthviewer.app.calibration_dialog import CalibrationDialog
from depthviewer.app.image_panel import ImagePanel, ViewLinker, robust_levels
from depthviewer.app.point_cloud import PointCloudView
from depthviewer.app.worker import WorkerOutput, WorkerThread
from depthviewer.backends import StereoBackend, create_backend
from depthviewer.compute.device import default_device, device_label
from depthviewer.errors import DepthViewerError
from depthviewer.io.ply import write_ply
from depthviewer.io.stereo_folder import StereoFolder, open_stereo_folder
from depthviewer.pipeline import CAMERA_FRAME_NOTE
from depthviewer.types import StereoCalibration

TOOLTIPS = {
    "left": "Left input image (rectified).",
    "disparity": "Left disparity d(x, y) from the backend, pixels. Grey: no estimate.",
    "reconstruction": "Left view reconstructed from the right image: I_R sampled bilinearly at (x - d, y) "
                      "(Monodepth view synthesis). Grey: the source falls outside the image or d is missing.",
    "photometric": "Photometric error, Monodepth2: pe = 0.85 (1 - SSIM)/2 + 0.15 |I - I_hat|, SSIM with a 3x3 mean "
                   "filter after reflection padding, C1 = 0.01^2, C2 = 0.03^2, averaged over colour channels.",
    "lr": "Left-right consistency, Monodepth: |d_L(x) - d_R(x - d_L(x))| in pixels, colours saturating at 3 px "
          "(KITTI's outlier threshold). Grey: not defined.",
}


LR_SATURATION_PX = 3.0


def _format_metrics(metrics: dict[str, float]) -> str:
    order = ["photometric", "lr_consistency", "smoothness", "d1_all", "d1_est", "epe", "bad2", "density",
             "bad0.5", "bad1", "bad4", "avgerr", "rms"]
    parts = []
    for key in order:
        value = metrics.get(key)
        if value is not None and math.isfinite(value):
            unit = "%" if key in ("d1_all", "d1_est", "bad2", "density", "bad0.5", "bad1", "bad4") else ""
            parts.append(f"{key} {value:.3f}{unit}" if not unit else f"{key} {value:.2f}{unit}")
    return "   ".join(parts)


class MainWindow(QMainWindow):
    """Opens a stereo folder, shows the current frame's panels and keeps them in step with the slider."""

    def __init__(self, backend: str | StereoBackend = "sgbm") -> None:
        super().__init__()
        self.setWindowTitle("depthviewer")
        self.resize(1600, 900)
        self.backend: StereoBackend = create_backend(backend) if isinstance(backend, str) else backend
        self.device = default_device()
        self.source: StereoFolder | None = None
        self.calibration_override: StereoCalibration | None = None
        self.current: WorkerOutput | None = None
        self.current_index = -1
        self.last_error = ""

        self.panels = {
            "left": ImagePanel("Left input", TOOLTIPS["left"]),
            "disparity": ImagePanel("Disparity (px)", TOOLTIPS["disparity"], colormap="turbo", unit="px"),
            "reconstruction": ImagePanel("Left reconstructed from right", TOOLTIPS["reconstruction"]),
            "photometric": ImagePanel("Photometric error (MD2)", TOOLTIPS["photometric"], colormap="magma"),
            "lr": ImagePanel("Left-right consistency (px)", TOOLTIPS["lr"], colormap="magma", unit="px"),
        }
        self.linker = ViewLinker()
        for panel in self.panels.values():
            self.linker.add(panel.view)
        self._fitted_size: tuple[int, int] | None = None
        self.point_cloud = PointCloudView()

        self.error_banner = QLabel()
        self.error_banner.setWordWrap(True)
        self.error_banner.setStyleSheet("background: #5a1e1e; color: #fff; padding: 6px;")
        self.error_banner.hide()
        self.info_banner = QLabel()
        self.info_banner.setWordWrap(True)
        self.info_banner.setStyleSheet("background: #2e3f5a; color: #fff; padding: 6px;")
        self.info_banner.hide()

        self.grid = QGridLayout()
        self.grid.setSpacing(4)
        self._cells = [self.panels["left"], self.panels["disparity"], self.panels["reconstruction"],
                       self.panels["photometric"], self.panels["lr"], self.point_cloud]
        self._arrange(columns=3)

        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setEnabled(False)
        self.slider.valueChanged.connect(self.request_frame)
        self.frame_label = QLabel("no folder")
        self.frame_label.setMinimumWidth(220)
        self.metrics_label = QLabel()
        self.metrics_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        timeline = QHBoxLayout()
        timeline.addWidget(self.frame_label)
        timeline.addWidget(self.slider, 1)

        central = QWidget()
        column = QVBoxLayout(central)
        column.addWidget(self.error_banner)
        column.addWidget(self.info_banner)
        column.addLayout(self.grid, 1)
        column.addLayout(timeline)
        column.addWidget(self.metrics_label)
        self.setCentralWidget(central)

        self._build_menus()
        self.worker = WorkerThread(self)
        self.worker.worker.finished.connect(self._on_finished)
        self.worker.worker.failed.connect(self._on_failed)
        self.statusBar().showMessage(self._status_text())

    def _arrange(self, columns: int) -> None:
        """Lay the six panels out in `columns` columns (2 for wide images such as KITTI's, else 3)."""
        for widget in self._cells:
            self.grid.removeWidget(widget)
        for i, widget in enumerate(self._cells):
            self.grid.addWidget(widget, i // columns, i % columns)
        rows = (len(self._cells) + columns - 1) // columns
        for r in range(3):
            self.grid.setRowStretch(r, 1 if r < rows else 0)
        for c in range(3):
            self.grid.setColumnStretch(c, 1 if c < columns else 0)
        self.columns = columns

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        open_action = QAction("&Open stereo folder…", self, shortcut=QKeySequence.StandardKey.Open)
        open_action.triggered.connect(self._choose_folder)
        file_menu.addAction(open_action)
        self.export_action = QAction("&Export point cloud (PLY)…", self, shortcut=QKeySequence("Ctrl+E"))
        self.export_action.triggered.connect(self._choose_export)
        self.export_action.setEnabled(False)
        file_menu.addAction(self.export_action)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        calib_menu = self.menuBar().addMenu("&Calibration")
        set_action = QAction("&Set calibration…", self)
        set_action.triggered.connect(self.ask_calibration)
        calib_menu.addAction(set_action)

    def _status_text(self, extra: str = "") -> str:
        text = f"backend: {self.backend.name} ({self.backend.device})   analysis: {device_label(self.device)}"
        return f"{text}   {extra}" if extra else text

    # Errors and notes are shown in the window, never as a crash; the last good frame stays on screen.
    def show_error(self, message: str) -> None:
        self.last_error = message
        self.error_banner.setText(message)
        self.error_banner.show()

    def clear_error(self) -> None:
        self.last_error = ""
        self.error_banner.hide()

    def open_path(self, path: str | Path, calibration: StereoCalibration | None = None) -> bool:
        """Open a stereo folder and show its first frame; on failure keep what was open and say why."""
        try:
            source = open_stereo_folder(Path(path), calibration=calibration)
        except DepthViewerError as exc:
            self.show_error(f"Cannot open {path}: {exc.reason}")
            return False
        self.clear_error()
        self.source = source
        self.calibration_override = calibration
        self.current = None
        self.current_index = -1
        self.setWindowTitle(f"depthviewer — {source.root} ({source.layout}, {len(source)} frames)")
        if source.calibration_for(0) is None:
            self.info_banner.setText(f"{source.calibration_note} (Calibration > Set calibration…)")
            self.info_banner.show()
        else:
            self.info_banner.hide()
        self.slider.blockSignals(True)
        self.slider.setRange(0, len(source) - 1)
        self.slider.setValue(0)
        self.slider.setEnabled(len(source) > 1)
        self.slider.blockSignals(False)
        self.request_frame(0)
        return True

    def request_frame(self, index: int) -> None:
        if self.source is None:
            return
        self.frame_label.setText(f"frame {index + 1}/{len(self.source)}: {self.source.names[index]} (computing…)")
        self.worker.request(index, self.source, self.backend, self.device)

    def _on_finished(self, generation: int, index: int, output: WorkerOutput) -> None:
        if generation != self.worker.generation:
            return  # a newer frame was asked for meanwhile
        self.current = output
        self.current_index = index
        result = output.result
        analysis = result.analysis
        self.panels["left"].set_rgb(result.frame.left_rgb)
        disparity = result.prediction.disparity_left_px
        self.panels["disparity"].set_scalar(disparity, (0.0, robust_levels(disparity, 0, 99.5)[1]))
        reconstruction = np.where(analysis.warp_valid[..., None], analysis.reconstruction_left_rgb, np.nan)
        self.panels["reconstruction"].set_rgb(reconstruction.astype(np.float32))
        self.panels["photometric"].set_scalar(analysis.photometric_error,
                                              (0.0, robust_levels(analysis.photometric_error, 0, 99)[1]))
        # Saturates at KITTI's 3 px outlier threshold: anything brighter is inconsistent by that standard.
        self.panels["lr"].set_scalar(analysis.lr_consistency_px, (0.0, LR_SATURATION_PX))
        if self._fitted_size != result.frame.size_hw:
            self._fitted_size = result.frame.size_hw
            height, width = result.frame.size_hw
            self._arrange(columns=2 if width > 2 * height else 3)
            QApplication.processEvents()  # let the views take their new sizes before fitting
            self.linker.fit(result.frame.size_hw[1], result.frame.size_hw[0])
        if output.points_m is not None:
            self.point_cloud.set_points(output.points_m, output.colours_rgb)
            self.export_action.setEnabled(True)
        else:
            self.point_cloud.show_message("No calibration, so no metric depth.\nCalibration > Set calibration…")
            self.export_action.setEnabled(False)
        name = result.frame.name
        self.frame_label.setText(f"frame {index + 1}/{len(self.source)}: {name}")
        self.metrics_label.setText(_format_metrics(analysis.metrics))
        self.statusBar().showMessage(self._status_text(f"{result.prediction.seconds:.2f} s"))
        if self.last_error.startswith("Frame"):
            self.clear_error()

    def _on_failed(self, generation: int, index: int, message: str) -> None:
        if generation != self.worker.generation:
            return
        name = self.source.names[index] if self.source is not None else str(index)
        self.frame_label.setText(f"frame {index + 1}: {name} (failed)")
        self.show_error(f"Frame {name} failed: {message}")

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
        index = max(self.slider.value(), 0)
        if self.open_path(self.source.root, calibration=calibration) and index:
            self.slider.setValue(index)

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
        self.worker.stop()
        super().closeEvent(event)


