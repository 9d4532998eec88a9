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
