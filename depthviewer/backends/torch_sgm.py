"""Semi-global matching in torch: census costs, 8-path aggregation, both views from one volume, dense output.

The steps follow Hirschmueller 2008 (PAMI 30(2)): census matching costs (the most robust cost in Hirschmueller &
Scharstein 2009), 8 paths with P2 lowered at intensity edges, winner-take-all with a parabola for sub-pixel
disparities, the right view from the diagonal of the same volume, a 3x3 median, a 1 px left-right check, small
segments removed, then invalid pixels filled from the scanline's background. The tensor work is in `_sgm_ops`;
it all runs on one torch device (CUDA, else MPS, else the CPU), with no host round trip inside.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from depthviewer.backends import _sgm_ops as ops
from depthviewer.backends.base import build_params, check_pair
from depthviewer.compute.device import device_label, resolve_device
from depthviewer.errors import BackendError
from depthviewer.types import StereoPrediction

# Elements per scratch tile (cost, winner-take-all): on a GPU a bound on memory (64 MiB of int32), on the CPU
# small enough to stay in cache (a 4x slowdown at 64 MiB was measured on 2 cores).
_CHUNK_ELEMENTS = {"cpu": 1 << 19}
_CHUNK_ELEMENTS_DEFAULT = 1 << 24


@dataclass(frozen=True)
class TorchSgmParams:
    """SGM parameters: published practice where there is one (see each line); the census window, outside_cost and
    the speckle filter were chosen among a few alternatives checked on the shared KITTI and Middlebury frames.

    - census: a `census_height` x `census_width` window, full (one bit per pixel: 24 bits for 5x5) or
      centre-symmetric (one bit per mirrored pair: 31 bits for 9x7), at most 63 bits; the matching cost is the
      Hamming distance (Zabih & Woodfill 1994; census was the most robust SGM cost in Hirschmueller & Scharstein
      2009). 5x5 fattens object borders less than 9x7, which matters at Middlebury's resolution.
    - outside_cost: cost of a match that falls outside the right image, as a fraction of the census bits:
      below a wrong match's typical cost, so the paths from inside the image decide there.
    - p1 / p2: penalties for a 1 px step and for a larger jump, in cost units (libSGM's 10 / 120 for its 31-bit
      census, scaled to 24 bits); P2 falls as P2 / (|dI| / p2_gradient) across intensity steps of more than
      `p2_gradient` grey levels, never below P1 (Hirschmueller 2008, section 2.4; 0 = constant P2).
    - paths: 4 (horizontal + vertical) or 8 (with the diagonals).
    - median: 3x3 median on both disparity maps; lr_tolerance_px: the left-right check (1 px).
    - uniqueness: a winner must beat the best cost more than 1 px away by this fraction (0 = off).
    - speckle_size / speckle_range_px: segments of fewer pixels, joined by steps <= the range, are invalid
      (the `sgbm` backend's 100 px / 2 px; 0 = off).
    - fill_holes: give every invalid pixel its scanline's background disparity, as the KITTI devkit does.
    - chunk_rows: rows per scratch tile; 0 = as many as fit in 2^24 elements.
    """

    num_disparities: int = 128
    census_width: int = 5
    census_height: int = 5
    census_symmetric: bool = False
    outside_cost: float = 1 / 3
    p1: int = 8
    p2: int = 96
    p2_gradient: float = 8.0
    paths: int = 8
    subpixel: bool = True
    median: bool = True
    lr_tolerance_px: float = 1.0
    uniqueness: float = 0.0
    speckle_size: int = 100
    speckle_range_px: float = 2.0
    fill_holes: bool = True
    chunk_rows: int = 0

    def __post_init__(self) -> None:
        def fail(message: str) -> None:
            raise BackendError(f"torch-sgm: {message}")

        if not 2 <= self.num_disparities <= 1024:
            fail(f"num_disparities must be in 2..1024, got {self.num_disparities}")
        if min(self.census_width, self.census_height) < 1 or not self.census_width % 2 & self.census_height % 2:
            fail(f"census window must have odd sides, got {self.census_width}x{self.census_height}")
        if not 1 <= self.census_bits <= 63:
            fail(f"census must have 1..63 bits, got {self.census_bits} for {self.census_width}x{self.census_height}")
        if not 0 <= self.p1 <= self.p2:
            fail(f"penalties must satisfy 0 <= p1 <= p2, got p1={self.p1}, p2={self.p2}")
        if self.paths not in (4, 8):
            fail(f"paths must be 4 or 8, got {self.paths}")
        # Each path cost stays <= max cost + P2, so this bounds every sum: int16 stays exact.
        if self.paths * (self.census_bits + self.p2) >= ops.INT16_BIG:
            fail(f"p2={self.p2} is too large for exact int16 sums over {self.paths} paths")
        if not 0 <= self.outside_cost <= 1 or not 0 <= self.uniqueness < 1:
            fail("outside_cost must be in [0, 1] and uniqueness in [0, 1)")
        if min(self.p2_gradient, self.lr_tolerance_px, self.speckle_size, self.speckle_range_px, self.chunk_rows) < 0:
            fail("p2_gradient, lr_tolerance_px, speckle_size, speckle_range_px and chunk_rows must be >= 0")

    @property
    def census_bits(self) -> int:
        pixels = self.census_width * self.census_height - 1
        return pixels // 2 if self.census_symmetric else pixels


class TorchSgmBackend:
    """SGM on a torch device; gives both disparities, dense, and keeps a confidence map.

    After each `predict`, `last_confidence` is the left view's float32 (H, W) confidence in [0, 1]: 0 where the
    disparity was filled in (left-right check failed, a small segment, or the uniqueness test when on), else the
    margin 1 - best / runner-up of the summed costs (runner-up more than 1 px from the winner).
    """

    name = "torch-sgm"
    kind = "stereo"
    params_type = TorchSgmParams

    def __init__(
        self, params: TorchSgmParams | None = None, device: str | torch.device | None = None, **overrides: object
    ) -> None:
        self.params = build_params("torch-sgm", TorchSgmParams, params, overrides)
        self._device = resolve_device(device, "torch-sgm")
        self.last_confidence: np.ndarray | None = None

    @property
    def device(self) -> str:
        return device_label(self._device)

    def predict(self, left_rgb: np.ndarray, right_rgb: np.ndarray) -> StereoPrediction:
        check_pair(left_rgb, right_rgb)
        start = time.perf_counter()
        try:
            with torch.inference_mode():
                left, right, confidence = self._match(self._gray(left_rgb), self._gray(right_rgb))
                maps = [t.cpu().numpy().astype(np.float32) for t in (left, right, confidence)]
        except RuntimeError as exc:  # out of memory, a device that lacks an operation
            raise BackendError(f"torch-sgm failed on a {left_rgb.shape[1]}x{left_rgb.shape[0]} pair: {exc}") from exc
        self.last_confidence = maps[2]
        return StereoPrediction(
            disparity_left_px=maps[0],
            disparity_right_px=maps[1],
            backend=self.name,
            device=self.device,
            seconds=time.perf_counter() - start,
            confidence=maps[2],
        )

    def _gray(self, rgb: np.ndarray) -> torch.Tensor:
        """(H, W) float32 luma in grey levels (0..255) on the device."""
        image = torch.from_numpy(np.ascontiguousarray(rgb)).to(self._device).float()
        # An elementwise sum, not a matmul: no TF32 on a GPU, so census bits match the CPU's.
        return (image * torch.tensor([0.299, 0.587, 0.114], device=self._device)).sum(dim=-1)

    def _match(self, gray_left: torch.Tensor, gray_right: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Left disparity, right disparity and left confidence, each (H, W) float32 on the device."""
        p = self.params
        rows, cols = gray_left.shape
        depth = p.num_disparities
        budget = _CHUNK_ELEMENTS.get(gray_left.device.type, _CHUNK_ELEMENTS_DEFAULT)
        chunk = p.chunk_rows or max(1, budget // (cols * depth))
        census = [ops.census_transform(g, p.census_height, p.census_width, p.census_symmetric)
                  for g in (gray_left, gray_right)]
        cost = ops.census_cost_volume(*census, depth, round(p.outside_cost * p.census_bits), chunk)
        directions = ops.DIRECTIONS_8 if p.paths == 8 else ops.DIRECTIONS_4
        p2 = ops.p2_maps(gray_left, directions, p.p1, p.p2, p.p2_gradient)
        # Columns W.. stand for left pixels beyond the image, seen only by the right view's diagonal.
        padded = torch.full((rows, cols + depth, depth), ops.INT16_MAX, dtype=torch.int16, device=cost.device)
        sums = padded[:, :cols]
        sums.zero_()
        ops.aggregate_costs(cost, p.p1, p2, p.paths, sums)
        del cost

        right_sums = ops.right_view(padded, cols)
        disparity_right = torch.empty(rows, cols, device=sums.device)
        disparity_left = torch.empty_like(disparity_right)
        margin = torch.empty_like(disparity_right)
        for y0 in range(0, rows, chunk):
            band = slice(y0, min(rows, y0 + chunk))
            disparity_right[band] = ops.winner_take_all(right_sums[band], p.subpixel)[0]
            disparity_left[band], best, second = ops.winner_take_all(sums[band], p.subpixel, runner_up=True)
            margin[band] = (second - best) / second.clamp(min=1.0)
        del padded, sums, right_sums
        if p.median:
            disparity_left, disparity_right = ops.median3(disparity_left), ops.median3(disparity_right)

        valid = ops.left_right_check(disparity_left, disparity_right, p.lr_tolerance_px)
        if p.uniqueness > 0:
            valid &= margin > p.uniqueness
        # Mirroring both maps turns the right view's check into a left view's.
        valid_right = ops.left_right_check(disparity_right.flip(1), disparity_left.flip(1), p.lr_tolerance_px).flip(1)
        valid = ops.remove_speckles(disparity_left, valid, p.speckle_size, p.speckle_range_px)
        valid_right = ops.remove_speckles(disparity_right, valid_right, p.speckle_size, p.speckle_range_px)
        # Kept pixels get at least 1/256, so that 0 means exactly "filled in".
        confidence = torch.where(valid, margin.clamp(1 / 256, 1.0), torch.zeros_like(margin))
        if p.fill_holes:
            disparity_left = ops.fill_background(disparity_left, valid)
            disparity_right = ops.fill_background(disparity_right, valid_right)
        else:
            nan = torch.full_like(disparity_left, float("nan"))
            disparity_left = torch.where(valid, disparity_left, nan)
            disparity_right = torch.where(valid_right, disparity_right, nan)
        return disparity_left, disparity_right, confidence
