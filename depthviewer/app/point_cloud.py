"""The 3D point cloud of the current frame, drawn with vispy inside the Qt window, with its display controls."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QStackedLayout,
    QVBoxLayout,
    QWidget,
)

# What is drawn is bounded (a regular subsample); the export always writes the full cloud. Software OpenGL
# (Mesa's llvmpipe) draws ~300k points in ~85 ms, a GPU millions in a few: the budget follows the renderer.
DEFAULT_MAX_POINTS = 2_000_000
SOFTWARE_GL_MAX_POINTS = 150_000
SOFTWARE_RENDERERS = ("llvmpipe", "softpipe", "software rasterizer", "swrast")
# Disparities of a pixel or less put points hundreds of metres away; they would dwarf the scene.
DEFAULT_MAX_DEPTH_M = 80.0


def display_subset(points: np.ndarray, colours: np.ndarray, limit: int = DEFAULT_MAX_POINTS,
                   min_depth_m: float = 0.0, max_depth_m: float = DEFAULT_MAX_DEPTH_M) -> tuple[np.ndarray, np.ndarray]:
    """Points with min_depth_m <= z < max_depth_m, regularly subsampled to at most `limit` (deterministic,
    so scrubbing doesn't flicker)."""
    keep = (points[:, 2] >= min_depth_m) & (points[:, 2] < max_depth_m)
    points, colours = points[keep], colours[keep]
    if len(points) <= limit:
        return points, colours
    step = int(np.ceil(len(points) / limit))
    return points[::step], colours[::step]


def to_display_axes(points_cam: np.ndarray) -> np.ndarray:
    """OpenCV camera frame (x right, y down, z forward) -> vispy's z-up world (x right, y forward, z up)."""
    return np.stack([points_cam[:, 0], points_cam[:, 2], -points_cam[:, 1]], axis=1).astype(np.float32)


def frustum_segments(K: np.ndarray, size_hw: tuple[int, int], depth_m: float) -> np.ndarray:
    """Line segments (16, 3) of the camera's viewing pyramid to `depth_m`, in the camera frame."""
    height, width = size_hw
    corners_px = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], dtype=float)
    rays = np.linalg.solve(K, np.c_[corners_px, np.ones(4)].T).T
    corners = rays / rays[:, 2:3] * depth_m
    origin = np.zeros(3)
    segments = []
    for i in range(4):
        segments += [origin, corners[i], corners[i], corners[(i + 1) % 4]]
    return np.asarray(segments, dtype=np.float32)


def _spin(value: float, low: float, high: float, step: float, suffix: str, tip: str) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setValue(value)
    box.setSuffix(suffix)
    box.setToolTip(tip)
    box.setKeyboardTracking(False)
    return box


