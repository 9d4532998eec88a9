"""Pinhole stereo geometry: disparity <-> depth, back-projection and projection.

Camera frame and pixel grid follow `depthviewer.types`: OpenCV axes (x right, y down, z forward, metres),
pixel centres at integer coordinates, u = column index, v = row index.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def _check_shapes(*specs: tuple[str, Tensor, str]) -> None:
    """Check tensors against shape patterns such as ``"B,1,H,W"``; raise ValueError naming the culprit.

    Each spec is ``(name, tensor, pattern)``. A digit in the pattern is an exact size, ``*`` matches anything,
    and a letter is a symbol that must take the same size in every tensor of the call (so ``image`` and
    ``offset_px`` sharing ``B,?,H,W`` must agree on B, H and W). Shared by every public function of
    `depthviewer.compute`, like kornia's ``KORNIA_CHECK_SHAPE``.
    """
    bound: dict[str, tuple[int, str]] = {}
    for name, tensor, pattern in specs:
        if not isinstance(tensor, Tensor):
            raise ValueError(f"{name} must be a torch.Tensor of shape ({pattern}), got {type(tensor).__name__}")
        dims = pattern.split(",")
        if tensor.dim() != len(dims):
            raise ValueError(f"{name} must have shape ({pattern}), got {tuple(tensor.shape)}")
        for dim, size in zip(dims, tensor.shape):
            if dim == "*":
                continue
            if dim.isdigit():
                if size != int(dim):
                    raise ValueError(f"{name} must have shape ({pattern}), got {tuple(tensor.shape)}")
                continue
            if dim in bound and bound[dim][0] != size:
                other_size, other_name = bound[dim]
                raise ValueError(
                    f"{name} has {dim}={size} but {other_name} has {dim}={other_size} "
                    f"({name}: {tuple(tensor.shape)}, expected ({pattern}))"
                )
            bound.setdefault(dim, (int(size), name))


def disparity_to_depth(disparity_px: Tensor, fx_px: float, baseline_m: float, doffs_px: float = 0.0) -> Tensor:
    """Convert a rectified disparity to depth: depth = fx * baseline / (d + doffs).

    Args:
        disparity_px: disparity in pixels, any shape, NaN = no value.
        fx_px: focal length in pixels.
        baseline_m: stereo baseline in metres.
        doffs_px: Middlebury's principal-point offset (cx_right - cx_left); 0 for KITTI.

    Returns:
        depth in metres, same shape; NaN where the disparity is NaN or d + doffs <= 0 (at or beyond infinity).
    """
    if not isinstance(disparity_px, Tensor):
        raise ValueError(f"disparity_px must be a torch.Tensor, got {type(disparity_px).__name__}")
    denom = disparity_px + doffs_px
    ok = denom > 0  # False for NaN too
    safe = torch.where(ok, denom, torch.ones_like(denom))  # keeps the gradient finite where masked out
    return torch.where(ok, (fx_px * baseline_m) / safe, torch.full_like(denom, float("nan")))


def depth_to_disparity(depth_m: Tensor, fx_px: float, baseline_m: float, doffs_px: float = 0.0) -> Tensor:
    """Convert depth back to disparity: d = fx * baseline / depth - doffs (inverse of `disparity_to_depth`).

    Args:
        depth_m: depth in metres, any shape, NaN = no value.

    Returns:
        disparity in pixels, same shape; NaN where the depth is NaN or <= 0.
    """
    if not isinstance(depth_m, Tensor):
        raise ValueError(f"depth_m must be a torch.Tensor, got {type(depth_m).__name__}")
    ok = depth_m > 0
    safe = torch.where(ok, depth_m, torch.ones_like(depth_m))
    return torch.where(ok, (fx_px * baseline_m) / safe - doffs_px, torch.full_like(depth_m, float("nan")))


def _pixel_grid(height: int, width: int, like: Tensor) -> Tensor:
    """Homogeneous pixel coordinates (u, v, 1) of every pixel centre, (3, H*W), on ``like``'s device and dtype."""
    v, u = torch.meshgrid(
        torch.arange(height, device=like.device, dtype=like.dtype),
        torch.arange(width, device=like.device, dtype=like.dtype),
        indexing="ij",
    )
    return torch.stack([u.reshape(-1), v.reshape(-1), torch.ones_like(u).reshape(-1)], dim=0)


