"""Reading the hovered pixel and asking for the clicked pixel's cost curve: the window's inspection logic."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QObject


class InspectionController(QObject):
    """Fills the readout line on hover and the cost inspector on click, for stereo and sequence frames."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window

    def readout_text(self, x: float, y: float) -> str:
        """Every value at image pixel (x, y) of the current frame, with units."""
        if self.window.current is None:
            return ""
        col, row = int(x), int(y)
        frame = self.window.current.result.frame
        image = frame.left_rgb if self.window.mode == "stereo" else frame.image_rgb
        if not (0 <= row < image.shape[0] and 0 <= col < image.shape[1]):
            return ""
        parts = [f"x {col}  y {row}", "RGB ({}, {}, {})".format(*image[row, col])]
        for spec in self.window.grid.specs.values():
            if spec.kind != "scalar":
                continue
            values = spec.extract(self.window.current)
            if values is None:
                continue
            value = float(values[row, col])
            parts.append(f"{spec.title.split(' (')[0]} {value:.3f}{(' ' + spec.unit) if spec.unit else ''}"
                         if math.isfinite(value) else f"{spec.title.split(' (')[0]} —")
        gt, unit = ((frame.gt_disparity_px, "px") if self.window.mode == "stereo" else (frame.gt_depth_m, "m"))
        if gt is not None:
            parts.append(f"GT {gt[row, col]:.2f} {unit}" if math.isfinite(gt[row, col]) else "GT —")
        return "   ".join(parts)

    def on_hovered(self, x: float, y: float) -> None:
        self.window.readout.setText(self.window.readout_text(x, y))

    def on_clicked(self, x: float, y: float) -> None:
        if self.window.current is None:
            return
        result, col, row = self.window.current.result, int(x), int(y)
        if self.window.mode == "stereo":
            from depthviewer.compute.cost_curve import stereo_cost_curve

            disparity = result.prediction.disparity_left_px
            top = np.nanmax(disparity) if np.isfinite(disparity).any() else 128.0
            candidates = np.arange(0.0, max(128.0, float(top) * 1.25), 0.25)
            left, right = result.frame.left_rgb, result.frame.right_rgb
            self.window.worker.request_curve(lambda: stereo_cost_curve(left, right, col, row, candidates))
        else:
            from depthviewer.compute.cost_curve import temporal_cost_curve

            frame = result.frame
            images = {"previous": self.window.source.load(frame.index - 1).image_rgb if frame.index > 0 else None,
                      "next": self.window.source.load(frame.index + 1).image_rgb if frame.index + 1 < len(self.window.source)
                      else None, "stereo": frame.right_rgb}
            sources = [(w.label, images[w.label], w.pose.T_source_target) for w in result.analysis.sources
                       if images.get(w.label) is not None]
            depths = 1.0 / np.linspace(1.0 / 100.0, 1.0 / 0.5, 400)
            target, K = frame.image_rgb, frame.K
            self.window.worker.request_curve(lambda: temporal_cost_curve(target, sources, K, col, row, depths))
        self.window.inspector_dock.show()
        self.window.inspector_dock.raise_()

    def on_curve(self, curve) -> None:
        if self.window.current is None:
            return
        frame = self.window.current.result.frame
        if self.window.mode == "stereo":
            predicted = float(self.window.current.result.prediction.disparity_left_px[curve.y, curve.x])
            gt = None if frame.gt_disparity_px is None else float(frame.gt_disparity_px[curve.y, curve.x])
            self.window.inspector.show_curve(curve, predicted, gt)
        else:
            predicted = float(self.window.current.result.depth.depth_m[curve.y, curve.x])
            gt = None if frame.gt_depth_m is None else float(frame.gt_depth_m[curve.y, curve.x])
            self.window.inspector.show_temporal_curve(curve, predicted, gt)

