"""A plain OpenGL points visual for vispy: one vertex per point, no marker sprites.

vispy's `Markers` draws each point as a shaded sprite (edges, antialiasing), ~0.3 s per 466k points on
software OpenGL; square GL points of a fixed pixel size cost a fraction of that and are what a dense depth
cloud needs. On a GPU both are fast; this one keeps software GL interactive too.
"""

from __future__ import annotations

import numpy as np
from vispy.scene.visuals import create_visual_node
from vispy.visuals import Visual

_VERTEX = """
attribute vec3 a_position;
attribute vec3 a_color;
uniform float u_size;
varying vec3 v_color;
void main() {
    gl_Position = $transform(vec4(a_position, 1.0));
    gl_PointSize = u_size;
    v_color = a_color;
}
"""

_FRAGMENT = """
varying vec3 v_color;
void main() {
    gl_FragColor = vec4(v_color, 1.0);
}
"""


class GLPointsVisual(Visual):
    """Points (N, 3) float32 with colours (N, 3) float32 in [0, 1], drawn `size` pixels wide."""

    def __init__(self) -> None:
        super().__init__(vcode=_VERTEX, fcode=_FRAGMENT)
        self._draw_mode = "points"
        self.set_gl_state("opaque", depth_test=True)
        self._bounds: np.ndarray | None = None
        self.count = 0
        self.set_data(np.zeros((1, 3), np.float32), np.zeros((1, 3), np.float32))
        self.count = 0

    def set_data(self, positions: np.ndarray, colours: np.ndarray, size: float = 2.0) -> None:
        positions = np.ascontiguousarray(positions, dtype=np.float32)
        colours = np.ascontiguousarray(colours, dtype=np.float32)
        self.shared_program["a_position"] = positions
        self.shared_program["a_color"] = colours
        self.shared_program["u_size"] = float(size)
        self.count = len(positions)
        self._bounds = np.stack([positions.min(0), positions.max(0)]) if len(positions) else None
        self.update()

    def set_size(self, size: float) -> None:
        self.shared_program["u_size"] = float(size)
        self.update()

    def _prepare_transforms(self, view) -> None:
        view.view_program.vert["transform"] = view.get_transform()

    def _prepare_draw(self, view) -> bool:
        return self.count > 0

    def _compute_bounds(self, axis: int, view):
        if self._bounds is None:
            return None
        return float(self._bounds[0, axis]), float(self._bounds[1, axis])


GLPoints = create_visual_node(GLPointsVisual)