def backproject(depth_m: Tensor, K_inv: Tensor) -> Tensor:
    """Lift every pixel to a 3D point in the camera frame: P = depth * K^-1 (u, v, 1)^T.

    Args:
        depth_m: (B, 1, H, W) depth along z in metres (NaN propagates to the point).
        K_inv: (B, 3, 3) inverse intrinsic matrix.

    Returns:
        (B, 3, H, W) points (x, y, z) in metres, OpenCV camera frame.
    """
    _check_shapes(("depth_m", depth_m, "B,1,H,W"), ("K_inv", K_inv, "B,3,3"))
    batch, _, height, width = depth_m.shape
    rays = K_inv.to(depth_m.dtype) @ _pixel_grid(height, width, depth_m)  # (B, 3, H*W), z = 1 for a pinhole K
    return rays.view(batch, 3, height, width) * depth_m


def project(points: Tensor, K: Tensor) -> Tensor:
    """Project camera-frame points to pixel coordinates: (u, v) = (K P)_xy / (K P)_z.

    Args:
        points: (B, 3, H, W) points (x, y, z) in the OpenCV camera frame.
        K: (B, 3, 3) intrinsic matrix.

    Returns:
        (B, 2, H, W) pixel coordinates (u, v); NaN for points with z <= 0 (behind or on the camera plane).
    """
    _check_shapes(("points", points, "B,3,H,W"), ("K", K, "B,3,3"))
    batch, _, height, width = points.shape
    cam = K.to(points.dtype) @ points.reshape(batch, 3, -1)
    z = cam[:, 2:3]
    in_front = z > 0
    safe_z = torch.where(in_front, z, torch.ones_like(z))  # a 0/0 in the masked branch would poison gradients
    uv = torch.where(in_front, cam[:, :2] / safe_z, torch.full_like(cam[:, :2], float("nan")))
    return uv.view(batch, 2, height, width)


def depth_to_points(
    depth_m: np.ndarray, K: np.ndarray, rgb: np.ndarray | None = None, stride: int = 1
) -> tuple[np.ndarray, np.ndarray | None]:
    """Turn a depth map into a coloured point cloud for export (PLY and the like).

    Args:
        depth_m: (H, W) depth in metres, NaN / <= 0 = no value.
        K: (3, 3) intrinsic matrix of the camera that saw ``depth_m``.
        rgb: optional (H, W, 3) uint8 colours, one per pixel.
        stride: keep every ``stride``-th pixel in both axes (from pixel (0, 0)).

    Returns:
        points (N, 3) float32 in the camera frame, and colours (N, 3) uint8 (None without ``rgb``),
        for the kept pixels with a finite positive depth, in row-major order.
    """
    depth = np.asarray(depth_m)
    if depth.ndim != 2:
        raise ValueError(f"depth_m must have shape (H, W), got {depth.shape}")
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3):
        raise ValueError(f"K must have shape (3, 3), got {K.shape}")
    if rgb is not None and rgb.shape != (*depth.shape, 3):
        raise ValueError(f"rgb must have shape {(*depth.shape, 3)} to match depth_m, got {rgb.shape}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")

    # Float64 so that far points of a large image keep sub-millimetre precision before the float32 cast.
    depth_t = torch.from_numpy(depth.astype(np.float64))[None, None]
    K_inv = torch.from_numpy(np.linalg.inv(K))[None]
    points = backproject(depth_t, K_inv)[0].permute(1, 2, 0).numpy()  # (H, W, 3)

    keep = np.isfinite(depth) & (depth > 0)
    keep = keep[::stride, ::stride]
    xyz = points[::stride, ::stride][keep].astype(np.float32)
    colours = None if rgb is None else np.ascontiguousarray(rgb[::stride, ::stride][keep], dtype=np.uint8)
    return xyz, colours
