"""The photometric error of one pixel as a function of its disparity: what the matcher and the loss "see".

For a left pixel (x, y) and each candidate disparity d, the 3x3 SSIM window of the right image is taken at
(x - d, y) as a whole (a fronto-parallel patch) and scored against the left window with exactly the
Monodepth2 photometric error (the same formula as `losses.photometric_parts`). Where the disparity map is locally constant this
equals the value of the photometric error map at that pixel; the curve's minimum is where the data alone would
put the disparity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from depthviewer.compute.losses import l1_map, ssim_dissimilarity_map


@dataclass(frozen=True)
class CostCurve:
    """Photometric error of one pixel over candidate disparities; arrays (D,), NaN where the source is outside."""

    x: int
    y: int
    disparities_px: np.ndarray
    photometric: np.ndarray
    ssim_part: np.ndarray
    l1_part: np.ndarray

    @property
    def best_disparity_px(self) -> float:
        """The candidate with the lowest photometric error (NaN when no candidate is valid)."""
        if not np.isfinite(self.photometric).any():
            return float("nan")
        return float(self.disparities_px[int(np.nanargmin(self.photometric))])


def _window_rows(image: np.ndarray, y: int) -> np.ndarray:
    """Rows y-1..y+1 of an (H, W, C) image with reflection at the border, as MD2's ReflectionPad2d(1)."""
    rows = np.array([y - 1, y, y + 1])
    height = image.shape[0]
    rows = np.where(rows < 0, -rows, rows)
    rows = np.where(rows > height - 1, 2 * (height - 1) - rows, rows)
    return image[rows]


def stereo_cost_curve(
    left_rgb: np.ndarray,
    right_rgb: np.ndarray,
    x: int,
    y: int,
    disparities_px: np.ndarray,
    alpha: float = 0.85,
) -> CostCurve:
    """Photometric error of left pixel (x, y) for each disparity in `disparities_px`.

    Args:
        left_rgb, right_rgb: (H, W, 3) uint8 rectified pair.
        x, y: the pixel (column, row), inside the image.
        disparities_px: (D,) candidate disparities, fractional allowed (bilinear sampling).
        alpha: SSIM weight of the photometric error.

    Returns:
        CostCurve with the error and its SSIM and L1 parts; NaN where x - d falls outside the image.
    """
    height, width = left_rgb.shape[:2]
    if left_rgb.shape != right_rgb.shape:
        raise ValueError(f"left and right differ in size: {left_rgb.shape} vs {right_rgb.shape}")
    if not (0 <= x < width and 0 <= y < height):
        raise ValueError(f"pixel ({x}, {y}) is outside the {width}x{height} image")
    disparities = np.asarray(disparities_px, dtype=np.float64).reshape(-1)
    left = _window_rows(left_rgb.astype(np.float64) / 255.0, y)  # (3, W, C)
    right = _window_rows(right_rgb.astype(np.float64) / 255.0, y)

    columns = np.array([x - 1, x, x + 1])
    columns = np.where(columns < 0, -columns, columns)
    columns = np.where(columns > width - 1, 2 * (width - 1) - columns, columns)
    left_window = left[:, columns]  # (3, 3, C)

    # Right window at (columns - d) with bilinear interpolation, clamped at the border like padding_mode="border".
    source = columns[None, :] - disparities[:, None]  # (D, 3)
    clamped = np.clip(source, 0, width - 1)
    lo = np.floor(clamped).astype(int)
    hi = np.minimum(lo + 1, width - 1)
    frac = (clamped - lo)[:, None, :, None]
    right_window = right[:, lo] * (1 - frac.transpose(1, 0, 2, 3)) + right[:, hi] * frac.transpose(1, 0, 2, 3)
    right_window = right_window.transpose(1, 0, 2, 3)  # (D, 3 rows, 3 cols, C)

    target = torch.from_numpy(np.broadcast_to(left_window, right_window.shape).copy()).permute(0, 3, 1, 2)
    recon = torch.from_numpy(np.ascontiguousarray(right_window)).permute(0, 3, 1, 2)
    ssim = ssim_dissimilarity_map(recon, target, pad=False).mean(1)[:, 0, 0].numpy()
    l1 = l1_map(target, recon)[:, 0, 1, 1].numpy()
    pe = alpha * ssim + (1 - alpha) * l1
    inside = (x - disparities >= 0) & (x - disparities <= width - 1)
    nan = np.where(inside, 1.0, np.nan)
    return CostCurve(x=x, y=y, disparities_px=disparities.astype(np.float32),
                     photometric=(pe * nan).astype(np.float32),
                     ssim_part=(ssim * nan).astype(np.float32), l1_part=(l1 * nan).astype(np.float32))


@dataclass(frozen=True)
class TemporalCostCurve:
    """Photometric error of one target pixel over candidate depths, per source view and their minimum (D,)."""

    x: int
    y: int
    depths_m: np.ndarray
    per_source: dict[str, np.ndarray]
    minimum: np.ndarray

    @property
    def best_depth_m(self) -> float:
        if not np.isfinite(self.minimum).any():
            return float("nan")
        return float(self.depths_m[int(np.nanargmin(self.minimum))])


