"""The pixel size an image file declares in its header, read before anything is decoded.

A compressed image can declare far more pixels than its file size suggests (a 20000 x 20000 black PNG is a
few hundred KB and decodes to 1.2 GB of RGB), so the size is checked from the header first. Covers the
compressed formats where that matters: PNG, JPEG, WebP, TIFF; and BMP. Other formats are left to OpenCV's
own limit (CV_IO_MAX_IMAGE_PIXELS, 2^30 by default).
"""

from __future__ import annotations

import struct

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic); C4, C8 and CC are not frames.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_TIFF_WIDTH, _TIFF_HEIGHT = 256, 257
_TIFF_SHORT, _TIFF_LONG = 3, 4


def is_png(data: bytes) -> bool:
    return data[:8] == _PNG_SIGNATURE


def png_is_complete(data: bytes) -> bool:
    """Whether the data holds the IEND chunk that ends every PNG (a cut-off download lacks it)."""
    return b"IEND" in data[-64:]


def declared_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the header of PNG, JPEG, WebP, TIFF or BMP data; None for another format or a
    header too damaged to say (then the decoder gets to refuse it)."""
    try:
        if is_png(data):
            return _png(data)
        if data[:2] == b"\xff\xd8":
            return _jpeg(data)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp(data)
        if data[:4] in (b"II*\x00", b"MM\x00*"):
            return _tiff(data)
        if data[:2] == b"BM":
            return _bmp(data)
    except (struct.error, IndexError):
        return None
    return None


def _png(data: bytes) -> tuple[int, int] | None:
    if data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


def _jpeg(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no frame header before them
            return None
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in _JPEG_SOF:
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        i += 2 + length
    return None


def _webp(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":  # extended: 24-bit canvas size minus one
        return (int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1)
    if chunk == b"VP8L":  # lossless: 14-bit sizes minus one after a signature byte
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":  # lossy: 14-bit sizes after the frame tag and start code
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None


def _tiff(data: bytes) -> tuple[int, int] | None:
    order = "<" if data[:2] == b"II" else ">"
    offset = struct.unpack(order + "I", data[4:8])[0]
    count = struct.unpack(order + "H", data[offset:offset + 2])[0]
    size: dict[int, int] = {}
    for entry in range(count):
        start = offset + 2 + 12 * entry
        tag, kind = struct.unpack(order + "HH", data[start:start + 4])
        if tag in (_TIFF_WIDTH, _TIFF_HEIGHT) and kind in (_TIFF_SHORT, _TIFF_LONG):
            # The value sits left-justified in the entry's last 4 bytes.
            fmt, width = ("H", 2) if kind == _TIFF_SHORT else ("I", 4)
            size[tag] = struct.unpack(order + fmt, data[start + 8:start + 8 + width])[0]
    if len(size) != 2:
        return None
    return size[_TIFF_WIDTH], size[_TIFF_HEIGHT]


def _bmp(data: bytes) -> tuple[int, int] | None:
    header = struct.unpack("<I", data[14:18])[0]
    if header == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        return struct.unpack("<HH", data[18:22])
    width, height = struct.unpack("<ii", data[18:26])
    return abs(width), abs(height)  # a negative height means rows stored top-down
