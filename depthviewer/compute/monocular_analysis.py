"""Analysis of one monocular target frame: each source warped in, Monodepth2's maps, and the numbers from them."""

from __future__ import annotations

import numpy as np
import torch

from depthviewer.compute.losses import masked_mean, photometric_parts, smoothness_loss
from depthviewer.compute.metrics import depth_metrics, eigen_mask
from depthviewer.compute.reprojection import automask, min_reprojection
from depthviewer.compute.temporal import warp_frame_depth
from depthviewer.errors import CalibrationError, DepthViewerError
from depthviewer.types import DepthPrediction, MonocularAnalysis, RelativePose, SequenceFrame, SourceWarp

EIGEN_MIN_DEPTH_M = 1e-3
_EIGEN_KEYS = {"median_scaling", "garg_crop", "max_depth"}


def _image_tensor(rgb: np.ndarray, device: torch.device) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) float32 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(rgb)).to(device).permute(2, 0, 1)[None].float() / 255.0


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    return t[0, 0].detach().cpu().numpy().astype(np.float32)


def _nan_outside(t: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    return torch.where(valid, t, torch.full_like(t, float("nan")))


def _check_inputs(frame: SequenceFrame, depth: DepthPrediction, sources: list) -> None:
    if frame.K is None:
        raise CalibrationError(f"frame {frame.name!r} has no intrinsic matrix K: temporal warping needs one")
    size = frame.size_hw
    if depth.depth_m.shape != size:
        raise DepthViewerError(f"depth is {depth.depth_m.shape[::-1]} (W, H) but frame {frame.name!r} is {size[::-1]}")
    if not sources:
        raise DepthViewerError(f"frame {frame.name!r}: at least one source view is needed")
    for label, rgb, pose in sources:
        if rgb.shape != frame.image_rgb.shape:
            raise DepthViewerError(f"source {label!r} is {rgb.shape}, target {frame.name!r} is {frame.image_rgb.shape}")
        if np.asarray(pose.T_source_target).shape != (4, 4):
            raise DepthViewerError(f"source {label!r}: T_source_target must be 4x4")


def gt_error_map(pred_m: np.ndarray, gt_m: np.ndarray, scale: float, max_depth: float,
                 garg_crop: bool) -> np.ndarray:
    """Per-pixel abs-rel |p - gt| / gt on exactly the pixels and the scaled, clamped p of `depth_metrics`.

    Returns:
        (H, W) float32, NaN outside the evaluated pixels; its mean is `depth_metrics`' ``abs_rel``.
    """
    pred, gt = np.asarray(pred_m, np.float64), np.asarray(gt_m, np.float64)
    mask = eigen_mask(pred, gt, EIGEN_MIN_DEPTH_M, max_depth, garg_crop)
    out = np.full(gt.shape, np.nan, dtype=np.float32)
    p = np.clip(pred[mask] * scale, EIGEN_MIN_DEPTH_M, max_depth)
    out[mask] = np.abs(p - gt[mask]) / gt[mask]
    return out


@torch.no_grad()
def analyse_monocular(
    frame: SequenceFrame,
    depth: DepthPrediction,
    sources: list[tuple[str, np.ndarray, RelativePose]],
    device: torch.device | None = None,
    alpha: float = 0.85,
    eigen: dict | None = None,
) -> MonocularAnalysis:
    """Compute Monodepth2's maps for a target frame from its depth and the warped source views.

    Each source (label, (H, W, 3) uint8 RGB, pose T_source<-target) is warped into the target through
    ``depth.depth_m`` and ``frame.K``. Maps: each warp's photometric error (NaN where the warp is invalid) and
    identity error (unwarped source vs target), the minimum reprojection over sources, the auto-mask
    (`automask` with MD2's noise, seeded, restricted to pixels with a valid warp) and the winning source
    (argmin of the reprojection errors, independent of the mask; -1 where no source is valid).

    Metrics: ``photometric_min`` = mean minimum reprojection over auto-masked pixels (MD2's loss before
    smoothness); ``photometric_<label>`` = mean error of that warp over its valid pixels; ``automask_fraction``
    = kept / pixels with a valid warp; ``smoothness`` = MD2's edge-aware term on disparity 1 / depth. With
    ``frame.gt_depth_m``: the Eigen metrics of `depth_metrics` (``eigen`` options ``median_scaling`` (default:
    not ``depth.metric``), ``garg_crop`` (False), ``max_depth`` (80 m)) and the per-pixel ``gt_error`` map.
    Runs on ``device`` (default CPU).
    """
    _check_inputs(frame, depth, sources)
    eigen = dict(eigen or {})
    unknown = set(eigen) - _EIGEN_KEYS
    if unknown:
        raise ValueError(f"unknown eigen options {sorted(unknown)}; known: {sorted(_EIGEN_KEYS)}")
    device = device or torch.device("cpu")
    target = _image_tensor(frame.image_rgb, device)
    depth_t = torch.from_numpy(np.ascontiguousarray(depth.depth_m, dtype=np.float32)).to(device)[None, None]
    K = torch.from_numpy(np.asarray(frame.K, dtype=np.float64)).to(device)[None]

    warps, errors, valids, identities = [], [], [], []
    for label, rgb, pose in sources:
        source = _image_tensor(rgb, device)
        T = torch.from_numpy(np.asarray(pose.T_source_target, dtype=np.float64)).to(device)[None]
        reconstruction, valid = warp_frame_depth(source, depth_t, T, K)
        pe = photometric_parts(target, reconstruction, alpha=alpha)[0]
        identity = photometric_parts(target, source, alpha=alpha)[0]
        errors.append(pe)
        valids.append(valid)
        identities.append(identity)
        warps.append(SourceWarp(
            label=label,
            reconstruction_rgb=reconstruction[0].permute(1, 2, 0).cpu().numpy().astype(np.float32),
            valid=valid[0, 0].cpu().numpy(),
            photometric_error=_to_numpy(_nan_outside(pe, valid)),
            identity_error=_to_numpy(identity),
            pose=pose,
        ))

    error_stack, valid_stack = torch.cat(errors, 1), torch.cat(valids, 1)
    best, winner = min_reprojection(error_stack, valid_stack)
    any_valid = valid_stack.any(1, keepdim=True)
    # MD2's tie-breaking noise, seeded: the same inputs give the same mask every time the app shows it.
    generator = torch.Generator(device=device).manual_seed(0)
    keep, _ = automask(_nan_outside(error_stack, valid_stack), torch.cat(identities, 1), generator=generator)
    keep &= any_valid

    metrics: dict[str, float] = {"photometric_min": float(masked_mean(best, keep)[0])}
    for (label, _, _), pe, valid in zip(sources, errors, valids):
        metrics[f"photometric_{label}"] = float(masked_mean(pe, valid)[0])
    n_valid = int(any_valid.sum())
    metrics["automask_fraction"] = float(keep.sum()) / n_valid if n_valid else float("nan")
    disparity = 1.0 / torch.where(depth_t > 0, depth_t, torch.full_like(depth_t, float("nan")))
    metrics["smoothness"] = float(smoothness_loss(disparity, target)[0])

    gt_error = None
    if frame.gt_depth_m is not None:
        median_scaling = bool(eigen.get("median_scaling", not depth.metric))
        garg_crop = bool(eigen.get("garg_crop", False))
        max_depth = float(eigen.get("max_depth", 80.0))
        scores = depth_metrics(depth.depth_m, frame.gt_depth_m, min_depth=EIGEN_MIN_DEPTH_M, max_depth=max_depth,
                               garg_crop=garg_crop, median_scaling=median_scaling)
        metrics.update(scores)
        gt_error = gt_error_map(depth.depth_m, frame.gt_depth_m, scores["scale"], max_depth, garg_crop)

    return MonocularAnalysis(
        sources=tuple(warps),
        min_reprojection=_to_numpy(best),
        automask=keep[0, 0].cpu().numpy(),
        winning_source=winner[0, 0].cpu().numpy(),
        depth_m=np.asarray(depth.depth_m, dtype=np.float32),
        gt_error=gt_error,
        metrics=metrics,
    )
