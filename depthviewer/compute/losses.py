"""Self-supervised depth losses as per-pixel maps (Monodepth / Monodepth2), with reduction kept separate.

Every function returns the map the app shows; `masked_mean` / `smoothness_loss` turn a map into the number a
training log would print, so the heatmap and the number always come from the same values.
Definitions: ../shared/REFERENCE.md ("Photometric error", "Left-right consistency", "Edge-aware smoothness").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from depthviewer.compute.geometry import _check_shapes
from depthviewer.compute.warping import sample_horizontal

SSIM_C1 = 0.01**2
SSIM_C2 = 0.03**2
# Monodepth2's trainer divides by (mean + 1e-7); kept so the normalised loss matches its logs bit for bit.
_MEAN_EPS = 1e-7
# A sampled validity mask below 1 means part of the bilinear footprint read a pixel with no disparity.
_FULL_FOOTPRINT = 0.999


def ssim_dissimilarity_map(x: Tensor, y: Tensor, pad: bool = True) -> Tensor:
    """Structural dissimilarity (1 - SSIM) / 2 per pixel and channel, Monodepth2's ``SSIM`` layer.

    3x3 mean filter (``avg_pool2d``, stride 1), C1 = 0.01^2, C2 = 0.03^2, clamped to [0, 1].

    Args:
        x, y: (B, C, H, W) images in [0, 1].
        pad: True = Monodepth2 (reflection pad of 1, map keeps the size); False = Monodepth (no padding).

    Returns:
        (B, C, H, W) when ``pad``, else (B, C, H - 2, W - 2).
    """
    _check_shapes(("x", x, "B,C,H,W"), ("y", y, "B,C,H,W"))
    min_size = 2 if pad else 3  # reflection padding needs 2 px, an unpadded 3x3 window needs 3
    if min(x.shape[-2:]) < min_size:
        raise ValueError(f"x and y must be at least {min_size}x{min_size} for pad={pad}, got {tuple(x.shape)}")
    if pad:
        x = F.pad(x, (1, 1, 1, 1), mode="reflect")
        y = F.pad(y, (1, 1, 1, 1), mode="reflect")
    mu_x = F.avg_pool2d(x, 3, 1)
    mu_y = F.avg_pool2d(y, 3, 1)
    sigma_x = F.avg_pool2d(x**2, 3, 1) - mu_x**2
    sigma_y = F.avg_pool2d(y**2, 3, 1) - mu_y**2
    sigma_xy = F.avg_pool2d(x * y, 3, 1) - mu_x * mu_y
    ssim_n = (2 * mu_x * mu_y + SSIM_C1) * (2 * sigma_xy + SSIM_C2)
    ssim_d = (mu_x**2 + mu_y**2 + SSIM_C1) * (sigma_x + sigma_y + SSIM_C2)
    return torch.clamp((1 - ssim_n / ssim_d) / 2, 0, 1)


def l1_map(x: Tensor, y: Tensor) -> Tensor:
    """Absolute difference |x - y| averaged over channels.

    Args:
        x, y: (B, C, H, W) images.

    Returns:
        (B, 1, H, W).
    """
    _check_shapes(("x", x, "B,C,H,W"), ("y", y, "B,C,H,W"))
    return (x - y).abs().mean(1, keepdim=True)


def photometric_parts(
    target: Tensor, reconstruction: Tensor, alpha: float = 0.85
) -> tuple[Tensor, Tensor, Tensor]:
    """Photometric error and its two ingredients, Monodepth2's ``compute_reprojection_loss``.

    Args:
        target: (B, C, H, W) image being explained.
        reconstruction: (B, C, H, W) the same view synthesised from another one.
        alpha: weight of the SSIM term.

    Returns:
        pe = alpha * ssim_part + (1 - alpha) * l1_part, ssim_part (SSIM dissimilarity averaged over channels),
        l1_part (|target - reconstruction| averaged over channels); each (B, 1, H, W). The parts are unweighted.
    """
    _check_shapes(("target", target, "B,C,H,W"), ("reconstruction", reconstruction, "B,C,H,W"))
    ssim_part = ssim_dissimilarity_map(reconstruction, target).mean(1, keepdim=True)
    l1_part = l1_map(target, reconstruction)
    return alpha * ssim_part + (1 - alpha) * l1_part, ssim_part, l1_part


def photometric_error_map(target: Tensor, reconstruction: Tensor, alpha: float = 0.85) -> Tensor:
    """Per-pixel photometric error alpha * (1 - SSIM) / 2 + (1 - alpha) * L1 (Monodepth2), (B, 1, H, W).

    Args as `photometric_parts`.
    """
    return photometric_parts(target, reconstruction, alpha)[0]


def _lr_difference(disparity_px: Tensor, other_px: Tensor, offset_px: Tensor) -> tuple[Tensor, Tensor]:
    """|d(x) - other(x + offset)| with other sampled bilinearly; NaN where not every input is defined."""
    other_known = torch.isfinite(other_px)
    filled = torch.where(other_known, other_px, torch.zeros_like(other_px))
    both = torch.cat([filled, other_known.to(filled.dtype)], dim=1)  # one grid_sample for value and mask
    sampled, inside = sample_horizontal(both, offset_px)
    other_at, footprint = sampled[:, :1], sampled[:, 1:]
    valid = inside & (footprint > _FULL_FOOTPRINT) & torch.isfinite(disparity_px)
    diff = (disparity_px - other_at).abs()
    return torch.where(valid, diff, torch.full_like(diff, float("nan"))), valid


def lr_consistency_map(disparity_left_px: Tensor, disparity_right_px: Tensor) -> tuple[Tensor, Tensor]:
    """Left-right consistency in the left view, |d_L(x) - d_R(x - d_L(x))| (Monodepth's L_lr), in pixels.

    Args:
        disparity_left_px, disparity_right_px: (B, 1, H, W) disparities in pixels, NaN = none.

    Returns:
        map (B, 1, H, W), NaN where invalid; valid (B, 1, H, W) bool: d_L defined, its source inside the
        image, and every right pixel in the bilinear footprint defined.
    """
    _check_shapes(
        ("disparity_left_px", disparity_left_px, "B,1,H,W"), ("disparity_right_px", disparity_right_px, "B,1,H,W")
    )
    return _lr_difference(disparity_left_px, disparity_right_px, -disparity_left_px)


def lr_consistency_map_right(disparity_left_px: Tensor, disparity_right_px: Tensor) -> tuple[Tensor, Tensor]:
    """Left-right consistency in the right view, |d_R(x) - d_L(x + d_R(x))|: the mirror of `lr_consistency_map`.

    Args and returns as `lr_consistency_map`, in the right view.
    """
    _check_shapes(
        ("disparity_left_px", disparity_left_px, "B,1,H,W"), ("disparity_right_px", disparity_right_px, "B,1,H,W")
    )
    return _lr_difference(disparity_right_px, disparity_left_px, disparity_right_px)


def smoothness_maps(disparity: Tensor, image: Tensor, normalise: bool = True) -> tuple[Tensor, Tensor]:
    """Edge-aware smoothness terms per pixel: |dx d*| exp(-mean_c |dx I|) and the same along y.

    Monodepth2's ``get_smooth_loss`` before its reduction. With ``normalise`` (Monodepth2), d* = d / mean(d)
    per image, the mean over finite disparities; without (Monodepth), d* = d.

    Args:
        disparity: (B, 1, H, W) disparity (any unit: normalised, the result is scale free), NaN = none.
        image: (B, C, H, W) image the disparity belongs to.

    Returns:
        gx (B, 1, H, W - 1) and gy (B, 1, H - 1, W); NaN next to a NaN disparity.
    """
    _check_shapes(("disparity", disparity, "B,1,H,W"), ("image", image, "B,C,H,W"))
    if normalise:
        mean = torch.nanmean(disparity.flatten(1), dim=1).view(-1, 1, 1, 1)
        disparity = disparity / (mean + _MEAN_EPS)
    grad_disp_x = (disparity[:, :, :, :-1] - disparity[:, :, :, 1:]).abs()
    grad_disp_y = (disparity[:, :, :-1, :] - disparity[:, :, 1:, :]).abs()
    grad_img_x = (image[:, :, :, :-1] - image[:, :, :, 1:]).abs().mean(1, keepdim=True)
    grad_img_y = (image[:, :, :-1, :] - image[:, :, 1:, :]).abs().mean(1, keepdim=True)
    return grad_disp_x * torch.exp(-grad_img_x), grad_disp_y * torch.exp(-grad_img_y)


def smoothness_map(disparity: Tensor, image: Tensor, normalise: bool = True) -> Tensor:
    """Edge-aware smoothness for display: gx + gy at each pixel, (B, 1, H, W).

    The last column has no x term and the last row no y term (zero there); NaN next to and at a NaN disparity.
    Args as `smoothness_maps`.
    """
    gx, gy = smoothness_maps(disparity, image, normalise)
    total = F.pad(gx, (0, 1, 0, 0)) + F.pad(gy, (0, 0, 0, 1))
    # The bottom-right corner has neither term: without this a missing disparity there would show as smooth.
    return torch.where(torch.isnan(disparity), torch.full_like(total, float("nan")), total)


def smoothness_loss(disparity: Tensor, image: Tensor, normalise: bool = True) -> Tensor:
    """Edge-aware smoothness loss per image, nanmean(gx) + nanmean(gy): Monodepth2's reduction, (B,).

    Args as `smoothness_maps`. Averaging the result over the batch gives ``get_smooth_loss`` on NaN-free input.
    """
    gx, gy = smoothness_maps(disparity, image, normalise)
    return torch.nanmean(gx.flatten(1), dim=1) + torch.nanmean(gy.flatten(1), dim=1)


def masked_mean(map: Tensor, valid: Tensor | None = None) -> Tensor:
    """Reduce a per-pixel map to one number per image: the mean over valid, finite pixels.

    Args:
        map: (B, 1, H, W) per-pixel values.
        valid: (B, 1, H, W) bool, or None to use every finite pixel.

    Returns:
        (B,) means; NaN for an image without a usable pixel.
    """
    if valid is None:
        _check_shapes(("map", map, "B,1,H,W"))
        keep = torch.isfinite(map)
    else:
        _check_shapes(("map", map, "B,1,H,W"), ("valid", valid, "B,1,H,W"))
        keep = valid.bool() & torch.isfinite(map)
    total = torch.where(keep, map, torch.zeros_like(map)).flatten(1).sum(1)
    count = keep.flatten(1).sum(1).to(total.dtype)
    return total / count  # 0 / 0 gives the documented NaN
