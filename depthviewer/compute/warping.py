"""Stereo view synthesis: rebuild one view of a rectified pair from the other and a disparity map.

A left pixel (x, y) with disparity d_L sees the right pixel (x - d_L, y); a right pixel with d_R sees the
left pixel (x + d_R, y). Sampling is bilinear with border padding, as in Monodepth2; pixels whose source
falls outside the image are reported invalid so that callers mask them instead of scoring the padding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from depthviewer.compute.geometry import _check_shapes


def sample_horizontal(image: Tensor, offset_px: Tensor) -> tuple[Tensor, Tensor]:
    """Sample ``image`` bilinearly at (x + offset, y), offsets in pixels.

    Args:
        image: (B, C, H, W) image (or any per-pixel map without NaN).
        offset_px: (B, 1, H, W) horizontal offset of each output pixel's source; NaN = no source.

    Returns:
        sampled (B, C, H, W): border-padded outside the image and image(x, y) where the offset is NaN,
        so the caller must apply ``valid``;
        valid (B, 1, H, W) bool: offset finite and 0 <= x + offset <= W - 1.
        Sampling runs in float64 (not on MPS, which lacks it); ``sampled`` has ``image``'s dtype.
    """
    _check_shapes(("image", image, "B,C,H,W"), ("offset_px", offset_px, "B,1,H,W"))
    batch, _, height, width = image.shape
    # grid_sample's normalised coordinates lose ~1e-5 px in float32 at KITTI widths, enough to break
    # "an integer offset copies pixels exactly"; float64 makes it exact (MPS has no float64).
    work = image.dtype if image.device.type == "mps" else torch.float64
    finite = torch.isfinite(offset_px)
    # A NaN in the grid would spread into every neighbour through the bilinear weights' gradient and value.
    offset = torch.where(finite, offset_px, torch.zeros_like(offset_px)).to(work)

    xs = torch.arange(width, device=image.device, dtype=work).view(1, 1, 1, width)
    ys = torch.arange(height, device=image.device, dtype=work).view(1, 1, height, 1)
    x_src = xs + offset  # (B, 1, H, W)
    valid = finite & (x_src >= 0) & (x_src <= width - 1)

    # align_corners=True maps -1 / +1 to the centres of the first / last pixel, so integer offsets are exact.
    grid_x = 2.0 * x_src / max(width - 1, 1) - 1.0
    grid_y = (2.0 * ys / max(height - 1, 1) - 1.0).expand(batch, 1, height, width)
    grid = torch.cat([grid_x, grid_y], dim=1).permute(0, 2, 3, 1)  # (B, H, W, 2)
    sampled = F.grid_sample(image.to(work), grid, mode="bilinear", padding_mode="border", align_corners=True)
    sampled = sampled.to(image.dtype)
    return sampled, valid


def warp_right_to_left(right: Tensor, disparity_left_px: Tensor) -> tuple[Tensor, Tensor]:
    """Reconstruct the left view by sampling the right image at x - d_L (Monodepth's stereo view synthesis).

    Args:
        right: (B, C, H, W) right image.
        disparity_left_px: (B, 1, H, W) left disparity in pixels, NaN = none.

    Returns:
        reconstructed_left (B, C, H, W) and valid (B, 1, H, W) bool, as `sample_horizontal`.
    """
    _check_shapes(("right", right, "B,C,H,W"), ("disparity_left_px", disparity_left_px, "B,1,H,W"))
    return sample_horizontal(right, -disparity_left_px)


def warp_left_to_right(left: Tensor, disparity_right_px: Tensor) -> tuple[Tensor, Tensor]:
    """Reconstruct the right view by sampling the left image at x + d_R.

    Args:
        left: (B, C, H, W) left image.
        disparity_right_px: (B, 1, H, W) right disparity in pixels, NaN = none.

    Returns:
        reconstructed_right (B, C, H, W) and valid (B, 1, H, W) bool, as `sample_horizontal`.
    """
    _check_shapes(("left", left, "B,C,H,W"), ("disparity_right_px", disparity_right_px, "B,1,H,W"))
    return sample_horizontal(left, disparity_right_px)
