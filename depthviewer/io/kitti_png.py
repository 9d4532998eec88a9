"""Read and write KITTI's 16-bit PNG encoding of disparity (stereo benchmarks) and depth (depth completion).

Encoding, from the KITTI devkits: value = round(x * 256) as uint16, 0 = no value. So a PNG holds 0 < x < 256
(pixels or metres) in steps of 1/256.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from depthviewer.errors import InputError
from depthviewer.io.atomic import atomic_write
from depthviewer.io.images import read_image_unchanged

_SCALE = 256.0
_MAX_CODE = np.iinfo(np.uint16).max


def _read(path: str | Path, what: str) -> np.ndarray:
    image = read_image_unchanged(path)
    if image.dtype != np.uint16 or image.ndim != 2:
        bits = image.dtype.itemsize * 8
        channels = 1 if image.ndim == 2 else image.shape[2]
        raise InputError(f"the file is not a 16-bit KITTI {what} PNG (found {bits}-bit, {channels}-channel data)", path)
    values = image.astype(np.float32) / np.float32(_SCALE)
    values[image == 0] = np.nan
    return values


def _write(path: str | Path, values: np.ndarray, what: str) -> None:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"a KITTI {what} map is a non-empty (H, W) array, got shape {values.shape}")
    valid = np.isfinite(values) & (values > 0)
    codes = np.zeros(values.shape, dtype=np.uint16)
    # A small positive value must stay "valid": it is written as the smallest code (1/256) instead of 0.
    codes[valid] = np.clip(np.rint(values[valid] * _SCALE), 1, _MAX_CODE).astype(np.uint16)
    ok, encoded = cv2.imencode(".png", codes)
    if not ok:  # pragma: no cover - OpenCV always encodes a uint16 single-channel PNG
        raise InputError(f"OpenCV could not encode the {what} PNG", path)
    with atomic_write(path) as handle:
        handle.write(encoded.tobytes())


def read_kitti_disparity(path: str | Path) -> np.ndarray:
    """Read a KITTI disparity PNG as float32 (H, W) pixels, NaN where the file has no value (code 0)."""
    return _read(path, "disparity")


def write_kitti_disparity(path: str | Path, disparity_px: np.ndarray) -> None:
    """Write (H, W) disparity in pixels as a KITTI PNG, atomically: NaN, inf and <= 0 become 0 (no value),
    values are rounded to 1/256 px and clipped to the uint16 range (max 255.996 px)."""
    _write(path, disparity_px, "disparity")


def read_kitti_depth(path: str | Path) -> np.ndarray:
    """Read a KITTI depth PNG (depth completion / prediction format) as float32 (H, W) metres, NaN where 0."""
    return _read(path, "depth")


def write_kitti_depth(path: str | Path, depth_m: np.ndarray) -> None:
    """Write (H, W) depth in metres as a KITTI depth PNG, atomically (same encoding as disparity)."""
    _write(path, depth_m, "depth")