class PointCloudView(QWidget):
    """A turntable view of a frame's points; drag to orbit, shift-drag to pan, wheel to zoom."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setToolTip("Points back-projected from the left depth: X = (u - cx) Z / fx, Y = (v - cy) Z / fy, "
                        "left camera frame. Drag to orbit, shift-drag to pan, scroll to zoom.")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addLayout(self._build_controls())
        holder = QWidget()
        self._stack = QStackedLayout(holder)
        outer.addWidget(holder, 1)
        self.canvas = None  # vispy and its GL context are created on first use, not at start-up
        self._clouds: list = []
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setStyleSheet("color: #eee; background: #303038; padding: 12px;")
        self._stack.addWidget(self.message)
        self.point_count = 0
        self._cloud: tuple[np.ndarray, np.ndarray] | None = None
        self._camera: tuple[np.ndarray, tuple[int, int]] | None = None
        self._framed = False
        self.show_message("No frame yet.")

    def _ensure_canvas(self) -> None:
        if self.canvas is not None:
            return
        from vispy import app as vispy_app
        from vispy import scene

        from depthviewer.app.gl_points import GLPoints

        vispy_app.use_app("pyside6")
        self.canvas = scene.SceneCanvas(keys=None, show=False, bgcolor=(0.19, 0.19, 0.22, 1.0))
        self.view = self.canvas.central_widget.add_view()
        self.view.camera = scene.TurntableCamera(fov=50.0, elevation=20.0, azimuth=0.0, up="+z")
        self.points = GLPoints(parent=self.view.scene)
        self.frustum = scene.visuals.Line(color=(1.0, 0.85, 0.2, 1.0), connect="segments", width=1.5,
                                          parent=self.view.scene)
        self._stack.addWidget(self.canvas.native)
        self.renderer = self._renderer_name()
        if any(name in self.renderer.lower() for name in SOFTWARE_RENDERERS):
            self.max_points.blockSignals(True)
            self.max_points.setValue(min(self.max_points.value(), SOFTWARE_GL_MAX_POINTS))
            self.max_points.blockSignals(False)
        self.max_points.setToolTip(f"Most points drawn (a regular subsample; OpenGL renderer: {self.renderer}); "
                                   "the export writes them all")

    def _renderer_name(self) -> str:
        from vispy.gloo import gl

        try:
            self.canvas.set_current()
            return str(gl.glGetParameter(gl.GL_RENDERER))
        except Exception:  # no context yet on some platforms: keep the default budget
            return "unknown"

    def _build_controls(self) -> QVBoxLayout:
        rows = QVBoxLayout()
        rows.setContentsMargins(2, 2, 2, 2)
        rows.setSpacing(2)
        title = QLabel("Point cloud")
        title.setStyleSheet("font-weight: bold;")
        self.colour_mode = QComboBox()
        self.colour_mode.addItems(["image", "depth"])
        self.colour_mode.setToolTip("Colour points by the image or by depth (turbo)")
        self.point_size = _spin(2.0, 1.0, 10.0, 1.0, " px", "Point size on screen")
        self.min_depth = _spin(0.0, 0.0, 1000.0, 1.0, " m", "Show points from this depth")
        self.max_depth = _spin(DEFAULT_MAX_DEPTH_M, 0.5, 10000.0, 5.0, " m", "Show points nearer than this depth")
        self.max_points = QSpinBox()
        self.max_points.setRange(1_000, 20_000_000)
        self.max_points.setSingleStep(50_000)
        self.max_points.setValue(DEFAULT_MAX_POINTS)
        self.max_points.setToolTip("Most points drawn (a regular subsample); the export writes them all")
        self.max_points.setKeyboardTracking(False)
        self.accumulate = QSpinBox()
        self.accumulate.setRange(0, 500)
        self.accumulate.setToolTip("Also show the clouds of this many previous frames (computed ones), placed with "
                                   "the sequence's poses")
        self.accumulate.setPrefix("+")
        self.accumulate.setSuffix(" frames")
        reset = QPushButton("Reset view")
        reset.clicked.connect(lambda: self.reset_view())
        for widgets in ((title, self.colour_mode, self.point_size, self.accumulate, reset),
                        (QLabel("depth"), self.min_depth, QLabel("–"), self.max_depth, QLabel("at most"),
                         self.max_points)):
            row = QHBoxLayout()
            for widget in widgets:
                row.addWidget(widget)
            row.addStretch(1)
            rows.addLayout(row)
        self.colour_mode.currentTextChanged.connect(lambda _: self._redraw())
        self.point_size.valueChanged.connect(lambda _: self._redraw())
        for box in (self.min_depth, self.max_depth, self.max_points):
            box.valueChanged.connect(lambda _: self._redraw())
        return rows

    def show_message(self, text: str) -> None:
        """Replace the view by a message (no calibration, no depth, an error)."""
        self.point_count = 0
        self._cloud = None
        self.message.setText(text)
        self._stack.setCurrentWidget(self.message)

    def set_points(self, points_cam: np.ndarray, colours_rgb: np.ndarray, K: np.ndarray | None = None,
                   size_hw: tuple[int, int] | None = None) -> None:
        """Show (N, 3) points in metres (camera frame) with (N, 3) uint8 colours, and the camera if K is given."""
        self.set_clouds([(points_cam, colours_rgb, None)], K, size_hw)

    def set_clouds(self, clouds: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]], K: np.ndarray | None = None,
                   size_hw: tuple[int, int] | None = None) -> None:
        """Show several frames' clouds together: (points in their camera frame, colours, T_current_cam 4x4 or None
        for the current camera). The depth range applies to each cloud in its own camera; the view stays in the
        current camera's frame."""
        self._clouds = clouds
        self._cloud = self._merged()
        self._camera = (K, size_hw) if K is not None and size_hw is not None else None
        self._redraw()

    def _merged(self) -> tuple[np.ndarray, np.ndarray]:
        points, colours = [], []
        for cloud, colour, T in self._clouds:
            keep = (cloud[:, 2] >= self.min_depth.value()) & (cloud[:, 2] < self.max_depth.value())
            cloud, colour = cloud[keep], colour[keep]
            if T is not None:
                cloud = cloud @ T[:3, :3].T.astype(np.float32) + T[:3, 3].astype(np.float32)
            points.append(cloud)
            colours.append(colour)
        return np.concatenate(points), np.concatenate(colours)

    def _redraw(self) -> None:
        if self._cloud is None:
            return
        self._cloud = self._merged()
        points, colours = display_subset(*self._cloud, limit=self.max_points.value(),
                                         min_depth_m=-np.inf, max_depth_m=np.inf)
        if len(points) == 0:
            cloud = self._cloud
            self.show_message(f"No points between {self.min_depth.value():g} and {self.max_depth.value():g} m.")
            self._cloud = cloud
            return
        if self.colour_mode.currentText() == "depth":
            depth = points[:, 2]
            low, high = np.percentile(depth, [1, 99])
            lut = pg.colormap.get("turbo").getLookupTable(nPts=256)
            shade = np.clip((depth - low) / max(high - low, 1e-6), 0, 1)
            rgb = lut[(shade * 255).astype(int), :3].astype(np.float32) / 255.0
        else:
            rgb = colours.astype(np.float32) / 255.0
        pos = to_display_axes(points)
        self._ensure_canvas()
        self.points.set_data(pos, rgb, size=self.point_size.value())
        if self._camera is not None:
            K, size_hw = self._camera
            self.frustum.set_data(pos=to_display_axes(frustum_segments(K, size_hw, depth_m=2.0)))
            self.frustum.visible = True
        else:
            self.frustum.visible = False
        self.point_count = len(pos)
        self._stack.setCurrentWidget(self.canvas.native)
        if not self._framed:
            self.reset_view(pos)
        self.canvas.update()

    def reset_view(self, pos: np.ndarray | None = None) -> None:
        """Look over the stereo rig's shoulder, from behind and above, at the bulk of the cloud."""
        if pos is None:
            if self._cloud is None:
                return
            pos = to_display_axes(display_subset(*self._cloud, limit=50_000)[0])
        if len(pos) == 0 or self.canvas is None:
            return
        centre = np.median(pos, axis=0)
        camera = self.view.camera
        camera.center = (float(centre[0]), float(centre[1]), float(centre[2]))
        camera.distance = float(max(centre[1], 1.0) * 1.6)
        camera.azimuth = 0.0
        camera.elevation = 20.0
        self._framed = True
