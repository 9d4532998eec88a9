"""Which translation scale makes a pose fit the images: a photometric line search over the pose's scale.

A pose file or an up-to-scale pose can disagree with a metric depth map by a factor on the translation (the
KITTI odometry sample's poses are ~0.78x off, ../shared/data/README.md). Warping the source into the target
with the depth and the pose's translation scaled by s, the s with the lowest mean photometric error is the
scale the images support.
"""

from __future__ import annotations

import numpy as np
import torch

from depthviewer.compute.device import default_device
from depthviewer.compute.losses import photometric_error_map
from depthviewer.compute.temporal import warp_frame_depth

# Warps per batch: 8 float64 KITTI-size RGB warps and their grids take ~100 MB.
_CHUNK = 8


def _image_tensors(target_rgb: np.ndarray, source_rgb: np.ndarray, device: torch.device) -> list[torch.Tensor]:
    """(1, C, H, W) float32 in [0, 1]; C = 1 when both images are grey stored as RGB.

    The photometric error averages its channels, so three equal channels score exactly like one: a third
    of the work for grey sequences such as KITTI odometry's.
    """
    grey = all(np.array_equal(im[..., 0], im[..., c]) for im in (target_rgb, source_rgb) for c in (1, 2))
    images = [im[..., :1] if grey else im for im in (target_rgb, source_rgb)]
    return [torch.from_numpy(np.ascontiguousarray(im)).to(device).permute(2, 0, 1)[None].float() / 255.0
            for im in images]


def refine_parabola(xs: np.ndarray, costs: np.ndarray) -> float:
    """The minimum of the parabola through the best sample and its two neighbours (the best x at an end).

    Args:
        xs: (N,) increasing sample positions (need not be evenly spaced).
        costs: (N,) cost at each; NaN never wins.
    """
    costs = np.where(np.isnan(costs), np.inf, costs)
    i = int(np.argmin(costs))
    if i == 0 or i == len(xs) - 1 or not np.all(np.isfinite(costs[i - 1:i + 2])):
        return float(xs[i])
    (x0, x1, x2), (c0, c1, c2) = xs[i - 1:i + 2], costs[i - 1:i + 2]
    # Vertex of the interpolating parabola, from its divided differences.
    d01, d12 = (c1 - c0) / (x1 - x0), (c2 - c1) / (x2 - x1)
    curvature = (d12 - d01) / (x2 - x0)
    if curvature <= 0:
        return float(x1)
    vertex = 0.5 * (x0 + x1) - d01 / (2 * curvature)
    return float(np.clip(vertex, x0, x2))


@torch.no_grad()
def best_translation_scale(
    target_rgb: np.ndarray,
    source_rgb: np.ndarray,
    depth_target_m: np.ndarray,
    T_source_target: np.ndarray,
    K: np.ndarray,
    scales: np.ndarray = np.linspace(0.5, 1.5, 41),
    device: torch.device | None = None,
) -> tuple[float, np.ndarray, np.ndarray]:
    """Find the factor on the pose's translation that minimises the mean photometric error of the warp.

    Rotation is kept. Every scale is scored on the same pixels (depth present and the warp valid at every
    scale), so costs are comparable; the best coarse scale is refined by a parabola through its neighbours.

    Args:
        target_rgb, source_rgb: (H, W, 3) uint8 RGB.
        depth_target_m: (H, W) target depth in metres, NaN = none.
        T_source_target: (4, 4) pose to rescale.
        K: (3, 3) intrinsic matrix.
        scales: (N,) increasing candidate factors.
        device: torch device (default `default_device()`); the scales are warped in batches there.

    Returns:
        best_scale (refined), scales (N,) float64 and costs (N,) float64 (NaN when no pixel is common).
    """
    scales = np.asarray(scales, dtype=np.float64).ravel()
    if scales.size == 0 or np.any(np.diff(scales) <= 0):
        raise ValueError("scales must be a non-empty increasing sequence")
    T = np.asarray(T_source_target, dtype=np.float64)
    if T.shape != (4, 4):
        raise ValueError(f"T_source_target must have shape (4, 4), got {T.shape}")
    if target_rgb.shape != source_rgb.shape or depth_target_m.shape != target_rgb.shape[:2]:
        raise ValueError(f"sizes differ: target {target_rgb.shape}, source {source_rgb.shape}, "
                         f"depth {depth_target_m.shape}")
    device = device or default_device()
    target, source = _image_tensors(target_rgb, source_rgb, device)
    depth = torch.from_numpy(np.ascontiguousarray(depth_target_m, dtype=np.float32)).to(device)[None, None]
    K_t = torch.from_numpy(np.asarray(K, dtype=np.float64)).to(device)[None]

    poses = np.repeat(T[None], len(scales), axis=0)
    poses[:, :3, 3] *= scales[:, None]
    error_maps, valid_all = [], torch.ones_like(depth, dtype=torch.bool)
    for start in range(0, len(scales), _CHUNK):
        chunk = torch.from_numpy(poses[start:start + _CHUNK]).to(device)
        n = chunk.shape[0]
        reconstruction, valid = warp_frame_depth(source.expand(n, -1, -1, -1), depth.expand(n, -1, -1, -1),
                                                 chunk, K_t.expand(n, -1, -1))
        error_maps.append(photometric_error_map(target.expand(n, -1, -1, -1), reconstruction))
        valid_all &= valid.all(0, keepdim=True)
    errors = torch.cat(error_maps, 0)  # (N, 1, H, W)
    count = int(valid_all.sum())
    if count == 0:
        return float("nan"), scales, np.full(len(scales), np.nan)
    costs = (errors * valid_all).flatten(1).sum(1).double().cpu().numpy() / count
    return refine_parabola(scales, costs), scales, costs
