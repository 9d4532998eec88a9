"""Tests for read_rgb: every stored image becomes (H, W, 3) uint8 RGB, and bad files raise InputError."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from depthviewer.errors import InputError
from depthviewer.io.images import read_image_unchanged, read_rgb


def _write(path: Path, image: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), image)
    return path


class TestReadRgbRealData:
    def test_kitti_colour_image(self, kitti2015_dir: Path) -> None:
        path = kitti2015_dir / "image_2" / "000000_10.png"
        rgb = read_rgb(path)
        assert rgb.shape == (375, 1242, 3) and rgb.dtype == np.uint8
        expected = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        np.testing.assert_array_equal(rgb, expected)

    def test_grayscale_image_is_replicated(self, shared_data: Path) -> None:
        rgb = read_rgb(shared_data / "kitti_odometry_00_seq" / "image_0" / "000000.png")
        assert rgb.shape == (376, 1241, 3)
        np.testing.assert_array_equal(rgb[:, :, 0], rgb[:, :, 1])
        np.testing.assert_array_equal(rgb[:, :, 0], rgb[:, :, 2])

    def test_non_ascii_path(self, tmp_path: Path, middlebury_dir: Path) -> None:
        target = tmp_path / "Bilder_äöü_日本" / "linkes Bild é.png"
        target.parent.mkdir()
        shutil.copy(middlebury_dir / "im0.png", target)
        assert read_rgb(target).shape == (497, 741, 3)


class TestReadRgbConversions:
    def test_channel_order_is_rgb(self, tmp_path: Path) -> None:
        bgr = np.zeros((4, 5, 3), np.uint8)
        bgr[..., 2] = 200  # red in OpenCV's BGR order
        bgr[0, 0] = (10, 20, 30)
        rgb = read_rgb(_write(tmp_path / "red.png", bgr))
        assert tuple(rgb[1, 1]) == (200, 0, 0)
        assert tuple(rgb[0, 0]) == (30, 20, 10)
        assert rgb.flags.c_contiguous

    def test_alpha_is_dropped(self, tmp_path: Path) -> None:
        bgra = np.zeros((3, 3, 4), np.uint8)
        bgra[...] = (1, 2, 3, 0)  # fully transparent must not change the colour
        rgb = read_rgb(_write(tmp_path / "a.png", bgra))
        assert rgb.shape == (3, 3, 3)
        assert tuple(rgb[2, 2]) == (3, 2, 1)

    def test_sixteen_bit_colour_is_shifted_to_eight(self, tmp_path: Path) -> None:
        bgr16 = np.zeros((2, 2, 3), np.uint16)
        bgr16[...] = (0x0100, 0x80FF, 0xFFFF)
        rgb = read_rgb(_write(tmp_path / "c16.png", bgr16))
        assert rgb.dtype == np.uint8
        assert tuple(rgb[0, 0]) == (0xFF, 0x80, 0x01)

    def test_sixteen_bit_gray(self, tmp_path: Path) -> None:
        gray16 = np.array([[0, 255, 256, 65535]], np.uint16)
        rgb = read_rgb(_write(tmp_path / "g16.png", gray16))
        np.testing.assert_array_equal(rgb[0, :, 1], [0, 0, 1, 255])

    def test_float_image_is_rejected(self, tmp_path: Path) -> None:
        path = _write(tmp_path / "f.tiff", np.full((4, 4), 0.5, np.float32))
        assert read_image_unchanged(path).dtype == np.float32
        with pytest.raises(InputError, match="floating-point") as info:
            read_rgb(path)
        assert info.value.path == path


class TestReadRgbBadFiles:
    @pytest.mark.parametrize("content", [b"", b"this is text, not an image\n", b"\x89PNG\r\n\x1a\n\x00\x00"])
    def test_not_an_image(self, tmp_path: Path, content: bytes) -> None:
        path = tmp_path / "bad.png"
        path.write_bytes(content)
        with pytest.raises(InputError, match="not a readable image") as info:
            read_rgb(path)
        assert str(path) in str(info.value)

    def test_truncated_png(self, tmp_path: Path, kitti2015_dir: Path) -> None:
        path = tmp_path / "cut.png"
        path.write_bytes((kitti2015_dir / "image_2" / "000000_10.png").read_bytes()[:2000])
        with pytest.raises(InputError, match="not a readable image"):
            read_rgb(path)

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(InputError, match="not a readable image .no such file") as info:
            read_rgb(tmp_path / "missing.png")
        assert info.value.path == tmp_path / "missing.png"

    def test_folder(self, tmp_path: Path) -> None:
        with pytest.raises(InputError, match="not a readable image .it is a folder"):
            read_rgb(tmp_path)
