"""Read and write PFM (portable float map) files, Middlebury's format for disparity ground truth.

Format: a text header `PF` (3 channels) or `Pf` (1 channel), the width and height, and a scale whose sign
gives the byte order (negative = little-endian, positive = big-endian), each followed by whitespace; then
float32 rows stored bottom-to-top.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from depthviewer.errors import InputError
from depthviewer.io.atomic import atomic_write

# Tokens may be separated by any whitespace; exactly one whitespace byte ends the header.
_HEADER = re.compile(rb"\A(P[Ff])\s+(\S+)\s+(\S+)\s+(\S+)\s")
_HEADER_MAX_BYTES = 256


def read_pfm(path: str | Path) -> np.ndarray:
    """Read a PFM file as float32 (H, W) for `Pf` or (H, W, 3) for `PF`, rows top-to-bottom.

    Values are returned as stored (Middlebury's `inf` for unknown disparity stays `inf`).
    Raises InputError for a missing file, a bad header, or a byte count that does not match the size.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("not a PFM file (no such file)" if not path.exists() else "not a PFM file (not a file)", path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the PFM file ({exc.strerror or exc})", path) from exc

    match = _HEADER.match(data[:_HEADER_MAX_BYTES])
    if match is None:
        raise InputError("not a PFM file: the header must be 'PF' or 'Pf', width height, scale", path)
    kind, width_text, height_text, scale_text = match.groups()
    channels = 3 if kind == b"PF" else 1
    try:
        width, height = int(width_text), int(height_text)
    except ValueError:
        raise InputError(f"bad PFM header: size {width_text!r} x {height_text!r} is not two integers", path) from None
    if width <= 0 or height <= 0:
        raise InputError(f"bad PFM header: size {width} x {height} must be positive", path)
    try:
        scale = float(scale_text)
    except ValueError:
        raise InputError(f"bad PFM header: scale {scale_text!r} is not a number", path) from None
    if scale == 0 or not np.isfinite(scale):
        raise InputError(f"bad PFM header: scale {scale_text.decode(errors='replace')} must be non-zero "
                         "(its sign gives the byte order)", path)

    offset = match.end()
    expected = width * height * channels * 4
    available = len(data) - offset
    # A header written in text mode on Windows ends with "\r\n": accept it when the size then fits exactly.
    if available == expected + 1 and data[offset - 1:offset + 1] == b"\r\n":
        offset += 1
        available -= 1
    if available != expected:
        raise InputError(f"PFM data size mismatch: {width} x {height} x {channels} float32 needs {expected} bytes, "
                         f"the file has {available} after the header", path)

    dtype = "<f4" if scale < 0 else ">f4"
    shape = (height, width) if channels == 1 else (height, width, 3)
    values = np.frombuffer(data, dtype=dtype, count=width * height * channels, offset=offset).reshape(shape)
    return np.ascontiguousarray(values[::-1]).astype(np.float32, copy=False)


def write_pfm(path: str | Path, array: np.ndarray) -> None:
    """Write float data (H, W) or (H, W, 3) as a little-endian PFM, atomically. Rows are stored bottom-to-top.

    Raises ValueError for an array of another shape (a programming error, not a user's file).
    """
    values = np.asarray(array)
    if values.ndim == 2:
        kind = b"Pf"
    elif values.ndim == 3 and values.shape[2] == 3:
        kind = b"PF"
    else:
        raise ValueError(f"PFM holds (H, W) or (H, W, 3) data, got shape {values.shape}")
    if values.shape[0] == 0 or values.shape[1] == 0:
        raise ValueError(f"PFM needs a non-empty image, got shape {values.shape}")
    if not (np.issubdtype(values.dtype, np.floating) or np.issubdtype(values.dtype, np.integer)):
        raise ValueError(f"PFM holds numbers, got dtype {values.dtype}")
    height, width = values.shape[:2]
    header = kind + b"\n%d %d\n-1.0\n" % (width, height)
    body = np.ascontiguousarray(values[::-1], dtype="<f4").tobytes()
    with atomic_write(path) as handle:
        handle.write(header)
        handle.write(body)
