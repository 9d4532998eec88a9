"""Temporal view synthesis: rebuild a target view from a source view, the target's depth and the relative pose.

Monodepth2's ``BackprojectDepth`` + ``Project3D`` + ``grid_sample`` (REFERENCE.md, "View synthesis: temporal"):
a target pixel p with depth D is lifted to P = D K^-1 p, moved into the source camera with T_source<-target,
projected with K, and the source is sampled there bilinearly with border padding. Frames and pixel grid as in
`depthviewer.compute.geometry`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from depthviewer.compute.geometry import _check_shapes, backproject, project

# Projections this far outside the image still count as inside: the round-off of K^-1 then K (float64;
# float32 on MPS needs more).
_INSIDE_SLACK_PX = {torch.float64: 1e-6, torch.float32: 1e-3}


def warp_frame_depth(
    image_src: Tensor, depth_dst_m: Tensor, T_src_dst: Tensor, K: Tensor
) -> tuple[Tensor, Tensor]:
    """Reconstruct the target (``dst``) view by sampling the source image where each target pixel lands.

    Args:
        image_src: (B, C, H, W) source image (any per-pixel map without NaN).
        depth_dst_m: (B, 1, H, W) depth of the target view in metres; NaN / <= 0 = none.
        T_src_dst: (B, 4, 4) rigid transform taking points from the target camera frame into the source's.
        K: (B, 3, 3) intrinsic matrix shared by both views.

    Returns:
        reconstruction (B, C, H, W) in ``image_src``'s dtype: border-padded where the projection leaves the
        image and arbitrary where the depth is missing, so the caller must apply ``valid``;
        valid (B, 1, H, W) bool: depth finite and > 0, the moved point in front of the source camera
        (z > 0), and its projection inside the image, 0 <= u <= W - 1 and 0 <= v <= H - 1 (give or take 1e-6 px
        of round-off).
        Geometry and sampling run in float64 (not on MPS, which lacks it).
    """
    _check_shapes(
        ("image_src", image_src, "B,C,H,W"),
        ("depth_dst_m", depth_dst_m, "B,1,H,W"),
        ("T_src_dst", T_src_dst, "B,4,4"),
        ("K", K, "B,3,3"),
    )
    batch, _, height, width = image_src.shape
    device = image_src.device
    # float32 grid coordinates are off by ~1e-5 px at KITTI widths; float64 keeps an exact warp exact.
    work = image_src.dtype if device.type == "mps" else torch.float64
    depth = depth_dst_m.to(device=device, dtype=work)
    has_depth = torch.isfinite(depth) & (depth > 0)
    # A NaN point would poison its bilinear neighbours; lift a dummy depth there and mask it below.
    depth = torch.where(has_depth, depth, torch.ones_like(depth))

    K_w = K.to(device=device, dtype=work)
    T = T_src_dst.to(device=device, dtype=work)
    points = backproject(depth, torch.linalg.inv(K_w))  # (B, 3, H, W) in the target frame
    moved = T[:, :3, :3] @ points.reshape(batch, 3, -1) + T[:, :3, 3:]
    uv = project(moved.view(batch, 3, height, width), K_w)  # NaN behind the camera
    u, v = uv[:, :1], uv[:, 1:]
    eps = _INSIDE_SLACK_PX.get(work, 1e-2)  # a border pixel under the identity pose must stay valid
    valid = has_depth & (u >= -eps) & (u <= width - 1 + eps) & (v >= -eps) & (v <= height - 1 + eps)  # NaN: False

    # align_corners=True puts -1 / +1 on the centres of the first / last pixel: pixel centres stay integers.
    grid = torch.cat([2.0 * u / max(width - 1, 1) - 1.0, 2.0 * v / max(height - 1, 1) - 1.0], dim=1)
    grid = torch.where(torch.isfinite(grid), grid, torch.zeros_like(grid)).permute(0, 2, 3, 1)
    sampled = F.grid_sample(image_src.to(work), grid, mode="bilinear", padding_mode="border", align_corners=True)
    return sampled.to(image_src.dtype), valid


def stereo_as_source_pose(baseline_m: float) -> np.ndarray:
    """T_right<-left of a rectified pair, Monodepth2's "S" source: a translation of -baseline along x.

    The right camera sits ``baseline_m`` to the right of the left one, so a point at x in the left frame is at
    x - baseline in the right frame. With this pose, `warp_frame_depth` equals the stereo warp
    (`warp_right_to_left` at disparity fx * baseline / depth).

    Returns:
        (4, 4) float64.
    """
    if not np.isfinite(baseline_m) or baseline_m <= 0:
        raise ValueError(f"baseline_m must be positive, got {baseline_m}")
    T = np.eye(4)
    T[0, 3] = -float(baseline_m)
    return T
