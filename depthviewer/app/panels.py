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
    missing_reason: str = ""


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


def _a_minus_b(read: Callable[[object], np.ndarray]) -> Callable[[object], np.ndarray | None]:
    def extract(output) -> np.ndarray | None:
        if output.comparison is None:
            return None
        return (read(output.result) - read(output.comparison)).astype(np.float32)
    return extract


def _symmetric(values: np.ndarray) -> tuple[float, float]:
    top = max(robust_levels(np.abs(values), 0, 99)[1], 1e-6)
    return -top, top


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
              auto_levels=lambda v: (0.0, LR_SATURATION_PX), missing_reason="no ground truth"),
    PanelSpec("ab_disparity", "A − B disparity (px)", "Disparity of backend A minus backend B (View > Backend: "
              "'Compare with'). Red: A is nearer.", "scalar",
              _a_minus_b(lambda r: r.prediction.disparity_left_px), colormap="CET-D1", unit="px",
              auto_levels=_symmetric),
    PanelSpec("ab_photometric", "A − B photometric error", "Photometric error of A minus that of B: blue where A "
              "explains the image better.", "scalar", _a_minus_b(lambda r: r.analysis.photometric_error),
              colormap="CET-D1", auto_levels=_symmetric),
    PanelSpec("confidence", "Confidence", "The backend's confidence in its disparity, 0 to 1.", "scalar",
              _confidence, colormap="viridis", auto_levels=lambda v: (0.0, 1.0)),
)

DEFAULT_STEREO_LAYOUT = ("left", "disparity", "reconstruction", "photometric", "lr", POINT_CLOUD)


def spec_by_key(specs: tuple[PanelSpec, ...]) -> dict[str, PanelSpec]:
    return {spec.key: spec for spec in specs}


# Monocular sequences --------------------------------------------------------------------------------------
def _warp(label: str, attr: str) -> Callable[[object], np.ndarray | None]:
    def extract(output) -> np.ndarray | None:
        warp = next((w for w in output.result.analysis.sources if w.label == label), None)
        if warp is None:
            return None
        values = getattr(warp, attr)
        if attr == "reconstruction_rgb":
            return np.where(warp.valid[..., None], values, np.nan).astype(np.float32)
        return values
    return extract


def _mono(attr: str, cast: type | None = None) -> Callable[[object], np.ndarray | None]:
    def extract(output) -> np.ndarray | None:
        values = getattr(output.result.analysis, attr)
        return None if values is None else (values.astype(np.float32) if cast else values)
    return extract


_SOURCES = (("previous", "previous frame (t-1)"), ("next", "next frame (t+1)"), ("stereo", "stereo partner (S)"))

MONO_PANELS: tuple[PanelSpec, ...] = (
    PanelSpec("target", "Target frame", "The frame being explained (t).", "rgb", lambda o: o.result.frame.image_rgb),
    PanelSpec("depth", "Depth (m)", "Depth of the target frame, metres (or up to scale: see the status line).",
              "scalar", lambda o: o.result.depth.depth_m, colormap="viridis", unit="m",
              auto_levels=lambda v: robust_levels(v, 1, 95)),
    *(PanelSpec(f"recon_{key}", f"Reconstruction from {text}",
                f"The {text} warped into the target: back-project with depth and K^-1, move with T_source<-target, "
                "project with K, sample bilinearly (Monodepth2). Grey: the source falls outside the image.",
                "rgb", _warp(key, "reconstruction_rgb"), missing_reason=f"no {text}") for key, text in _SOURCES),
    *(PanelSpec(f"pe_{key}", f"Photometric error, {text}",
                "pe = 0.85 (1 - SSIM)/2 + 0.15 |I - I_hat| of this source's reconstruction (Monodepth2).",
                "scalar", _warp(key, "photometric_error"), missing_reason=f"no {text}") for key, text in _SOURCES),
    *(PanelSpec(f"identity_{key}", f"Unwarped error, {text}",
                "pe between the unwarped source and the target: the auto-mask compares it with the warped error.",
                "scalar", _warp(key, "identity_error"), missing_reason=f"no {text}") for key, text in _SOURCES),
    PanelSpec("min_reprojection", "Minimum reprojection error (MD2)",
              "Per-pixel minimum of the sources' photometric errors (Monodepth2), not their mean.", "scalar",
              _mono("min_reprojection")),
    PanelSpec("automask", "Auto-mask (MD2)", "1: kept, a warped source beats every unwarped one; 0: masked "
              "(static camera, or an object moving with the camera). Monodepth2's 1e-5 N(0,1) tie-break noise "
              "is seeded.", "scalar", _mono("automask", float), colormap="viridis",
              auto_levels=lambda v: (0.0, 1.0)),
    PanelSpec("winning_source", "Winning source", "Index of the source with the minimum reprojection error "
              "(0 = first listed, -1 = none valid).", "scalar", _mono("winning_source", float), colormap="turbo",
              auto_levels=lambda v: (-1.0, max(float(np.nanmax(v)) if np.isfinite(v).any() else 1.0, 1.0))),
    PanelSpec("gt_error", "Error vs GT depth (abs rel)", "|d - d_gt| / d_gt per pixel after the same scaling, "
              "crop and cap as the Eigen metrics.", "scalar", _mono("gt_error"), colormap="inferno",
              auto_levels=lambda v: (0.0, 0.25)),
    PanelSpec("confidence", "Confidence", "The depth backend's confidence, 0 to 1.", "scalar",
              lambda o: o.result.depth.confidence, colormap="viridis", auto_levels=lambda v: (0.0, 1.0)),
)

DEFAULT_MONO_LAYOUT = ("target", "depth", "recon_previous", "min_reprojection", "automask", POINT_CLOUD)
