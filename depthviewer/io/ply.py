"""Write and read coloured point clouds as PLY (binary little-endian or ascii), for MeshLab, CloudCompare, Open3D."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from depthviewer.errors import InputError
from depthviewer.io.atomic import atomic_write

_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}
_BYTE_ORDER = {"binary_little_endian": "<", "binary_big_endian": ">", "ascii": "<"}
_COLOR = ("red", "green", "blue")
_MAGIC = re.compile(rb"ply[ \t]*\r?\n")
_END_HEADER = re.compile(rb"\nend_header[ \t]*\r?\n")
_ASCII_CHUNK = 100_000  # rows formatted per % operation: bounds the temporary tuple's memory


def _vertex_dtype(colors: bool) -> np.dtype:
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if colors:
        fields += [(c, "u1") for c in _COLOR]
    return np.dtype(fields)


def write_ply(path: str | Path, points_m: np.ndarray, colors_rgb: np.ndarray | None = None,
              comments: Sequence[str] = (), binary: bool = True) -> None:
    """Write N points (N, 3) in metres, with optional (N, 3) uint8 RGB colours, as a PLY file, atomically.

    `comments` go into the header; state the coordinate frame there (e.g. "camera frame: OpenCV, x right,
    y down, z forward, metres"). Points are stored as float32. Raises ValueError for wrong shapes,
    non-finite points or a comment with a line break (programming errors).
    """
    points = np.asarray(points_m)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points must be (N, 3), got shape {points.shape}")
    if not np.all(np.isfinite(points)):
        raise ValueError("points must be finite; drop pixels without depth before writing")
    colors = None if colors_rgb is None else np.asarray(colors_rgb)
    if colors is not None:
        if colors.shape != points.shape:
            raise ValueError(f"colors must be (N, 3) like the points {points.shape}, got {colors.shape}")
        if colors.dtype != np.uint8:
            raise ValueError(f"colors must be uint8, got {colors.dtype}")
    for comment in comments:
        if "\n" in comment or "\r" in comment:
            raise ValueError(f"a PLY comment is one line, got {comment!r}")

    n = points.shape[0]
    lines = ["ply", f"format {'binary_little_endian' if binary else 'ascii'} 1.0"]
    lines += [f"comment {c}" for c in comments]
    lines += [f"element vertex {n}", "property float x", "property float y", "property float z"]
    if colors is not None:
        lines += [f"property uchar {c}" for c in _COLOR]
    lines.append("end_header")
    header = ("\n".join(lines) + "\n").encode("utf-8")

    if binary:
        vertices = np.empty(n, dtype=_vertex_dtype(colors is not None))
        for axis, name in enumerate("xyz"):
            vertices[name] = points[:, axis]
        if colors is not None:
            for channel, name in enumerate(_COLOR):
                vertices[name] = colors[:, channel]
        body = vertices.tobytes()
    else:
        body = _ascii_body(points.astype(np.float32), colors)
    with atomic_write(path) as handle:
        handle.write(header)
        handle.write(body)


def _ascii_body(points: np.ndarray, colors: np.ndarray | None) -> bytes:
    # One % operation per chunk runs the formatting in C instead of a Python loop over points;
    # %.9g prints every float32 exactly enough to read back the same value.
    table = points.astype(np.float64)
    row = "%.9g %.9g %.9g"
    if colors is not None:
        table = np.concatenate([table, colors.astype(np.float64)], axis=1)
        row += " %d %d %d"
    row += "\n"
    chunks = []
    for start in range(0, table.shape[0], _ASCII_CHUNK):
        block = table[start:start + _ASCII_CHUNK]
        chunks.append((row * block.shape[0]) % tuple(block.ravel().tolist()))
    return "".join(chunks).encode("ascii")


def _parse_header(path: Path, data: bytes) -> tuple[str, int, list[tuple[str, str]], list[str], int, int]:
    """(format, vertex count, vertex properties, comments, bytes per element before vertex, data offset)."""
    if not _MAGIC.match(data):
        raise InputError("not a PLY file (it must start with a line 'ply')", path)
    end = _END_HEADER.search(data)
    if end is None:
        raise InputError("bad PLY header: no 'end_header' line", path)
    offset = end.end() - 1  # the final line break; data starts after it
    # Lines end at "\n" only: str.splitlines would also break at characters a comment may hold (\x85, \u2028).
    lines = [line.rstrip("\r") for line in data[:offset].decode("utf-8", errors="replace").split("\n")]

    fmt, comments = None, []
    elements: list[tuple[str, int, list[tuple[str, str]]]] = []
    for number, raw in enumerate(lines[1:], start=2):
        words = raw.split()
        if not words or words[0] == "obj_info":
            continue
        if words[0] == "comment":
            comments.append(raw.strip()[len("comment"):].strip())
        elif words[0] == "format":
            if len(words) != 3 or words[1] not in _BYTE_ORDER or words[2] != "1.0":
                raise InputError(f"bad PLY header line {number}: unsupported format {raw.strip()!r}", path)
            fmt = words[1]
        elif words[0] == "element":
            if len(words) != 3 or not (words[2].isascii() and words[2].isdigit()):
                raise InputError(f"bad PLY header line {number}: {raw.strip()!r}", path)
            elements.append((words[1], int(words[2]), []))
        elif words[0] == "property":
            if not elements:
                raise InputError(f"bad PLY header line {number}: property before any element", path)
            if len(words) == 3 and words[1] in _PLY_TYPES:
                if any(name == words[2] for name, _ in elements[-1][2]):
                    raise InputError(f"bad PLY header line {number}: property {words[2]!r} appears twice", path)
                elements[-1][2].append((words[2], _PLY_TYPES[words[1]]))
            elif len(words) == 5 and words[1] == "list" and elements[-1][0] != "vertex":
                elements[-1][2].append(("", "list"))  # a list (e.g. face indices) after the vertices: not read
            else:
                raise InputError(f"bad PLY header line {number}: unsupported property {raw.strip()!r}", path)
        elif words[0] != "end_header":
            raise InputError(f"bad PLY header line {number}: unknown keyword {words[0]!r}", path)
    if fmt is None:
        raise InputError("bad PLY header: no 'format' line", path)
    names = [e[0] for e in elements]
    if "vertex" not in names:
        raise InputError("bad PLY header: no 'element vertex'", path)
    # Only what precedes the vertices must be skipped; list properties there have no fixed size.
    before = elements[:names.index("vertex")]
    if any(t == "list" for _, _, props in before for _, t in props):
        raise InputError("unsupported PLY: an element with lists comes before the vertices", path)
    skip = sum(count * sum(np.dtype(t).itemsize for _, t in props) for _, count, props in before)
    if fmt == "ascii" and before:
        raise InputError("unsupported ascii PLY: the vertices must be the first element", path)
    _, count, props = elements[names.index("vertex")]
    prop_names = [p for p, _ in props]
    for axis in "xyz":
        if axis not in prop_names:
            raise InputError(f"bad PLY header: the vertex element has no property '{axis}'", path)
    return fmt, count, props, comments, skip, offset + 1


def _check_integers(path: Path, name: str, column: np.ndarray, limits: np.iinfo) -> None:
    """InputError unless an ascii column of an integer property holds whole numbers within its type's range."""
    bad = ~(np.isfinite(column) & (column == np.round(column)) & (column >= limits.min) & (column <= limits.max))
    if bad.any():
        raise InputError(f"bad ascii PLY data: vertex property '{name}' ({limits.dtype}) holds "
                         f"{column[bad][0]:g}, not a whole number in {limits.min}..{limits.max}", path)


def read_ply(path: str | Path) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Read a PLY point cloud: points float32 (N, 3), colours uint8 (N, 3) or None, the header's comments.

    Accepts ascii and binary files with any scalar vertex properties (x, y, z required; red, green, blue
    used when all three exist); InputError for a malformed header or truncated data.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("not a PLY file (no such file)" if not path.exists() else "not a PLY file (not a file)", path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the PLY file ({exc.strerror or exc})", path) from exc
    fmt, count, props, comments, skip, offset = _parse_header(path, data)
    dtype = np.dtype([(name, _BYTE_ORDER[fmt] + t) for name, t in props])

    if fmt == "ascii":
        tokens = data[offset:].split(None, count * len(props))[:count * len(props)]
        if len(tokens) < count * len(props):
            raise InputError(f"truncated PLY: {count} vertices of {len(props)} values need "
                             f"{count * len(props)} numbers, found {len(tokens)}", path)
        try:
            table = np.array(tokens, dtype=np.float64).reshape(count, len(props))
        except ValueError:
            raise InputError("bad ascii PLY data: a vertex value is not a number", path) from None
        vertices = np.empty(count, dtype=dtype)
        for i, (name, kind) in enumerate(props):
            column = table[:, i]
            if np.dtype(kind).kind in "iu":
                _check_integers(path, name, column, np.iinfo(kind))
            vertices[name] = column
    else:
        start = offset + skip
        needed = count * dtype.itemsize
        if len(data) - start < needed:
            raise InputError(f"truncated PLY: {count} vertices need {needed} bytes, "
                             f"the file has {max(len(data) - start, 0)}", path)
        vertices = np.frombuffer(data, dtype=dtype, count=count, offset=start)

    points = np.stack([vertices[a] for a in "xyz"], axis=1).astype(np.float32)
    colors = None
    if all(c in dtype.names for c in _COLOR):
        colors = np.stack([vertices[c] for c in _COLOR], axis=1)
        if colors.dtype != np.uint8:
            raise InputError(f"unsupported PLY colours of type {colors.dtype}; expected uchar", path)
    return points, colors, comments
