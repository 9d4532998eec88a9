"""Monodepth2's per-pixel minimum reprojection and auto-masking (REFERENCE.md, "Monodepth2 additions").

Both work on stacks of per-pixel photometric errors, one channel per source view, and return maps.

Auto-masking follows ``trainer.py`` to the letter: the identity (unwarped) errors get 1e-5 * N(0, 1) noise,
are concatenated *before* the reprojection errors, and a pixel is kept when the argmin over the concatenation
is a reprojection (warped) source. Consequences worth stating exactly, because "a static camera is masked"
is only half true:

- A static camera (source image == target image) has identity error 0 everywhere. A warp with any motion that
  moves textured pixels scores above 1e-5 there, so every such pixel is masked.
- With the identity pose, the warped source *is* the unwarped source (`warp_frame_depth` samples at the exact
  pixel centres), so reprojection == identity error and MD2's noise decides: a pixel is kept exactly where its
  noise is positive, about half of them. With ``noise_std=0`` the tie goes to the identity (it comes first in
  MD2's concatenation and ``torch.min`` returns the first minimum), so the static camera is fully masked.
"""

from __future__ import annotations

import torch
from torch import Tensor

from depthviewer.compute.geometry import _check_shapes

# Monodepth2's tie-breaking noise on the identity losses.
MD2_NOISE_STD = 1e-5


def _inf_where(errors: Tensor, usable: Tensor | None = None) -> Tensor:
    """Errors with +inf where a value must not win a minimum (not usable, or NaN)."""
    keep = ~torch.isnan(errors) if usable is None else usable & ~torch.isnan(errors)
    return torch.where(keep, errors, torch.full_like(errors, float("inf")))


def min_reprojection(errors: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
    """Per-pixel minimum of the sources' photometric errors, and which source gives it.

    Args:
        errors: (B, S, H, W) photometric error of each source warped into the target.
        valid: (B, S, H, W) bool, where each warp is valid; NaN errors count as invalid too.

    Returns:
        min (B, 1, H, W), NaN where no source is valid; argmin (B, 1, H, W) int64 into the S sources,
        -1 where no source is valid. Ties go to the lowest source index.
    """
    _check_shapes(("errors", errors, "B,S,H,W"), ("valid", valid, "B,S,H,W"))
    masked = _inf_where(errors, valid.bool())
    best, index = torch.min(masked, dim=1, keepdim=True)
    seen = torch.isfinite(best)
    best = torch.where(seen, best, torch.full_like(best, float("nan")))
    return best, torch.where(seen, index, torch.full_like(index, -1))


def automask(
    reprojection_errors: Tensor,
    identity_errors: Tensor,
    noise_std: float = MD2_NOISE_STD,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Monodepth2's auto-mask: keep a pixel only where a warped source beats every unwarped one.

    Args:
        reprojection_errors: (B, S, H, W) photometric error of each warped source; NaN (invalid warp) never wins.
        identity_errors: (B, S', H, W) photometric error of each unwarped source against the target.
        noise_std: std of the Gaussian noise added to the identity errors (MD2: 1e-5); 0 = deterministic,
            ties go to the identity.
        generator: optional torch.Generator for reproducible noise (drawn on its own device, then moved).

    Returns:
        keep (B, 1, H, W) bool: the winner over [identity + noise, reprojection] is a reprojection;
        combined_argmin (B, 1, H, W) int64 into that concatenation (identity sources 0..S'-1, then the warped
        ones S'..S'+S-1, as in MD2's ``torch.cat``), -1 where no error is finite.
    """
    _check_shapes(("reprojection_errors", reprojection_errors, "B,S,H,W"),
                  ("identity_errors", identity_errors, "B,T,H,W"))
    identity = identity_errors
    if noise_std:
        noise = torch.randn(identity.shape, generator=generator, dtype=identity.dtype,
                            device=generator.device if generator is not None else identity.device)
        identity = identity + noise.to(identity.device) * noise_std
    # Written as two minima instead of one argmin over the concatenation, so the tie rule (identity first,
    # as torch.min's first index in MD2) does not depend on a backend's argmin implementation.
    identity = _inf_where(identity)
    reprojection = _inf_where(reprojection_errors.to(identity.dtype))
    best_identity, index_identity = torch.min(identity, dim=1, keepdim=True)
    best_reprojection, index_reprojection = torch.min(reprojection, dim=1, keepdim=True)
    keep = best_reprojection < best_identity  # False for inf vs inf
    index = torch.where(keep, index_reprojection + identity.shape[1], index_identity)
    seen = torch.isfinite(torch.minimum(best_identity, best_reprojection))
    return keep, torch.where(seen, index, torch.full_like(index, -1))
