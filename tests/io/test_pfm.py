"""Tests for PFM reading and writing: real Middlebury GT, byte order, row order, round trips, bad headers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from depthviewer.errors import InputError
from depthviewer.io.pfm import read_pfm, write_pfm


def _raw_pfm(path: Path, header: bytes, rows_bottom_up: np.ndarray, dtype: str) -> Path:
    path.write_bytes(header + np.ascontiguousarray(rows_bottom_up, dtype=dtype).tobytes())
    return path


class TestReadRealMiddlebury:
    def test_motorcycle_gt(self, middlebury_dir: Path) -> None:
        gt = read_pfm(middlebury_dir / "disp0GT.pfm")
        assert gt.shape == (497, 741) and gt.dtype == np.float32
        finite = np.isfinite(gt)
        assert 0.97 < finite.mean() < 0.99
        assert 9.0 < gt[finite].min() < 10.0 and 62.0 < gt[finite].max() < 64.0
        # Unknown pixels are inf in the file and stay inf: the caller decides what they mean.
        assert np.isposinf(gt[~finite]).all()

    def test_rows_are_top_to_bottom(self, middlebury_dir: Path) -> None:
        # Motorcycle: the ground (near, large disparity) is at the bottom of the image.
        gt = read_pfm(middlebury_dir / "disp0GT.pfm")
        assert np.nanmedian(np.where(np.isfinite(gt[-50:]), gt[-50:], np.nan)) > np.nanmedian(
            np.where(np.isfinite(gt[:50]), gt[:50], np.nan))


class TestByteAndRowOrder:
    def test_little_endian_negative_scale_and_row_flip(self, tmp_path: Path) -> None:
        stored = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])  # first stored row = bottom row
        path = _raw_pfm(tmp_path / "le.pfm", b"Pf\n3 2\n-1.0\n", stored, "<f4")
        np.testing.assert_array_equal(read_pfm(path), [[4, 5, 6], [1, 2, 3]])

    def test_big_endian_positive_scale(self, tmp_path: Path) -> None:
        stored = np.array([[1.5, -2.25], [np.inf, 1e-3]])
        path = _raw_pfm(tmp_path / "be.pfm", b"Pf\n2 2\n1.0\n", stored, ">f4")
        result = read_pfm(path)
        assert result.dtype == np.float32 and result.dtype.byteorder in ("=", "<", "|")
        np.testing.assert_array_equal(result, np.float32(stored[::-1]))

    def test_colour_pf(self, tmp_path: Path) -> None:
        stored = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
        path = _raw_pfm(tmp_path / "c.pfm", b"PF\n3 2\n-1\n", stored, "<f4")
        result = read_pfm(path)
        assert result.shape == (2, 3, 3)
        np.testing.assert_array_equal(result, stored[::-1])

    def test_header_with_other_whitespace(self, tmp_path: Path) -> None:
        path = _raw_pfm(tmp_path / "ws.pfm", b"Pf\n2   1\n-0.003922\n", np.array([[7.0, 8.0]]), "<f4")
        np.testing.assert_array_equal(read_pfm(path), [[7, 8]])
        path = _raw_pfm(tmp_path / "crlf.pfm", b"Pf\r\n2 1\r\n-1.0\r\n", np.array([[7.0, 8.0]]), "<f4")
        np.testing.assert_array_equal(read_pfm(path), [[7, 8]])


class TestWrite:
    def test_header_and_layout(self, tmp_path: Path) -> None:
        path = tmp_path / "w.pfm"
        write_pfm(path, np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float64))
        data = path.read_bytes()
        assert data.startswith(b"Pf\n3 2\n-1.0\n")
        body = np.frombuffer(data[len(b"Pf\n3 2\n-1.0\n"):], "<f4")
        np.testing.assert_array_equal(body, [4, 5, 6, 1, 2, 3])

    def test_round_trip_keeps_inf_and_nan(self, tmp_path: Path) -> None:
        values = np.array([[np.inf, -np.inf, np.nan], [0.0, -1.5, 3e38]], np.float32)
        write_pfm(tmp_path / "r.pfm", values)
        np.testing.assert_array_equal(read_pfm(tmp_path / "r.pfm"), values)

    def test_real_gt_round_trip_is_bit_exact(self, tmp_path: Path, middlebury_dir: Path) -> None:
        gt = read_pfm(middlebury_dir / "disp0GT.pfm")
        write_pfm(tmp_path / "copy.pfm", gt)
        np.testing.assert_array_equal(read_pfm(tmp_path / "copy.pfm"), gt)

    @pytest.mark.parametrize("shape", [(3,), (2, 2, 2), (2, 2, 4), (0, 3)])
    def test_rejects_other_shapes(self, tmp_path: Path, shape: tuple[int, ...]) -> None:
        with pytest.raises(ValueError):
            write_pfm(tmp_path / "x.pfm", np.zeros(shape, np.float32))
        assert not (tmp_path / "x.pfm").exists()

    @settings(max_examples=50, deadline=None)
    @given(hnp.arrays(np.float32, st.one_of(hnp.array_shapes(min_dims=2, max_dims=2, max_side=9),
                                            st.tuples(st.integers(1, 6), st.integers(1, 6), st.just(3)))))
    def test_round_trip_property(self, tmp_path_factory: pytest.TempPathFactory, values: np.ndarray) -> None:
        path = tmp_path_factory.mktemp("pfm") / "p.pfm"
        write_pfm(path, values)
        result = read_pfm(path)
        assert result.dtype == np.float32 and result.shape == values.shape
        # Compare bits so that NaN payloads and -0.0 count too.
        np.testing.assert_array_equal(result.view(np.uint32), values.view(np.uint32))


class TestBadFiles:
    @pytest.mark.parametrize(
        ("content", "reason"),
        [
            (b"P6\n2 1\n255\n" + bytes(6), "not a PFM file"),
            (b"", "not a PFM file"),
            (b"Pf\n2 x\n-1.0\n" + bytes(8), "not two integers"),
            (b"Pf\n0 1\n-1.0\n", "must be positive"),
            (b"Pf\n2 1\nabc\n" + bytes(8), "not a number"),
            (b"Pf\n2 1\n0\n" + bytes(8), "non-zero"),
            (b"Pf\n2 2\n-1.0\n" + bytes(8), "needs 16 bytes, the file has 8"),
            (b"Pf\n2 1\n-1.0\n" + bytes(12), "needs 8 bytes, the file has 12"),
            (b"PF\n2 1\n-1.0\n" + bytes(8), "needs 24 bytes"),
        ],
    )
    def test_rejected_with_reason_and_path(self, tmp_path: Path, content: bytes, reason: str) -> None:
        path = tmp_path / "bad.pfm"
        path.write_bytes(content)
        with pytest.raises(InputError, match=reason) as info:
            read_pfm(path)
        assert str(path) in str(info.value)

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(InputError, match="no such file") as info:
            read_pfm(tmp_path / "none.pfm")
        assert info.value.path == tmp_path / "none.pfm"

    def test_folder(self, tmp_path: Path) -> None:
        with pytest.raises(InputError, match="not a file"):
            read_pfm(tmp_path)
