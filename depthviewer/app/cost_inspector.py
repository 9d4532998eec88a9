"""The cost inspector: a clicked pixel's photometric error over disparity, with prediction, GT and minimum."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

if TYPE_CHECKING:  # torch loads in the worker, not at start-up
    from depthviewer.compute.cost_curve import CostCurve, TemporalCostCurve

AGREE_PX = 1.0  # within this, two disparities are "the same" for the verdict


AGREE_DEPTH_REL = 0.05  # depths within 5 % are "the same"


def _agree_px(a: float, b: float) -> bool:
    return abs(a - b) <= AGREE_PX


def _agree_depth(a: float, b: float) -> bool:
    return abs(a - b) <= AGREE_DEPTH_REL * max(abs(b), 1e-6)


def verdict(curve: CostCurve, predicted_px: float, gt_px: float | None) -> str:
    """One sentence on who is at fault at this pixel: the matcher/regulariser, the data, or nobody."""
    return judge(curve.photometric, curve.best_disparity_px, predicted_px, gt_px, _agree_px, "disparity", "px")


def judge(costs: np.ndarray, best: float, predicted: float, gt: float | None, agree, what: str, unit: str) -> str:
    """The verdict for any cost curve: `agree(a, b)` says when two values of `what` are the same."""
    if not math.isfinite(best):
        return f"No candidate {what} keeps the source inside the image."
    finite = costs[np.isfinite(costs)]
    if float(np.percentile(finite, 90) - finite.min()) < 0.02:
        return f"The cost is nearly flat: the data can't tell {what} values apart here (textureless or saturated)."
    if not math.isfinite(predicted):
        return f"The backend gave no {what} here; the photometric minimum is at {best:.2f} {unit}."
    if gt is not None and math.isfinite(gt):
        if agree(predicted, gt):
            return "The prediction agrees with the GT."
        if agree(best, gt):
            return ("The data points at the GT but the prediction is elsewhere: the network/matcher or its "
                    "smoothness/regularisation is at fault.")
        if agree(best, predicted):
            return ("The prediction sits at the photometric minimum, away from the GT: the data is misleading "
                    "here (occlusion, reflection, repetitive texture, a moving object).")
        return "Neither the prediction nor the GT sits at the photometric minimum: the data is ambiguous here."
    if agree(best, predicted):
        return "The prediction sits at the photometric minimum."
    return ("The prediction is away from the photometric minimum: smoothness or regularisation moved it "
            "(or the minimum is a false match).")


class CostInspector(QWidget):
    """Plots the curves of one pixel; `show_curve` is called with the worker's result."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setToolTip("Photometric error of the clicked pixel for each disparity: its 3x3 window shifted as a "
                        "whole (Monodepth2 pe, SSIM and L1 parts).")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        self.summary = QLabel("Click a pixel in any image panel.")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "disparity", units="px")
        self.plot.setLabel("left", "photometric error")
        self.plot.addLegend(offset=(-10, 10))
        for side in ("bottom", "left"):
            self.plot.getAxis(side).enableAutoSIPrefix(False)
        layout.addWidget(self.plot, 1)
        self.curve: CostCurve | None = None
        self.text = ""

    def show_curve(self, curve: CostCurve, predicted_px: float, gt_px: float | None) -> None:
        self.curve = curve
        self.plot.clear()
        self.plot.setLabel("bottom", "disparity", units="px")
        d = curve.disparities_px
        self.plot.plot(d, curve.photometric, pen=pg.mkPen("w", width=2), name="pe (0.85 SSIM + 0.15 L1)")
        self.plot.plot(d, curve.ssim_part, pen=pg.mkPen((120, 170, 255), width=1), name="(1 - SSIM)/2")
        self.plot.plot(d, curve.l1_part, pen=pg.mkPen((255, 170, 90), width=1), name="L1")
        marks = [("minimum", curve.best_disparity_px, (255, 80, 80)), ("predicted", predicted_px, (0, 220, 220))]
        if gt_px is not None and math.isfinite(gt_px):
            marks.append(("GT", gt_px, (90, 220, 90)))
        for name, value, colour in marks:
            if math.isfinite(value):
                line = pg.InfiniteLine(pos=value, angle=90, pen=pg.mkPen(colour, width=2),
                                       label=name, labelOpts={"position": 0.9, "color": colour})
                self.plot.addItem(line)
        gt_text = f", GT {gt_px:.2f} px" if gt_px is not None and math.isfinite(gt_px) else ", no GT"
        self.text = (f"pixel ({curve.x}, {curve.y}): predicted {predicted_px:.2f} px{gt_text}, photometric minimum "
                     f"{curve.best_disparity_px:.2f} px. {verdict(curve, predicted_px, gt_px)}")
        self.summary.setText(self.text)

    def show_temporal_curve(self, curve: TemporalCostCurve, predicted_m: float, gt_m: float | None) -> None:
        """A sequence pixel: each source's error over depth, and their minimum (Monodepth2's min reprojection)."""
        self.curve = curve
        self.plot.clear()
        self.plot.setLabel("bottom", "depth", units="m")
        d = curve.depths_m
        self.plot.plot(d, curve.minimum, pen=pg.mkPen("w", width=3), name="minimum over sources")
        colours = [(120, 170, 255), (255, 170, 90), (120, 220, 120)]
        for (label, costs), colour in zip(curve.per_source.items(), colours):
            self.plot.plot(d, costs, pen=pg.mkPen(colour, width=1), name=f"pe, {label}")
        marks = [("minimum", curve.best_depth_m, (255, 80, 80)), ("predicted", predicted_m, (0, 220, 220))]
        if gt_m is not None and math.isfinite(gt_m):
            marks.append(("GT", gt_m, (90, 220, 90)))
        for name, value, colour in marks:
            if math.isfinite(value):
                self.plot.addItem(pg.InfiniteLine(pos=value, angle=90, pen=pg.mkPen(colour, width=2), label=name,
                                                  labelOpts={"position": 0.9, "color": colour}))
        gt_text = f", GT {gt_m:.2f} m" if gt_m is not None and math.isfinite(gt_m) else ", no GT"
        judged = judge(curve.minimum, curve.best_depth_m, predicted_m, gt_m, _agree_depth, "depth", "m")
        self.text = (f"pixel ({curve.x}, {curve.y}): predicted {predicted_m:.2f} m{gt_text}, photometric minimum "
                     f"{curve.best_depth_m:.2f} m. {judged}")
        self.summary.setText(self.text)
