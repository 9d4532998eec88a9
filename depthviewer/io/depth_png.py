"""Read depth maps stored as 16-bit PNG in millimetres (NYU Depth v2 exports, ScanNet `depth/N.png`).

Encoding: value = depth in millimetres as uint16, 0 = no measurement. (TUM RGB-D's PNGs use 1/5000 m and
KITTI's 1/256 m, see kitti_png.py: a different scale, not this reader.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from depthviewer.errors import InputError
from depthviewer.io.images import read_image_unchanged

_MM_PER_M = 1000.0


def read_depth_png_mm(path: str | Path) -> np.ndarray:
    """Read a millimetre depth PNG as float32 (H, W) metres, NaN where the file has 0 (no measurement).

    Raises InputError for anything but single-channel 16-bit data: an 8-bit PNG would be a visualisation,
    not depth.
    """
    image = read_image_unchanged(path)
    if image.dtype != np.uint16 or image.ndim != 2:
        bits = image.dtype.itemsize * 8
        channels = 1 if image.ndim == 2 else image.shape[2]
        raise InputError(f"not a 16-bit millimetre depth PNG (found {bits}-bit, {channels}-channel data)", path)
    depth_m = image.astype(np.float32) / np.float32(_MM_PER_M)
    depth_m[image == 0] = np.nan
    return depth_m
