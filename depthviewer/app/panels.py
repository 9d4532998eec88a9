"""The maps a panel can show: what each is, how to get it from a computed frame, how to colour it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from depthviewer.app.image_panel import robust_levels

POINT_CLOUD = "point_cloud"
LR_SATURATION_PX = 3.0  # KITTI's outlier threshold: brighter than this is inconsistent by that standard


@dataclass(frozen=True)
class PanelSpec:
    """One map: `extract` returns it from a worker output (None when this frame has no such map).

    `kind` is "rgb" (an image shown as is) or "scalar" (a float map through a colour map with a bar);
    `auto_levels` gives the automatic colour range for a scalar map.
    """

    key: str
    title: str
    tooltip: str
    kind: str
    extract: Callable[[object], np.ndarray | None]
    colormap: str = "magma"
    unit: str = ""
    auto_levels: Callable[[np.ndarray], tuple[float, float]] = lambda values: (0.0, robust_levels(values, 0, 99)[1])


def _stereo(attr: str) -> Callable[[object], np.ndarray | None]:
    def extract(output) -> np.ndarray | None:
        return getattr(output.result.analysis, attr)
    return extract


def _reconstruction(output) -> np.ndarray:
    analysis = output.result.analysis
    return np.where(analysis.warp_valid[..., None], analysis.reconstruction_left_rgb, np.nan).astype(np.float32)


def _gt_error(output) -> np.ndarray | None:
    gt = output.result.frame.gt_disparity_px
    if gt is None:
        return None
    return np.abs(output.result.prediction.disparity_left_px - gt).astype(np.float32)


def _confidence(output) -> np.ndarray | None:
    return getattr(output.result.prediction, "confidence", None)


STEREO_PANELS: tuple[PanelSpec, ...] = (
    PanelSpec("left", "Left input", "Left input image (rectified).", "rgb",
              lambda o: o.result.frame.left_rgb),
    PanelSpec("right", "Right input", "Right input image (rectified).", "rgb",
              lambda o: o.result.frame.right_rgb),
    PanelSpec("disparity", "Disparity (px)", "Left disparity d(x, y) from the backend, pixels. Grey: no estimate.",
              "scalar", lambda o: o.result.prediction.disparity_left_px, colormap="turbo", unit="px",
              auto_levels=lambda v: (0.0, robust_levels(v, 0, 99.5)[1])),
    PanelSpec("depth", "Depth (m)", "Depth = fx * baseline / (d + doffs), metres. Needs a calibration.",
              "scalar", _stereo("depth_m"), colormap="viridis", unit="m",
              auto_levels=lambda v: robust_levels(v, 1, 95)),
    PanelSpec("reconstruction", "Left reconstructed from right",
              "Left view reconstructed from the right image: I_R sampled bilinearly at (x - d, y) (Monodepth view "
              "synthesis). Grey: the source falls outside the image or d is missing.", "rgb", _reconstruction),
    PanelSpec("photometric", "Photometric error (MD2)",
              "Photometric error, Monodepth2: pe = 0.85 (1 - SSIM)/2 + 0.15 |I - I_hat|, SSIM with a 3x3 mean filter "
              "after reflection padding, C1 = 0.01^2, C2 = 0.03^2, averaged over colour channels.", "scalar",
              _stereo("photometric_error")),
    PanelSpec("ssim", "SSIM part (1 - SSIM)/2", "The SSIM dissimilarity part of the photometric error "
              "(unweighted, averaged over channels).", "scalar", _stereo("ssim_dissimilarity")),
    PanelSpec("l1", "L1 part |I - I_hat|", "The L1 part of the photometric error (unweighted, averaged over "
              "channels).", "scalar", _stereo("l1_error")),
    PanelSpec("lr", "Left-right consistency (px)",
              "Left-right consistency, Monodepth: |d_L(x) - d_R(x - d_L(x))| in pixels; the automatic range "
              "saturates at 3 px (KITTI's outlier threshold). Grey: not defined.", "scalar",
              _stereo("lr_consistency_px"), unit="px", auto_levels=lambda v: (0.0, LR_SATURATION_PX)),
    PanelSpec("smoothness", "Edge-aware smoothness (MD2)",
              "Monodepth2 smoothness per pixel: |dx d*| exp(-|dx I|) + |dy d*| exp(-|dy I|), d* = d / mean(d).",
              "scalar", _stereo("smoothness")),
    PanelSpec("gt_error", "Error vs GT (px)", "|d - d_gt| in pixels where GT exists; the automatic range "
              "saturates at 3 px (KITTI's D1 threshold).", "scalar", _gt_error, colormap="inferno", unit="px",
              auto_levels=lambda v: (0.0, LR_SATURATION_PX)),
    PanelSpec("confidence", "Confidence", "The backend's confidence in its disparity, 0 to 1.", "scalar",
              _confidence, colormap="viridis", auto_levels=lambda v: (0.0, 1.0)),
)

DEFAULT_STEREO_LAYOUT = ("left", "disparity", "reconstruction", "photometric", "lr", POINT_CLOUD)


def spec_by_key(specs: tuple[PanelSpec, ...]) -> dict[str, PanelSpec]:
    return {spec.key: spec for spec in specs}
