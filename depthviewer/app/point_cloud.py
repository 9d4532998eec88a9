"""The 3D point cloud of the current frame, drawn with vispy inside the Qt window."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QStackedLayout, QVBoxLayout, QWidget

# Software OpenGL draws ~0.3 s per 466k markers; a bounded display set keeps orbiting smooth.
# The export always writes the full cloud.
MAX_DISPLAY_POINTS = 150_000
# Disparities of a pixel or less put points hundreds of metres away; they would dwarf the scene.
MAX_DISPLAY_DEPTH_M = 80.0


def display_subset(points: np.ndarray, colours: np.ndarray, limit: int = MAX_DISPLAY_POINTS,
                   max_depth_m: float = MAX_DISPLAY_DEPTH_M) -> tuple[np.ndarray, np.ndarray]:
    """Points nearer than `max_depth_m`, regularly subsampled to at most `limit` (deterministic, so
    scrubbing doesn't flicker)."""
    near = points[:, 2] < max_depth_m
    points, colours = points[near], colours[near]
    if len(points) <= limit:
        return points, colours
    step = int(np.ceil(len(points) / limit))
    return points[::step], colours[::step]


def to_display_axes(points_cam: np.ndarray) -> np.ndarray:
    """OpenCV camera frame (x right, y down, z forward) -> vispy's z-up world (x right, y forward, z up)."""
    return np.stack([points_cam[:, 0], points_cam[:, 2], -points_cam[:, 1]], axis=1).astype(np.float32)


class PointCloudView(QWidget):
    """A turntable view of the frame's points coloured by the image; shows a message when there are none."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from vispy import app as vispy_app
        from vispy import scene

        vispy_app.use_app("pyside6")
        self.setToolTip("Points back-projected from the left disparity: Z = fx * baseline / (d + doffs), "
                        "X = (u - cx) Z / fx, Y = (v - cy) Z / fy (left camera frame). Drag to orbit, scroll to zoom.")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        title = QLabel("Point cloud (left camera frame, m)")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title.setStyleSheet("color: #ddd; background: #303038; padding: 2px;")
        outer.addWidget(title)
        holder = QWidget()
        self._stack = QStackedLayout(holder)
        outer.addWidget(holder, 1)

        self.canvas = scene.SceneCanvas(keys=None, show=False, bgcolor=(0.19, 0.19, 0.22, 1.0))
        self.view = self.canvas.central_widget.add_view()
        self.view.camera = scene.TurntableCamera(fov=50.0, elevation=15.0, azimuth=0.0, up="+z")
        self.markers = scene.visuals.Markers(parent=self.view.scene)
        self.markers.set_gl_state("translucent", depth_test=True)
        self._stack.addWidget(self.canvas.native)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setStyleSheet("color: #eee; background: #303038; padding: 12px;")
        self._stack.addWidget(self.message)
        self.point_count = 0
        self.show_message("No frame yet.")

    def show_message(self, text: str) -> None:
        """Replace the view by a message (no calibration, no depth, an error)."""
        self.point_count = 0
        self.message.setText(text)
        self._stack.setCurrentWidget(self.message)

    def set_points(self, points_cam: np.ndarray, colours_rgb: np.ndarray, reset_view: bool = False) -> None:
        """Show (N, 3) points in metres (camera frame) with (N, 3) uint8 colours."""
        if len(points_cam) == 0:
            self.show_message("No points: the frame has no valid depth.")
            return
        points, colours = display_subset(points_cam, colours_rgb)
        if len(points) == 0:
            self.show_message(f"No points nearer than {MAX_DISPLAY_DEPTH_M:g} m.")
            return
        pos = to_display_axes(points)
        self.markers.set_data(pos, face_color=colours.astype(np.float32) / 255.0, edge_width=0.0, size=3.0)
        first = self.point_count == 0
        self.point_count = len(pos)
        self._stack.setCurrentWidget(self.canvas.native)
        if first or reset_view:
            self.reset_view(pos)
        self.canvas.update()

    def reset_view(self, pos: np.ndarray) -> None:
        """Look over the stereo rig's shoulder, from behind and above, at the bulk of the cloud."""
        centre = np.median(pos, axis=0)
        camera = self.view.camera
        camera.center = (float(centre[0]), float(centre[1]), float(centre[2]))
        camera.distance = float(max(centre[1], 1.0) * 1.6)
        camera.azimuth = 0.0
        camera.elevation = 20.0
