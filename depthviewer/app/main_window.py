"""The main window: the panel grid of the current frame, the timeline, the inspector docks, open and export."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from depthviewer.app.backend_panel import BackendPanel
from depthviewer.app.calibration_dialog import CalibrationDialog
from depthviewer.app.cost_inspector import CostInspector
from depthviewer.app.export_controller import ExportController
from depthviewer.app.inspection import InspectionController
from depthviewer.app.metrics_plot import MetricsPlot
from depthviewer.app.open_dialog import OpenSequenceDialog
from depthviewer.app.panel_grid import PanelGrid
from depthviewer.app.panels import DEFAULT_MONO_LAYOUT, DEFAULT_STEREO_LAYOUT, MONO_PANELS, STEREO_PANELS
from depthviewer.app.point_cloud import PointCloudView
from depthviewer.app.result_cache import DEFAULT_BUDGET_BYTES, ResultCache
from depthviewer.app.timeline import Timeline
from depthviewer.app.worker import BackendSpec, FrameRequest, WorkerOutput, WorkerThread
from depthviewer.errors import DepthViewerError
from depthviewer.io.stereo_folder import StereoFolder
from depthviewer.sequence_pipeline import SequenceOptions
from depthviewer.sources import is_stereo, open_any
from depthviewer.types import StereoCalibration

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "sample_data" / "kitti2015_stereo"
SEQUENCE_SAMPLE_DIR = SAMPLE_DIR.parent / "kitti_odometry_00_seq"
MAX_RECENT = 8
POSE_SCALE_TOLERANCE = 0.1
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

    def __init__(self, backend: str | BackendSpec | None = None, settings: QSettings | None = None) -> None:
        super().__init__()
        self.setWindowTitle("depthviewer")
        self.resize(1600, 950)
        self.settings = settings or QSettings("depthviewer", "depthviewer")
        self.backend = BackendSpec(backend) if isinstance(backend, str) else backend or self._saved_backend()
        self.backend_b: BackendSpec | None = None
        self.backend_device = "…"
        self.analysis_device = "starting"
        self.source: StereoFolder | None = None
        self.current: WorkerOutput | None = None
        self.current_index = -1
        self.last_error = ""
        self._source_token = 0
        self.cache = ResultCache(int(self.settings.value("cache_bytes", DEFAULT_BUDGET_BYTES)))

        self.point_cloud = PointCloudView()
        self.mode = "stereo"
        self.sequence_options = SequenceOptions()
        layout_keys = self.settings.value("layout_stereo", list(DEFAULT_STEREO_LAYOUT))
        self.grid = PanelGrid(STEREO_PANELS, list(layout_keys), self.point_cloud)
        self.inspection = InspectionController(self)
        self.grid.hovered.connect(self.inspection.on_hovered)
        self.point_cloud.accumulate.valueChanged.connect(
            lambda _: self.current is not None and self._show(self.current_index, self.current))
        self.grid.clicked.connect(self.inspection.on_clicked)
        self.grid.layout_changed.connect(
            lambda: self.settings.setValue(f"layout_{self.mode}", self.grid.layout_keys()))
        self.timeline = Timeline()
        self.timeline.index_changed.connect(self.request_frame)
        self.error_banner = _banner("background: #5a1e1e; color: #fff; padding: 6px;")
        self.info_banner = _banner("background: #2e3f5a; color: #fff; padding: 6px;")
        self.readout = QLabel(" ")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.metrics_label = QLabel()
        self.metrics_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        for label in (self.readout, self.metrics_label):  # long lines must not widen the window: they wrap
            label.setWordWrap(True)
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

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
        self.metrics_dock.raise_()
        self.backend_dock: QDockWidget | None = None
        self._docks_sized = False

        self.exports = ExportController(self)
        self.worker = WorkerThread(self)
        self.worker.worker.finished.connect(self._on_finished)
        self.worker.worker.failed.connect(self._on_failed)
        self.worker.worker.curve_ready.connect(self.inspection.on_curve)
        self.worker.worker.backend_ready.connect(self._on_backend_ready)
        self.worker.worker.device_ready.connect(self._on_device_ready)
        self.worker.worker.progress.connect(self._on_progress)
        self.frame_progress = QProgressBar()
        self.frame_progress.setMaximumWidth(200)
        self.frame_progress.setFormat("%v/%m")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the iterations and show the current estimate")
        self.stop_button.clicked.connect(self.stop_iterating)
        for widget in (self.frame_progress, self.stop_button):
            widget.hide()
            self.statusBar().addPermanentWidget(widget)
        self._build_menus()
        self.setAcceptDrops(True)
        self.statusBar().showMessage(self.status_text())

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
        self._action(file_menu, "Open &video or sequence with poses…", self._choose_sequence,
                     QKeySequence("Ctrl+Shift+O"))
        self.recent_menu = file_menu.addMenu("Open &recent")
        samples = file_menu.addMenu("Open &sample")
        self._action(samples, "KITTI 2015 stereo pair", lambda: self.open_path(SAMPLE_DIR))
        self._action(samples, "KITTI odometry sequence (6 frames, poses)", lambda: self.open_path(SEQUENCE_SAMPLE_DIR))
        self.export_action = self._action(file_menu, "&Export point cloud (PLY)…", self.exports.choose_point_cloud,
                                          QKeySequence("Ctrl+E"))
        self.export_action.setEnabled(False)
        self._action(file_menu, "Export &frames…", self.exports.choose_frames, QKeySequence("Ctrl+Shift+E"))
        self._action(file_menu, "Save screens&hot of the panels…", self.exports.choose_screenshot)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        view_menu = self.view_menu = self.menuBar().addMenu("&View")
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
            self.worker.worker.catalogue_ready.connect(self.build_backend_dock)
            QTimer.singleShot(0, self.worker.request_catalogue)

    def build_backend_dock(self, catalogue: dict) -> None:
        """The backend dock lists every backend; the worker reads the registry (it imports torch)."""
        if self.backend_dock is not None:
            return
        self.backend_panel = BackendPanel(catalogue)
        self.backend_panel.set_spec(self.backend)
        self.backend_panel.changed.connect(self.set_backends)
        self.backend_panel.sequence_changed.connect(self.set_sequence_options)
        self.backend_dock = self._dock("Backend", self.backend_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.backend_dock.hide()
        self.view_menu.addAction(self.backend_dock.toggleViewAction())

    def _saved_backend(self) -> BackendSpec:
        """The backend of the last session (QSettings), else sgbm."""
        try:
            saved = json.loads(str(self.settings.value("backend", "")))
            return BackendSpec(str(saved["name"]), tuple((str(k), v) for k, v in saved["params"]))
        except (ValueError, KeyError, TypeError):
            return BackendSpec("sgbm")

    def set_sequence_options(self, depth: str, pose: str) -> None:
        """How sequence frames get depth and ego-motion (stereo/plane-sweep/network; file/estimated/network)."""
        self.sequence_options = dataclasses.replace(self.sequence_options, depth=depth, pose=pose)
        if self.source is not None and self.mode == "sequence":
            self.request_frame(max(self.timeline.index, 0))

    def set_backends(self, spec: BackendSpec, spec_b: BackendSpec | None = None) -> None:
        """Compute with backend `spec` (and `spec_b` for the A−B panels) from now on; recompute this frame."""
        self.backend, self.backend_b = spec, spec_b
        self.backend_device = "…"
        self.settings.setValue("backend", json.dumps({"name": spec.name, "params": [list(p) for p in spec.params]}))
        self.statusBar().showMessage(self.status_text())
        if self.source is not None:
            self.request_frame(max(self.timeline.index, 0))

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

    def status_text(self, extra: str = "") -> str:
        text = f"backend: {self.backend.label} ({self.backend_device})   analysis: {self.analysis_device}"
        return f"{text}   {extra}" if extra else text

    def _on_backend_ready(self, label: str, device: str) -> None:
        if label == self.backend.label:
            self.backend_device = device
            self.statusBar().showMessage(self.status_text())

    def _on_progress(self, generation: int, iteration: int, total: int, loss: float) -> None:
        """An iterating backend (refine) reports: show the loss going down, with a Stop button."""
        if generation != self.worker.generation:
            return
        self.frame_progress.setRange(0, total)
        self.frame_progress.setValue(iteration)
        self.frame_progress.show()
        self.stop_button.show()
        self.statusBar().showMessage(self.status_text(f"{self.backend.name}: iteration {iteration}/{total}, "
                                                      f"loss {loss:.4f}"))

    def stop_iterating(self) -> None:
        self.worker.worker.cancel_requested = True

    def _on_device_ready(self, label: str) -> None:
        self.analysis_device = label
        self.statusBar().showMessage(self.status_text())

    # Errors and notes are shown in the window, never as a crash; the last good frame stays on screen.
    def show_error(self, message: str) -> None:
        self.last_error = message
        self.error_banner.setText(message)
        self.error_banner.show()

    def clear_error(self) -> None:
        self.last_error = ""
        self.error_banner.hide()

    # Opening --------------------------------------------------------------------------------------------
    def open_path(self, path: str | Path, calibration: StereoCalibration | None = None, **sequence_args) -> bool:
        """Open a stereo folder or a sequence and show its first frame; on failure keep what was open and say why.

        `sequence_args` (poses, intrinsics, side_by_side) go to the sequence reader.
        """
        try:
            source = open_any(Path(path), calibration=calibration, **sequence_args)
        except DepthViewerError as exc:
            about_path = exc.path is not None and exc.path.resolve() == Path(path).resolve()
            self.show_error(f"Cannot open {path}: {exc.reason if about_path else exc}")
            return False
        self.clear_error()
        self._set_mode("stereo" if is_stereo(source) else "sequence")
        self.source = source
        self._source_token += 1
        self.cache.clear()
        self.metrics_plot.clear()
        self.current = None
        self.current_index = -1
        fps = getattr(source, "fps", None)
        rate = f", {fps:.2f} fps" if fps else ""
        self.setWindowTitle(f"depthviewer — {source.root} ({source.layout}, {len(source)} frames{rate})")
        if fps:
            self.timeline.fps.setValue(min(max(fps, self.timeline.fps.minimum()), self.timeline.fps.maximum()))
        note = self._source_note(source)
        self.info_banner.setText(note)
        self.info_banner.setVisible(bool(note))
        if calibration is None:
            self._remember_recent(source.root)
        self.timeline.set_count(len(source))
        self.metrics_plot.set_frame_count(len(source))
        self.request_frame(0)
        return True

    def _source_note(self, source) -> str:
        """What the user must know about this source before trusting its maps (missing calibration, poses)."""
        if is_stereo(source):
            if source.calibration_for(0) is None:
                return f"{source.calibration_note} (Calibration > Set calibration…)"
            return ""
        notes = []
        if not source.has_poses:
            notes.append(f"Poses: {source.poses_note}; ego-motion is estimated from the images.")
        if "missing" in source.intrinsics_note:
            notes.append(f"Intrinsics: {source.intrinsics_note}")
        return "  ".join(notes)

    def _set_mode(self, mode: str) -> None:
        """Stereo folders and sequences show different maps: switch the panel set when the kind changes."""
        if mode == getattr(self, "mode", "stereo") and self.grid.specs:
            return
        self.mode = mode
        specs, default = (STEREO_PANELS, DEFAULT_STEREO_LAYOUT) if mode == "stereo" else (MONO_PANELS,
                                                                                           DEFAULT_MONO_LAYOUT)
        keys = self.settings.value(f"layout_{mode}", list(default))
        self.grid.set_specs(specs, list(keys))

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
        return (self._source_token, index, self.backend, self.backend_b, self.sequence_options)

    def request_frame(self, index: int) -> None:
        if self.source is None:
            return
        self.timeline.label.setText(f"{self.source.names[index]} (computing…)")
        cached = self.cache.get(self._cache_key(index))
        if cached is not None:
            self.worker.invalidate()  # whatever is in flight is no longer wanted
            self._show(index, cached)
            return
        options = None if self.mode == "stereo" else self.sequence_options
        self.worker.request(FrameRequest(index, self.source, self.backend, self.backend_b if options is None else None,
                                         options, self._source_token))

    def _on_finished(self, generation: int, index: int, output: WorkerOutput) -> None:
        if output.source_token != self._source_token:
            return
        self.cache.put(self._cache_key(index), output)
        self.metrics_plot.add(index, output.result.analysis.metrics)
        if generation == self.worker.generation:
            self._show(index, output)

    def _show(self, index: int, output: WorkerOutput) -> None:
        self.frame_progress.hide()
        self.stop_button.hide()
        self.current = output
        self.current_index = index
        result = output.result
        self.grid.show_output(output, result.frame.size_hw)
        if output.points_m is not None:
            K = result.frame.calibration.K if self.mode == "stereo" else result.frame.K
            self.point_cloud.set_clouds(self._clouds_to_show(index, output), K, result.frame.size_hw)
            self.export_action.setEnabled(True)
        else:
            self.point_cloud.show_message("No calibration, so no metric depth.\nCalibration > Set calibration…")
            self.export_action.setEnabled(False)
        self.timeline.label.setText(f"{result.frame.name}")
        self.metrics_plot.set_current(index)
        self.metrics_label.setText(format_metrics(result.analysis.metrics))
        seconds = result.prediction.seconds if self.mode == "stereo" else result.depth.seconds
        notes = "" if self.mode == "stereo" else "   " + "; ".join(result.notes)
        self.statusBar().showMessage(self.status_text(f"last inference {seconds:.2f} s{notes}"))
        if self.mode == "sequence":
            self._warn_pose_scale(result.pose_scale)
        if self.last_error.startswith("Frame"):
            self.clear_error()

    def _clouds_to_show(self, index: int, output: WorkerOutput) -> list:
        """The current frame's cloud, and those of up to N earlier computed frames placed with the poses."""
        clouds = [(output.points_m, output.colours_rgb, None)]
        count = self.point_cloud.accumulate.value()
        T_world_current = getattr(output.result.frame, "T_world_cam", None)
        if self.mode != "sequence" or not count or T_world_current is None:
            return clouds
        T_current_world = np.linalg.inv(T_world_current)
        for earlier in range(max(index - count, 0), index):
            cached = self.cache.get(self._cache_key(earlier))
            T_world_cam = None if cached is None else cached.result.frame.T_world_cam
            if cached is not None and cached.points_m is not None and T_world_cam is not None:
                clouds.append((cached.points_m, cached.colours_rgb, T_current_world @ T_world_cam))
        return clouds

    def _warn_pose_scale(self, scale: float | None) -> None:
        """A poses file that disagrees with the images must be obvious at a glance."""
        if scale is None or abs(scale - 1.0) <= POSE_SCALE_TOLERANCE:
            self.info_banner.setText(self._source_note(self.source))
            self.info_banner.setVisible(bool(self.info_banner.text()))
            return
        self.info_banner.setText(
            f"The poses disagree with the images: the photometrically best translation scale of the pose to the "
            f"neighbouring frame is {scale:.2f} (1.00 = consistent). Check the poses file, or use estimated poses "
            "(Backend dock: pose).")
        self.info_banner.show()

    def _on_failed(self, generation: int, index: int, message: str) -> None:
        if generation == -1:  # not about a frame
            self.show_error(message)
            return
        if generation != self.worker.generation:
            return
        name = self.source.names[index] if self.source is not None else str(index)
        self.timeline.label.setText(f"{name} (failed)")
        self.show_error(f"Frame {name} failed: {message}")

    def readout_text(self, x: float, y: float) -> str:
        return self.inspection.readout_text(x, y)

    def reset_layout(self) -> None:
        specs, default = ((STEREO_PANELS, DEFAULT_STEREO_LAYOUT) if self.mode == "stereo"
                          else (MONO_PANELS, DEFAULT_MONO_LAYOUT))
        self.grid.set_specs(specs, list(default))
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

    def _choose_sequence(self) -> None:
        dialog = OpenSequenceDialog(self)
        if dialog.exec() and dialog.path.text():
            self.open_path(dialog.path.text(), **dialog.arguments())

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open stereo folder")
        if path:
            self.open_path(path)

    def export_point_cloud(self, path: str | Path) -> Path | None:
        return self.exports.export_point_cloud(path)

    def busy_threads(self) -> bool:
        """Whether a worker or export thread is still running (after closing: a call that can't be interrupted)."""
        job = self.exports.export_job
        return self.worker.thread.isRunning() or (job is not None and job.thread.isRunning())

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        """Stop playback, cancel an export between files and ask the worker to stop; wait at most a second."""
        self.timeline.play_button.setChecked(False)
        self.exports.shutdown(timeout_ms=500)
        self.worker.stop(timeout_ms=500)
        super().closeEvent(event)
