"""Analysis of one stereo frame: reconstruction, the Monodepth loss maps, depth and metrics."""

from __future__ import annotations

import numpy as np
import torch

from depthviewer.compute.geometry import disparity_to_depth
from depthviewer.compute.losses import (
    lr_consistency_map,
    masked_mean,
    photometric_parts,
    smoothness_loss,
    smoothness_map,
)
from depthviewer.compute.metrics import kitti_disparity_metrics, middlebury_metrics
from depthviewer.compute.warping import warp_right_to_left
from depthviewer.types import StereoAnalysis, StereoFrame, StereoPrediction


def _image_tensor(rgb: np.ndarray, device: torch.device) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) float32 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(rgb)).to(device).permute(2, 0, 1)[None].float() / 255.0


def _map_tensor(values: np.ndarray, device: torch.device) -> torch.Tensor:
    """(H, W) -> (1, 1, H, W) float32."""
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32)).to(device)[None, None]


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    return t[0, 0].detach().cpu().numpy().astype(np.float32)


def _nan_outside(t: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    return torch.where(valid, t, torch.full_like(t, float("nan")))


@torch.no_grad()
def analyse_stereo(
    frame: StereoFrame,
    prediction: StereoPrediction,
    device: torch.device | None = None,
    alpha: float = 0.85,
) -> StereoAnalysis:
    """Compute every map the app shows for a frame, and the per-frame numbers reduced from those maps.

    `photometric` is the mean of the photometric error map over valid warp pixels (source inside the image,
    disparity present); `lr_consistency` the mean of the LR map over its valid pixels; `smoothness` the
    Monodepth2 edge-aware term on the mean-normalised disparity. GT metrics are added when the frame has GT.
    """
    device = device or torch.device("cpu")
    left = _image_tensor(frame.left_rgb, device)
    right = _image_tensor(frame.right_rgb, device)
    disparity_left = _map_tensor(prediction.disparity_left_px, device)

    reconstruction, warp_valid = warp_right_to_left(right, disparity_left)
    pe, ssim_part, l1_part = photometric_parts(left, reconstruction, alpha=alpha)
    metrics: dict[str, float] = {"photometric": float(masked_mean(pe, warp_valid)[0])}

    if prediction.disparity_right_px is not None:
        disparity_right = _map_tensor(prediction.disparity_right_px, device)
        lr_map, lr_valid = lr_consistency_map(disparity_left, disparity_right)
        metrics["lr_consistency"] = float(masked_mean(lr_map, lr_valid)[0])
        lr_np = _to_numpy(lr_map)
    else:
        lr_np = np.full(frame.size_hw, np.nan, dtype=np.float32)

    metrics["smoothness"] = float(smoothness_loss(disparity_left, left)[0])
    smooth_np = _to_numpy(smoothness_map(disparity_left, left))

    depth_np = None
    if frame.calibration is not None:
        cal = frame.calibration
        depth_np = _to_numpy(disparity_to_depth(disparity_left, cal.fx_px, cal.baseline_m, cal.doffs_px))

    if frame.gt_disparity_px is not None:
        metrics.update(kitti_disparity_metrics(prediction.disparity_left_px, frame.gt_disparity_px))
        if frame.dataset.startswith("middlebury"):
            metrics.update(middlebury_metrics(prediction.disparity_left_px, frame.gt_disparity_px))

    return StereoAnalysis(
        reconstruction_left_rgb=reconstruction[0].permute(1, 2, 0).cpu().numpy().astype(np.float32),
        warp_valid=warp_valid[0, 0].cpu().numpy(),
        photometric_error=_to_numpy(_nan_outside(pe, warp_valid)),
        ssim_dissimilarity=_to_numpy(_nan_outside(ssim_part, warp_valid)),
        l1_error=_to_numpy(_nan_outside(l1_part, warp_valid)),
        lr_consistency_px=lr_np,
        smoothness=smooth_np,
        depth_m=depth_np,
        metrics=metrics,
    )
