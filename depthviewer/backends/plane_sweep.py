"""Plane-sweep multi-view stereo: the depth of a target view from neighbouring views with known poses.

For N fronto-parallel planes evenly spaced in inverse depth, each source is warped into the target through the
plane-induced homography H = K (R + t n^T / d) K^-1 (the `warp_frame_depth` warp at constant depth d) and
scored per pixel; the sources' costs are aggregated, the best plane is refined by a parabola through its
neighbours in inverse depth, and unreliable pixels are left NaN.

Choices, measured on KITTI odometry 00 frame 0 from frames 1 and 5 (PnP poses) at half size against the stereo
depth (tests/backends/test_plane_sweep.py):
- Cost: Monodepth2's photometric error (REFERENCE.md) averaged over a (2r+1)^2 box, so the map the app shows
  for a training loss is also what picks the depth. It beat 1 - ZNCC over the same window (abs_rel 0.050 vs
  0.117): its L1 term still tells textureless road and sky patches apart where ZNCC is undefined.
- Aggregation: the minimum over sources. In a moving sequence a surface hidden in one source is usually seen
  in another, and the minimum scores each pixel by a view that sees it (MD2's minimum reprojection). The mean
  is offered (abs_rel 0.058 there); it is smoother where every source sees the scene and wrong at occlusions.
- NaN where the sweep cannot decide: the best plane or a plane beside it was seen by no source (borders that
  leave every source under forward motion), the widest triangulation angle is below `min_triangulation_deg`
  (around the epipole rays are nearly parallel; COLMAP's `filter_min_triangulation_angle`), or the minimum is
  not unique (`uniqueness`, SGBM's uniquenessRatio / 100).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from depthviewer.compute.device import device_label, resolve_device
from depthviewer.compute.losses import SSIM_C1, SSIM_C2
from depthviewer.backends.base import build_params
from depthviewer.errors import BackendError
from depthviewer.types import DepthPrediction

_AGGREGATIONS = ("min", "mean")
_COSTS = ("zncc", "pe")
# Keeps 1 - ZNCC finite and near 1 (uninformative) on textureless windows.
_ZNCC_EPS = 1e-4


@dataclass(frozen=True)
class PlaneSweepParams:
    """Plane-sweep parameters.

    `num_planes` planes from `min_depth_m` to `max_depth_m`, evenly spaced in inverse depth. `cost` is "pe"
    (MD2's photometric error, `alpha` weighting SSIM, box-filtered) or "zncc" (1 - ZNCC, on grey); both use a
    (2 `filter_radius` + 1)^2 window. `aggregation` over sources: "min" or "mean". A pixel is kept when its
    widest triangulation angle is at least `min_triangulation_deg` and its confidence (1 - best / second best)
    at least `uniqueness`. `chunk_planes` planes are warped at once (~ 20 * chunk_planes * C * H * W floats of
    scratch); the cost volume takes num_planes * H * W float32.
    """

    num_planes: int = 128
    min_depth_m: float = 1.0
    max_depth_m: float = 80.0
    cost: str = "pe"
    aggregation: str = "min"
    filter_radius: int = 4
    min_triangulation_deg: float = 1.0
    uniqueness: float = 0.1
    alpha: float = 0.85
    chunk_planes: int = 16

    def __post_init__(self) -> None:
        if self.num_planes < 3:
            raise BackendError(f"plane-sweep: num_planes must be >= 3, got {self.num_planes}")
        if not 0 < self.min_depth_m < self.max_depth_m < np.inf:
            raise BackendError(
                f"plane-sweep: need 0 < min_depth_m < max_depth_m, got {self.min_depth_m}, {self.max_depth_m}"
            )
        if self.cost not in _COSTS:
            raise BackendError(f"plane-sweep: cost must be one of {_COSTS}, got {self.cost!r}")
        if self.aggregation not in _AGGREGATIONS:
            raise BackendError(f"plane-sweep: aggregation must be one of {_AGGREGATIONS}, got {self.aggregation!r}")
        if self.filter_radius < 0 or self.chunk_planes < 1:
            raise BackendError("plane-sweep: filter_radius must be >= 0 and chunk_planes >= 1")
        if not 0 <= self.min_triangulation_deg < 90:
            raise BackendError(
                f"plane-sweep: min_triangulation_deg must be in [0, 90), got {self.min_triangulation_deg}"
            )
        if not 0 <= self.uniqueness < 1:
            raise BackendError(f"plane-sweep: uniqueness must be in [0, 1), got {self.uniqueness}")
        if not 0 <= self.alpha <= 1:
            raise BackendError(f"plane-sweep: alpha must be in [0, 1], got {self.alpha}")


def _images(target_rgb: np.ndarray, sources_rgb: list[np.ndarray], grey: bool,
            device: torch.device) -> list[torch.Tensor]:
    """(1, C, H, W) float32 in [0, 1]; C = 1 when ``grey`` (channel mean) or every image is grey stored as RGB."""
    images = [target_rgb, *sources_rgb]
    tensors = [torch.from_numpy(np.ascontiguousarray(im)).to(device).permute(2, 0, 1)[None].float() / 255.0
               for im in images]
    if grey or all(np.array_equal(im[..., 0], im[..., c]) for im in images for c in (1, 2)):
        return [t.mean(1, keepdim=True) for t in tensors]
    return tensors


def _box(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 window with replicated borders, (N, C, H, W): two running sums, any radius alike."""
    size = 2 * radius + 1
    padded = F.pad(x, (radius + 1, radius, radius + 1, radius), mode="replicate")
    rows = padded.cumsum(-1)
    rows = rows[..., size:] - rows[..., :-size]
    cols = rows.cumsum(-2)
    return (cols[..., size:, :] - cols[..., :-size, :]) / size**2


def _box_mean_finite(cost: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean of the finite costs in a (2r+1)^2 window, (N, 1, H, W); inf stays inf (no source there)."""
    if radius == 0:
        return cost
    finite = torch.isfinite(cost)
    total = _box(torch.where(finite, cost, torch.zeros_like(cost)), radius)
    count = _box(finite.to(cost.dtype), radius)
    return torch.where(finite, total / count.clamp_min(1e-6), cost)


class _PeTarget:
    """Monodepth2's photometric error against a fixed target, its window statistics computed once per sweep.

    The formula of `losses.photometric_parts` (reflection pad 1, 3x3 mean, C1, C2, clamp; alpha-weighted with
    L1), written out so the target's mean and variance are not recomputed for every plane and source;
    tests/backends/test_plane_sweep.py holds the two equal.
    """

    def __init__(self, target: torch.Tensor, alpha: float) -> None:
        self.image, self.alpha = target, alpha
        self.padded = F.pad(target, (1, 1, 1, 1), mode="reflect")
        self.mean = F.avg_pool2d(self.padded, 3, 1)
        self.var = F.avg_pool2d(self.padded**2, 3, 1) - self.mean**2

    def cost(self, warped: torch.Tensor) -> torch.Tensor:
        """pe per pixel, (N, 1, H, W), for warped images (N, C, H, W)."""
        x = F.pad(warped, (1, 1, 1, 1), mode="reflect")
        mu_x = F.avg_pool2d(x, 3, 1)
        sigma_x = F.avg_pool2d(x**2, 3, 1) - mu_x**2
        sigma_xy = F.avg_pool2d(x * self.padded, 3, 1) - mu_x * self.mean
        ssim_n = (2 * mu_x * self.mean + SSIM_C1) * (2 * sigma_xy + SSIM_C2)
        ssim_d = (mu_x**2 + self.mean**2 + SSIM_C1) * (sigma_x + self.var + SSIM_C2)
        dssim = torch.clamp((1 - ssim_n / ssim_d) / 2, 0, 1).mean(1, keepdim=True)
        l1 = (self.image - warped).abs().mean(1, keepdim=True)
        return self.alpha * dssim + (1 - self.alpha) * l1


class _ZnccTarget:
    """The target's window statistics, computed once per sweep."""

    def __init__(self, target: torch.Tensor, radius: int) -> None:
        self.image, self.radius = target, radius
        self.mean = _box(target, radius)
        self.var = (_box(target * target, radius) - self.mean**2).clamp_min(0)

    def cost(self, warped: torch.Tensor) -> torch.Tensor:
        """(1 - ZNCC) / 2 per pixel over the window, in [0, 1]; channels averaged. (N, 1, H, W)."""
        mean = _box(warped, self.radius)
        var = (_box(warped * warped, self.radius) - mean**2).clamp_min(0)
        cov = _box(warped * self.image, self.radius) - mean * self.mean
        zncc = cov / torch.sqrt(var * self.var + _ZNCC_EPS**2)
        return ((1 - zncc) / 2).clamp(0, 1).mean(1, keepdim=True)


def _sweep_grid(rotated: torch.Tensor, b: torch.Tensor, inv_depth: torch.Tensor,
                height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Source pixel of every target pixel for each plane: q = A p + b / d with A = K R K^-1, b = K t.

    rotated: A p for every target pixel, (3, H*W); b: (3,); inv_depth: (N,). Returns grid (N, H, W, 2) in
    grid_sample's normalised coordinates and valid (N, 1, H, W): in front of the source and inside its image.
    """
    q = rotated[None] + b.view(1, 3, 1) * inv_depth.view(-1, 1, 1)  # (N, 3, H*W)
    z = q[:, 2]
    in_front = z > 1e-9
    safe_z = torch.where(in_front, z, torch.ones_like(z))
    u, v = q[:, 0] / safe_z, q[:, 1] / safe_z
    valid = in_front & (u >= 0) & (u <= width - 1) & (v >= 0) & (v <= height - 1)
    grid = torch.stack([2 * u / max(width - 1, 1) - 1, 2 * v / max(height - 1, 1) - 1], dim=-1)
    grid = torch.where(in_front[..., None], grid, torch.full_like(grid, -2.0))
    n = inv_depth.numel()
    return grid.view(n, height, width, 2), valid.view(n, 1, height, width)


def _triangulation_deg(depth: torch.Tensor, K_inv: np.ndarray, centres: list[np.ndarray],
                       pixels: torch.Tensor) -> torch.Tensor:
    """Widest angle, over the sources, between the rays from the target and from a source to each point (deg).

    depth: (H, W); centres: source camera centres in the target frame. Returns (H, W), NaN where depth is.
    """
    rays = torch.from_numpy(K_inv).to(depth) @ pixels  # (3, H*W)
    points = rays * depth.reshape(1, -1)
    widest = torch.zeros_like(depth.reshape(-1))
    for centre in centres:
        from_source = points - torch.from_numpy(centre).to(depth).view(3, 1)
        cos = (points * from_source).sum(0) / (points.norm(dim=0) * from_source.norm(dim=0)).clamp_min(1e-12)
        widest = torch.maximum(widest, torch.rad2deg(torch.arccos(cos.clamp(-1, 1))))
    return torch.where(torch.isfinite(depth.reshape(-1)), widest, torch.nan).view_as(depth)


def _refine(volume: torch.Tensor, inv_depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Best plane per pixel with a parabola in inverse depth, and its confidence.

    volume: (P, H, W) costs, inf where no source is valid. Returns inverse depth (H, W), NaN where the best
    plane or a plane beside it was seen by no source; confidence (H, W) in [0, 1], 1 - best / second best with
    the second best the lowest cost two or more planes away (a sharp, unique minimum scores near 1, a flat or
    repeated one near 0).
    """
    planes = volume.shape[0]
    best, index = volume.min(0)
    lo = (index - 1).clamp_min(0)
    hi = (index + 1).clamp_max(planes - 1)
    c_lo = volume.gather(0, lo[None])[0]
    c_hi = volume.gather(0, hi[None])[0]
    inner = (index > 0) & (index < planes - 1) & torch.isfinite(c_lo) & torch.isfinite(c_hi)
    curvature = c_lo - 2 * best + c_hi
    offset = torch.where(inner & (curvature > 0), 0.5 * (c_lo - c_hi) / curvature.clamp_min(1e-12),
                         torch.zeros_like(best)).clamp(-0.5, 0.5)
    step = inv_depth[1] - inv_depth[0]
    inv = inv_depth[index] + offset * step

    plane_ids = torch.arange(planes, device=volume.device).view(-1, 1, 1)
    far = (plane_ids - index[None]).abs() >= 2
    second = torch.where(far, volume, torch.full_like(volume, float("inf"))).min(0).values
    confidence = torch.where(second > 0, 1 - best / second, torch.zeros_like(best)).clamp(0, 1)
    # Trust a minimum only where the planes beside it were seen too: a pixel that leaves every source at some
    # planes (image borders under forward motion) otherwise wins at the edge of the planes it can be scored on.
    seen = torch.isfinite(best) & torch.isfinite(c_lo) & torch.isfinite(c_hi)
    inv = torch.where(seen, inv, torch.full_like(inv, float("nan")))
    return inv, torch.where(seen, confidence, torch.zeros_like(confidence))


class PlaneSweepBackend:
    """Multi-view depth of a target frame by plane sweeping over its source frames (kind "multi-view")."""

    name = "plane-sweep"
    kind = "multi-view"

    def __init__(self, params: PlaneSweepParams | None = None, device: str | torch.device | None = None,
                 **overrides: object) -> None:
        self.params = build_params("plane-sweep", PlaneSweepParams, params, overrides)
        self._device = resolve_device(device, "plane-sweep")

    @property
    def device(self) -> str:
        return device_label(self._device)

    def inverse_depths(self) -> np.ndarray:
        """The planes' inverse depths (1/m), near to far, evenly spaced."""
        p = self.params
        return np.linspace(1.0 / p.min_depth_m, 1.0 / p.max_depth_m, p.num_planes)

    def _check(self, target_rgb: np.ndarray, sources: list[tuple[np.ndarray, np.ndarray]], K: np.ndarray) -> None:
        if target_rgb.ndim != 3 or target_rgb.shape[2] != 3 or target_rgb.dtype != np.uint8:
            raise ValueError(f"target image must be (H, W, 3) uint8, got {target_rgb.shape} {target_rgb.dtype}")
        if not sources:
            raise BackendError("plane-sweep: at least one source view is needed")
        for i, (rgb, T) in enumerate(sources):
            if rgb.shape != target_rgb.shape or rgb.dtype != np.uint8:
                raise ValueError(f"source {i} is {rgb.shape} {rgb.dtype}, the target {target_rgb.shape} uint8")
            if np.asarray(T).shape != (4, 4) or not np.all(np.isfinite(T)):
                raise ValueError(f"source {i}: T_source_target must be a finite 4x4 matrix")
        if np.asarray(K).shape != (3, 3):
            raise ValueError(f"K must have shape (3, 3), got {np.asarray(K).shape}")

    @torch.no_grad()
    def predict_depth_multiview(
        self, target_rgb: np.ndarray, sources: list[tuple[np.ndarray, np.ndarray]], K: np.ndarray
    ) -> DepthPrediction:
        """Depth of ``target_rgb`` from ``sources`` = [(image_rgb, T_source_target 4x4)], all seen with K.

        Returns a DepthPrediction: float32 (H, W) metres, NaN where the sweep cannot decide (module docstring),
        ``metric`` True (the depth takes the poses' scale), ``confidence`` (H, W) in [0, 1], 0 where NaN.
        """
        self._check(target_rgb, sources, K)
        start = time.perf_counter()
        p, device = self.params, self._device
        zncc = p.cost == "zncc"
        target, *images = _images(target_rgb, [rgb for rgb, _ in sources], zncc, device)
        height, width = target.shape[-2:]
        scorer = _ZnccTarget(target, p.filter_radius) if zncc else _PeTarget(target, p.alpha)
        K64 = np.asarray(K, dtype=np.float64)
        K_inv = np.linalg.inv(K64)
        v, u = torch.meshgrid(torch.arange(height, device=device, dtype=torch.float32),
                              torch.arange(width, device=device, dtype=torch.float32), indexing="ij")
        pixels = torch.stack([u.reshape(-1), v.reshape(-1), torch.ones_like(u).reshape(-1)])
        # Homography parts in float64 on the host; float32 on the device is plenty for the warps.
        rotated = [torch.from_numpy(K64 @ np.asarray(T)[:3, :3] @ K_inv).float().to(device) @ pixels
                   for _, T in sources]
        b = [torch.from_numpy(K64 @ np.asarray(T)[:3, 3]).float().to(device) for _, T in sources]
        inv_depth = torch.from_numpy(self.inverse_depths()).float().to(device)

        volume = torch.empty(p.num_planes, height, width, device=device)
        for first in range(0, p.num_planes, p.chunk_planes):
            inv_chunk = inv_depth[first:first + p.chunk_planes]
            n = inv_chunk.numel()
            total = torch.zeros(n, 1, height, width, device=device)
            count = torch.zeros_like(total)
            best = torch.full_like(total, float("inf"))
            for image, rotated_s, b_s in zip(images, rotated, b):
                grid, valid = _sweep_grid(rotated_s, b_s, inv_chunk, height, width)
                warped = F.grid_sample(image.expand(n, -1, -1, -1), grid, mode="bilinear",
                                       padding_mode="border", align_corners=True)
                cost = scorer.cost(warped).masked_fill(~valid, float("inf"))
                if not zncc:  # ZNCC is a window cost already
                    cost = _box_mean_finite(cost, p.filter_radius)
                seen = torch.isfinite(cost)
                best = torch.minimum(best, cost)
                total += torch.where(seen, cost, torch.zeros_like(cost))
                count += seen
            if p.aggregation == "min":
                volume[first:first + n] = best[:, 0]
            else:
                volume[first:first + n] = torch.where(count > 0, total / count.clamp_min(1), best)[:, 0]

        inv, confidence = _refine(volume, inv_depth)
        depth = 1.0 / inv
        if p.min_triangulation_deg > 0:
            # Near the epipole of a forward-moving camera the rays are almost parallel and the sweep cannot tell
            # depths apart (COLMAP filters the same way, `filter_min_triangulation_angle`).
            centres = [-np.asarray(T)[:3, :3].T @ np.asarray(T)[:3, 3] for _, T in sources]
            angle = _triangulation_deg(depth, K_inv, centres, pixels)
            depth = torch.where(angle >= p.min_triangulation_deg, depth, torch.nan)
        # SGBM's uniqueness check: the best plane must beat every plane two or more away by this fraction.
        depth = torch.where(confidence >= p.uniqueness, depth, torch.nan)
        confidence = torch.where(torch.isfinite(depth), confidence, torch.zeros_like(confidence))
        depth = depth.cpu().numpy().astype(np.float32)
        return DepthPrediction(
            depth_m=depth,
            backend=self.name,
            device=self.device,
            metric=True,
            confidence=confidence.cpu().numpy().astype(np.float32),
            seconds=time.perf_counter() - start,
        )
