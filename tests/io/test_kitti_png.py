"""Tests for KITTI 16-bit PNG disparity and depth: real GT, the encoding, round trips, rejected files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from depthviewer.errors import InputError
from depthviewer.io.kitti_png import read_kitti_depth, read_kitti_disparity, write_kitti_depth, write_kitti_disparity


class TestReadRealGt:
    def test_kitti2015_gt(self, kitti2015_dir: Path) -> None:
        path = kitti2015_dir / "disp_occ_0" / "000000_10.png"
        disparity = read_kitti_disparity(path)
        assert disparity.shape == (375, 1242) and disparity.dtype == np.float32
        valid = np.isfinite(disparity)
        assert 0.17 < valid.mean() < 0.21
        assert 4.5 < disparity[valid].min() < 4.7 and 63.5 < disparity[valid].max() < 64.5

    def test_values_are_codes_over_256_and_nan_where_zero(self, kitti2015_dir: Path) -> None:
        path = kitti2015_dir / "disp_occ_0" / "000000_10.png"
        codes = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        disparity = read_kitti_disparity(path)
        np.testing.assert_array_equal(np.isnan(disparity), codes == 0)
        np.testing.assert_array_equal(disparity[codes > 0], codes[codes > 0] / np.float32(256))


class TestWrite:
    def test_round_trip_of_representable_values(self, tmp_path: Path) -> None:
        values = np.array([[1 / 256, 4.5, 64.08594], [100.25, np.nan, 255.99609375]], np.float32)
        values[0, 2] = np.round(values[0, 2] * 256) / 256
        write_kitti_disparity(tmp_path / "d.png", values)
        np.testing.assert_array_equal(read_kitti_disparity(tmp_path / "d.png"), values)

    def test_written_file_is_uint16_png(self, tmp_path: Path) -> None:
        write_kitti_disparity(tmp_path / "d.png", np.full((3, 4), 2.0))
        raw = cv2.imread(str(tmp_path / "d.png"), cv2.IMREAD_UNCHANGED)
        assert raw.dtype == np.uint16 and raw.shape == (3, 4)
        assert (raw == 512).all()

    def test_invalid_values_become_zero_and_large_ones_clip(self, tmp_path: Path) -> None:
        values = np.array([[np.nan, 0.0, -3.0, np.inf, 1e-6, 300.0, 10.001]])
        write_kitti_disparity(tmp_path / "d.png", values)
        raw = cv2.imread(str(tmp_path / "d.png"), cv2.IMREAD_UNCHANGED)
        # A tiny positive disparity stays "has a value" (code 1) instead of turning into "no value" (0).
        np.testing.assert_array_equal(raw[0], [0, 0, 0, 0, 1, 65535, 2560])
        result = read_kitti_disparity(tmp_path / "d.png")
        assert np.isnan(result[0, :4]).all()
        assert abs(result[0, 6] - 10.001) <= 1 / 512

    def test_depth_round_trip(self, tmp_path: Path) -> None:
        depth = np.array([[5.5, 80.0], [np.nan, 0.25]], np.float32)
        write_kitti_depth(tmp_path / "depth.png", depth)
        np.testing.assert_array_equal(read_kitti_depth(tmp_path / "depth.png"), depth)

    def test_rejects_non_2d(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError):
            write_kitti_disparity(tmp_path / "x.png", np.ones((2, 2, 3)))
        assert not (tmp_path / "x.png").exists()

    def test_missing_folder_is_input_error(self, tmp_path: Path) -> None:
        with pytest.raises(InputError) as info:
            write_kitti_depth(tmp_path / "no" / "d.png", np.ones((2, 2)))
        assert "d.png" in str(info.value)


class TestRejectedFiles:
    def test_eight_bit_png(self, kitti2015_dir: Path) -> None:
        path = kitti2015_dir / "image_2" / "000000_10.png"
        with pytest.raises(InputError, match="not a 16-bit KITTI disparity PNG") as info:
            read_kitti_disparity(path)
        assert str(path) in str(info.value)

    def test_sixteen_bit_colour_png(self, tmp_path: Path) -> None:
        path = tmp_path / "rgb16.png"
        cv2.imwrite(str(path), np.ones((2, 2, 3), np.uint16))
        with pytest.raises(InputError, match="not a 16-bit KITTI depth PNG .found 16-bit, 3-channel"):
            read_kitti_depth(path)

    def test_not_an_image(self, tmp_path: Path) -> None:
        path = tmp_path / "t.png"
        path.write_text("no")
        with pytest.raises(InputError, match="not a readable image") as info:
            read_kitti_disparity(path)
        assert info.value.path == path
