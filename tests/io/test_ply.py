"""Tests for PLY point clouds: exact header, binary and ascii round trips, other writers' files, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from depthviewer.errors import InputError
from depthviewer.io.ply import read_ply, write_ply

FRAME = "camera frame: OpenCV, x right, y down, z forward, metres"


def _cloud(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(n, 3)).astype(np.float32) * np.float32(20)
    colors = rng.integers(0, 256, size=(n, 3), dtype=np.uint8)
    return points, colors


class TestWriteFormat:
    def test_binary_header_and_size(self, tmp_path: Path) -> None:
        points, colors = _cloud(5)
        path = tmp_path / "c.ply"
        write_ply(path, points, colors, comments=[FRAME, "frame 000000_10"])
        data = path.read_bytes()
        header = (
            "ply\nformat binary_little_endian 1.0\n"
            f"comment {FRAME}\ncomment frame 000000_10\n"
            "element vertex 5\nproperty float x\nproperty float y\nproperty float z\n"
            "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n"
        ).encode()
        assert data[:len(header)] == header
        assert len(data) == len(header) + 5 * (3 * 4 + 3)
        first = np.frombuffer(data, "<f4", count=3, offset=len(header))
        np.testing.assert_array_equal(first, points[0])
        assert tuple(data[len(header) + 12:len(header) + 15]) == tuple(colors[0])

    def test_ascii_body(self, tmp_path: Path) -> None:
        path = tmp_path / "a.ply"
        write_ply(path, np.array([[0.5, -1.25, 3.0]]), np.array([[255, 0, 7]], np.uint8), binary=False)
        text = path.read_text()
        assert "format ascii 1.0\n" in text
        assert text.endswith("end_header\n0.5 -1.25 3 255 0 7\n")

    def test_without_colours(self, tmp_path: Path) -> None:
        points, _ = _cloud(3)
        write_ply(tmp_path / "p.ply", points)
        assert b"red" not in (tmp_path / "p.ply").read_bytes()[:200]
        result, colors, comments = read_ply(tmp_path / "p.ply")
        np.testing.assert_array_equal(result, points)
        assert colors is None and comments == []

    @pytest.mark.parametrize(
        ("points", "colors", "comments"),
        [
            (np.zeros((4, 2)), None, ()),
            (np.array([[0.0, np.nan, 1.0]]), None, ()),
            (np.zeros((2, 3)), np.zeros((3, 3), np.uint8), ()),
            (np.zeros((2, 3)), np.zeros((2, 3), np.float32), ()),
            (np.zeros((2, 3)), None, ["two\nlines"]),
        ],
    )
    def test_rejects_bad_arguments_and_writes_nothing(self, tmp_path: Path, points: np.ndarray,
                                                       colors: np.ndarray | None, comments: list[str]) -> None:
        with pytest.raises(ValueError):
            write_ply(tmp_path / "x.ply", points, colors, comments)
        assert not (tmp_path / "x.ply").exists()


class TestRoundTrip:
    @pytest.mark.parametrize("binary", [True, False])
    def test_cloud_with_colours_and_comments(self, tmp_path: Path, binary: bool) -> None:
        points, colors = _cloud(1000, seed=1)
        write_ply(tmp_path / "r.ply", points, colors, comments=[FRAME], binary=binary)
        result, result_colors, comments = read_ply(tmp_path / "r.ply")
        assert result.dtype == np.float32 and result_colors.dtype == np.uint8
        np.testing.assert_array_equal(result, points)
        np.testing.assert_array_equal(result_colors, colors)
        assert comments == [FRAME]

    @pytest.mark.parametrize("binary", [True, False])
    def test_empty_cloud(self, tmp_path: Path, binary: bool) -> None:
        write_ply(tmp_path / "e.ply", np.zeros((0, 3)), np.zeros((0, 3), np.uint8), binary=binary)
        points, colors, _ = read_ply(tmp_path / "e.ply")
        assert points.shape == (0, 3) and colors.shape == (0, 3)

    @settings(max_examples=50, deadline=None)
    @given(
        points=hnp.arrays(np.float32, st.tuples(st.integers(0, 30), st.just(3)),
                          elements=st.floats(allow_nan=False, allow_infinity=False, width=32)),
        binary=st.booleans(),
        with_colors=st.booleans(),
    )
    def test_round_trip_property(self, tmp_path_factory: pytest.TempPathFactory, points: np.ndarray, binary: bool,
                                 with_colors: bool) -> None:
        colors = np.arange(points.size, dtype=np.uint64).reshape(points.shape).astype(np.uint8) if with_colors else None
        path = tmp_path_factory.mktemp("ply") / "h.ply"
        write_ply(path, points, colors, comments=["h"], binary=binary)
        result, result_colors, comments = read_ply(path)
        # Bits, so that -0.0 and subnormals must survive the ascii text too.
        np.testing.assert_array_equal(result.view(np.uint32), points.view(np.uint32))
        if with_colors:
            np.testing.assert_array_equal(result_colors, colors)
        else:
            assert result_colors is None
        assert comments == ["h"]


class TestOtherWriters:
    def test_big_endian_with_extra_properties_and_faces(self, tmp_path: Path) -> None:
        header = (
            "ply\r\nformat binary_big_endian 1.0\r\nobj_info made elsewhere\r\nelement vertex 2\r\n"
            "property double x\r\nproperty double y\r\nproperty double z\r\nproperty float nx\r\n"
            "property uchar red\r\nproperty uchar green\r\nproperty uchar blue\r\nproperty uchar alpha\r\n"
            "element face 1\r\nproperty list uchar int vertex_indices\r\nend_header\r\n"
        ).encode()
        dtype = np.dtype([("x", ">f8"), ("y", ">f8"), ("z", ">f8"), ("nx", ">f4"),
                          ("red", "u1"), ("green", "u1"), ("blue", "u1"), ("alpha", "u1")])
        vertices = np.array([(1.0, 2.0, 3.0, 0.5, 10, 20, 30, 255), (-1.0, 0.0, 9.5, 0.0, 1, 2, 3, 0)], dtype)
        face = bytes([3]) + np.array([0, 1, 0], ">i4").tobytes()
        (tmp_path / "o.ply").write_bytes(header + vertices.tobytes() + face)
        points, colors, comments = read_ply(tmp_path / "o.ply")
        np.testing.assert_array_equal(points, [[1, 2, 3], [-1, 0, 9.5]])
        np.testing.assert_array_equal(colors, [[10, 20, 30], [1, 2, 3]])
        assert comments == []

    def test_element_before_vertices_is_skipped(self, tmp_path: Path) -> None:
        header = (b"ply\nformat binary_little_endian 1.0\nelement camera 1\nproperty float f\nproperty int id\n"
                  b"element vertex 1\nproperty float x\nproperty float y\nproperty float z\nend_header\n")
        body = np.array([7.0], "<f4").tobytes() + np.array([3], "<i4").tobytes() + np.array([1, 2, 3], "<f4").tobytes()
        (tmp_path / "c.ply").write_bytes(header + body)
        np.testing.assert_array_equal(read_ply(tmp_path / "c.ply")[0], [[1, 2, 3]])


_GOOD_HEADER = ("ply\nformat ascii 1.0\nelement vertex 2\n"
                "property float x\nproperty float y\nproperty float z\nend_header\n")


class TestBadFiles:
    @pytest.mark.parametrize(
        ("content", "reason"),
        [
            (b"PLY\nformat ascii 1.0\n", "not a PLY file"),
            (b"", "not a PLY file"),
            (b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\n", "no 'end_header'"),
            (_GOOD_HEADER.replace("ascii 1.0", "binary_middle_endian 1.0").encode(), "unsupported format"),
            (_GOOD_HEADER.replace("ascii 1.0", "ascii 2.0").encode(), "unsupported format"),
            (_GOOD_HEADER.replace("format ascii 1.0\n", "").encode() + b"1 2 3\n4 5 6\n", "no 'format'"),
            (_GOOD_HEADER.replace("vertex 2", "vertex two").encode(), "header line 3"),
            (_GOOD_HEADER.replace("vertex 2", "point 2").encode(), "no 'element vertex'"),
            (_GOOD_HEADER.replace("property float z\n", "").encode() + b"1 2\n3 4\n", "no property 'z'"),
            (_GOOD_HEADER.replace("float y", "quad y").encode(), "unsupported property"),
            (_GOOD_HEADER.replace("float y", "list uchar int y").encode(), "unsupported property"),
            (b"ply\nformat ascii 1.0\nproperty float x\nend_header\n", "property before any element"),
            (_GOOD_HEADER.replace("end_header", "bogus 1\nend_header").encode(), "unknown keyword"),
            (_GOOD_HEADER.encode() + b"1 2 3\n4 5\n", "truncated PLY"),
            (_GOOD_HEADER.encode() + b"1 2 3\n4 x 6\n", "not a number"),
            (_GOOD_HEADER.replace("ascii", "binary_little_endian").encode() + bytes(23), "need 24 bytes"),
        ],
    )
    def test_rejected_with_reason_and_path(self, tmp_path: Path, content: bytes, reason: str) -> None:
        path = tmp_path / "bad.ply"
        path.write_bytes(content)
        with pytest.raises(InputError, match=reason) as info:
            read_ply(path)
        assert str(path) in str(info.value)

    def test_truncated_binary_written_file(self, tmp_path: Path) -> None:
        points, colors = _cloud(10)
        write_ply(tmp_path / "t.ply", points, colors)
        data = (tmp_path / "t.ply").read_bytes()
        (tmp_path / "t.ply").write_bytes(data[:-1])
        with pytest.raises(InputError, match="truncated"):
            read_ply(tmp_path / "t.ply")

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(InputError, match="no such file") as info:
            read_ply(tmp_path / "none.ply")
        assert info.value.path == tmp_path / "none.ply"