def _reflect(indices: np.ndarray, size: int) -> np.ndarray:
    indices = np.where(indices < 0, -indices, indices)
    return np.where(indices > size - 1, 2 * (size - 1) - indices, indices)


def _bilinear(image: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Sample (H, W, C) at float pixel coordinates, clamped to the border (grid_sample's "border")."""
    height, width = image.shape[:2]
    u, v = np.clip(u, 0, width - 1), np.clip(v, 0, height - 1)
    u0, v0 = np.floor(u).astype(int), np.floor(v).astype(int)
    u1, v1 = np.minimum(u0 + 1, width - 1), np.minimum(v0 + 1, height - 1)
    fu, fv = (u - u0)[..., None], (v - v0)[..., None]
    top = image[v0, u0] * (1 - fu) + image[v0, u1] * fu
    bottom = image[v1, u0] * (1 - fu) + image[v1, u1] * fu
    return top * (1 - fv) + bottom * fv


def temporal_cost_curve(
    target_rgb: np.ndarray,
    sources: list[tuple[str, np.ndarray, np.ndarray]],
    K: np.ndarray,
    x: int,
    y: int,
    depths_m: np.ndarray,
    alpha: float = 0.85,
) -> TemporalCostCurve:
    """Photometric error of target pixel (x, y) for each candidate depth, through each source's pose.

    The pixel's 3x3 window is placed at the candidate depth as a whole (fronto-parallel), moved with
    T_source<-target, projected with K and sampled bilinearly: where the depth map is locally constant this is the
    value of that source's photometric error map (Monodepth2) at the pixel.

    Args:
        target_rgb: (H, W, 3) uint8 target frame.
        sources: (label, (H, W, 3) uint8 source frame, T_source_target 4x4) for each source.
        K: (3, 3) intrinsics shared by the views.
        x, y: the pixel, inside the image.
        depths_m: (D,) candidate depths, metres.

    Returns:
        TemporalCostCurve: per-source errors (NaN where the centre projects outside the source or behind it)
        and their per-candidate minimum (Monodepth2's minimum reprojection).
    """
    height, width = target_rgb.shape[:2]
    if not (0 <= x < width and 0 <= y < height):
        raise ValueError(f"pixel ({x}, {y}) is outside the {width}x{height} image")
    depths = np.asarray(depths_m, dtype=np.float64).reshape(-1)
    rows = _reflect(np.array([y - 1, y, y + 1]), height)
    cols = _reflect(np.array([x - 1, x, x + 1]), width)
    v, u = np.meshgrid(rows, cols, indexing="ij")  # (3, 3) window coordinates
    target = target_rgb.astype(np.float64) / 255.0
    target_window = target[v, u]  # (3, 3, C)
    rays = np.linalg.solve(K, np.stack([u.ravel(), v.ravel(), np.ones(9)]))  # (3, 9)
    per_source = {}
    for label, source_rgb, T_source_target in sources:
        points = rays[None] * depths[:, None, None]  # (D, 3, 9)
        moved = np.einsum("ij,djn->din", T_source_target[:3, :3], points) + T_source_target[:3, 3][None, :, None]
        pixels = np.einsum("ij,djn->din", K, moved)
        z = pixels[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            us, vs = pixels[:, 0] / z, pixels[:, 1] / z
        window = _bilinear(source_rgb.astype(np.float64) / 255.0, np.nan_to_num(us), np.nan_to_num(vs))
        window = window.reshape(len(depths), 3, 3, -1)
        recon = torch.from_numpy(np.ascontiguousarray(window)).permute(0, 3, 1, 2)
        tgt = torch.from_numpy(np.broadcast_to(target_window, window.shape).copy()).permute(0, 3, 1, 2)
        ssim = ssim_dissimilarity_map(recon, tgt, pad=False).mean(1)[:, 0, 0].numpy()
        l1 = l1_map(tgt, recon)[:, 0, 1, 1].numpy()
        centre_u, centre_v, centre_z = us[:, 4], vs[:, 4], z[:, 4]
        inside = (centre_z > 0) & (centre_u >= 0) & (centre_u <= width - 1) & (centre_v >= 0) & (centre_v <= height - 1)
        per_source[label] = np.where(inside, alpha * ssim + (1 - alpha) * l1, np.nan).astype(np.float32)
    stacked = np.stack(list(per_source.values())) if per_source else np.full((1, len(depths)), np.nan)
    all_nan = np.isnan(stacked).all(axis=0)
    minimum = np.where(all_nan, np.nan, np.nanmin(np.where(np.isnan(stacked), np.inf, stacked), axis=0))
    return TemporalCostCurve(x, y, depths.astype(np.float32), per_source, minimum.astype(np.float32))
