"""OpenCV semi-global block matching, in the configuration tuned in REFERENCE.md."""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np

from depthviewer.backends.base import build_params, check_pair
from depthviewer.errors import BackendError
from depthviewer.types import StereoPrediction

_MODES = {
    "sgbm": cv2.STEREO_SGBM_MODE_SGBM,
    "sgbm3way": cv2.STEREO_SGBM_MODE_SGBM_3WAY,
    "hh": cv2.STEREO_SGBM_MODE_HH,
    "hh4": cv2.STEREO_SGBM_MODE_HH4,
}


@dataclass(frozen=True)
class SgbmParams:
    """StereoSGBM parameters; the defaults are the best of a sweep on KITTI (REFERENCE.md).

    P1 and P2 default to 8 * 3 * block_size^2 and 32 * 3 * block_size^2 (colour images) when left at 0.
    `pad_left` pads both images on the left by `num_disparities` px so that the first columns get estimates too.
    """

    num_disparities: int = 128
    block_size: int = 7
    p1: int = 0
    p2: int = 0
    disp12_max_diff: int = 1
    pre_filter_cap: int = 63
    uniqueness_ratio: int = 10
    speckle_window_size: int = 100
    speckle_range: int = 2
    mode: str = "sgbm3way"
    pad_left: bool = True

    def __post_init__(self) -> None:
        if self.num_disparities <= 0 or self.num_disparities % 16:
            raise BackendError(f"sgbm: num_disparities must be a positive multiple of 16, got {self.num_disparities}")
        if self.block_size < 1 or self.block_size % 2 == 0:
            raise BackendError(f"sgbm: block_size must be odd and >= 1, got {self.block_size}")
        if self.mode not in _MODES:
            raise BackendError(f"sgbm: mode must be one of {sorted(_MODES)}, got {self.mode!r}")


class SgbmBackend:
    """Classical stereo on the CPU; gives both disparities (the right one by matching the mirrored pair)."""

    name = "sgbm"
    kind = "stereo"
    params_type = SgbmParams

    def __init__(self, params: SgbmParams | None = None, **overrides: object) -> None:
        self.params = build_params("sgbm", SgbmParams, params, overrides)
        p = self.params
        area = 3 * p.block_size**2
        self._matcher = cv2.StereoSGBM_create(
            minDisparity=0,
            numDisparities=p.num_disparities,
            blockSize=p.block_size,
            P1=p.p1 or 8 * area,
            P2=p.p2 or 32 * area,
            disp12MaxDiff=p.disp12_max_diff,
            preFilterCap=p.pre_filter_cap,
            uniquenessRatio=p.uniqueness_ratio,
            speckleWindowSize=p.speckle_window_size,
            speckleRange=p.speckle_range,
            mode=_MODES[p.mode],
        )

    @property
    def device(self) -> str:
        return "cpu"

    def _match(self, left_bgr: np.ndarray, right_bgr: np.ndarray) -> np.ndarray:
        pad = self.params.num_disparities if self.params.pad_left else 0
        if pad:
            left_bgr = cv2.copyMakeBorder(left_bgr, 0, 0, pad, 0, cv2.BORDER_REPLICATE)
            right_bgr = cv2.copyMakeBorder(right_bgr, 0, 0, pad, 0, cv2.BORDER_REPLICATE)
        fixed = self._matcher.compute(left_bgr, right_bgr)[:, pad:]
        # SGBM marks missing estimates with (minDisparity - 1) * 16; its output is 4-bit fixed point.
        disparity = fixed.astype(np.float32) / 16.0
        disparity[fixed < 0] = np.nan
        return disparity

    def predict(self, left_rgb: np.ndarray, right_rgb: np.ndarray) -> StereoPrediction:
        check_pair(left_rgb, right_rgb)
        start = time.perf_counter()
        left_bgr = np.ascontiguousarray(left_rgb[..., ::-1])
        right_bgr = np.ascontiguousarray(right_rgb[..., ::-1])
        try:
            disparity_left = self._match(left_bgr, right_bgr)
            # Mirroring both views turns right-view matching into left-view matching.
            mirrored = self._match(np.ascontiguousarray(right_bgr[:, ::-1]), np.ascontiguousarray(left_bgr[:, ::-1]))
        except cv2.error as exc:
            raise BackendError(f"sgbm failed on a {left_rgb.shape[1]}x{left_rgb.shape[0]} pair: {exc}") from exc
        disparity_right = np.ascontiguousarray(mirrored[:, ::-1])
        return StereoPrediction(
            disparity_left_px=disparity_left,
            disparity_right_px=disparity_right,
            backend=self.name,
            device=self.device,
            seconds=time.perf_counter() - start,
        )
