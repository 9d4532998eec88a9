"""Read image files into the project's one image convention: (H, W, 3) uint8 RGB."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from depthviewer.errors import InputError
from depthviewer.io.image_header import declared_size, is_png, png_is_complete

# Refused before decoding: 64 megapixels (8000 x 8000) is 192 MB as RGB and several times that once the
# analysis holds its float maps; the stereo and depth datasets this tool is for are far below it.
MAX_IMAGE_PIXELS = 64_000_000


def read_image_unchanged(path: str | Path) -> np.ndarray:
    """Decode an image file exactly as stored (bit depth, channel count, OpenCV's BGR order).

    For readers of encoded data (KITTI 16-bit PNG, masks) that must see the stored values.
    np.fromfile + cv2.imdecode instead of cv2.imread because imread fails on non-ASCII paths on Windows.
    EXIF orientation is not applied: calibration refers to the stored pixel grid.
    Raises InputError "... not a readable image (reason)" for a missing file, a folder or undecodable data,
    and "... too large" for an image whose header declares more than MAX_IMAGE_PIXELS (checked before decoding).
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
    head = data[:65536].tobytes()
    size = declared_size(head)
    if size is not None and size[0] * size[1] > MAX_IMAGE_PIXELS:
        raise InputError(f"image too large: {size[0]}x{size[1]} pixels ({size[0] * size[1] / 1e6:.0f} MP) is above "
                         f"the limit of {MAX_IMAGE_PIXELS / 1e6:.0f} MP; downsample it first", path)
    try:
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise InputError("not a readable image (OpenCV could not decode it)", path) from exc
    if image is None or image.size == 0:
        raise InputError(f"not a readable image ({_why_undecodable(path, data)})", path)
    return image


def _why_undecodable(path: Path, data: np.ndarray) -> str:
    head = data[:16].tobytes()
    if is_png(head) and not png_is_complete(data[-64:].tobytes()):
        return "the PNG file is cut off before its end: an incomplete download or copy?"
    if path.suffix.lower() == ".png" and not is_png(head):
        return f"named .png but not a PNG file: it starts with {head[:8]!r}"
    return "unknown format or corrupt data"


def pixel_format(image: np.ndarray) -> str:
    """What `read_image_unchanged` found, e.g. "8-bit RGB" or "16-bit grayscale (read as 8-bit RGB: ...)"."""
    channels = 1 if image.ndim == 2 else image.shape[2]
    kind = {1: "grayscale", 2: "grayscale + alpha", 3: "RGB", 4: "RGBA"}.get(channels, f"{channels}-channel")
    bits = "floating-point" if np.issubdtype(image.dtype, np.floating) else f"{image.dtype.itemsize * 8}-bit"
    changes = []
    if image.dtype == np.uint16:
        changes.append("values / 256")
    if channels in (1, 2):
        changes.append("grey replicated to 3 channels")
    if channels in (2, 4):
        changes.append("alpha dropped")
    return f"{bits} {kind}" + (f" (read as 8-bit RGB: {', '.join(changes)})" if changes else "")


def to_rgb(image: np.ndarray, path: str | Path) -> np.ndarray:
    """An image as decoded by `read_image_unchanged` -> (H, W, 3) uint8 RGB (see `read_rgb`)."""
    path = Path(path)
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


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB.

    Grayscale is replicated to 3 channels, an alpha channel is dropped, 16-bit data is scaled to 8 bits
    (value >> 8). Float images (EXR, float TIFF) are rejected: their range is unknown, so any mapping
    to 8 bits would be a guess.
    """
    return to_rgb(read_image_unchanged(path), path)
