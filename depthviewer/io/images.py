"""Read image files into the project's one image convention: (H, W, 3) uint8 RGB."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from depthviewer.errors import InputError


def read_image_unchanged(path: str | Path) -> np.ndarray:
    """Decode an image file exactly as stored (bit depth, channel count, OpenCV's BGR order).

    For readers of encoded data (KITTI 16-bit PNG, masks) that must see the stored values.
    np.fromfile + cv2.imdecode instead of cv2.imread because imread fails on non-ASCII paths on Windows.
    EXIF orientation is not applied: calibration refers to the stored pixel grid.
    Raises InputError "... not a readable image (reason)" for a missing file, a folder or undecodable data.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError("not a readable image (it is a folder)", path)
    if not path.exists():
        raise InputError("not a readable image (no such file)", path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise InputError(f"not a readable image ({exc.strerror or exc})", path) from exc
    if data.size == 0:
        raise InputError("not a readable image (the file is empty)", path)
    try:
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise InputError("not a readable image (OpenCV could not decode it)", path) from exc
    if image is None or image.size == 0:
        raise InputError("not a readable image (unknown format or corrupt data)", path)
    return image


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB.

    Grayscale is replicated to 3 channels, an alpha channel is dropped, 16-bit data is scaled to 8 bits
    (value >> 8). Float images (EXR, float TIFF) are rejected: their range is unknown, so any mapping
    to 8 bits would be a guess.
    """
    path = Path(path)
    image = read_image_unchanged(path)
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        kind = "floating-point" if np.issubdtype(image.dtype, np.floating) else str(image.dtype)
        raise InputError(f"not a readable image for viewing: {kind} pixels; expected 8- or 16-bit", path)

    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        return np.ascontiguousarray(np.repeat(image[:, :, None], 3, axis=2))
    channels = image.shape[2]
    if channels == 2:  # gray + alpha
        return np.ascontiguousarray(np.repeat(image[:, :, :1], 3, axis=2))
    if channels == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if channels == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    raise InputError(f"not a readable image for viewing: {channels} channels", path)
