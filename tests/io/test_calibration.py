"""Tests for the calibration readers: known values of real files, format detection, every error path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from depthviewer.errors import CalibrationError
from depthviewer.io.calibration import (
    calibration_format,
    calibration_from_values,
    middlebury_image_size,
    read_calibration_file,
    read_kitti_cam_to_cam,
    read_kitti_projections,
    read_middlebury_calib,
)

# The real calib.txt of Middlebury 2014 "Motorcycle" (full size), verbatim.
MOTORCYCLE_CALIB = """cam0=[3979.911 0 1244.772; 0 3979.911 1019.507; 0 0 1]
cam1=[3979.911 0 1369.115; 0 3979.911 1019.507; 0 0 1]
doffs=124.343
baseline=193.001
width=2964
height=2000
ndisp=270
isint=0
vmin=23
vmax=245
dyavg=0
dymax=0
"""

# Quarter size, built from the values skimage.data.stereo_motorcycle() documents (f, cx, cy, doffs);
# ndisp/vmin/vmax are left out because they are not documented there.
MOTORCYCLE_Q_CALIB = """cam0=[994.978 0 311.193; 0 994.978 254.877; 0 0 1]
cam1=[994.978 0 342.279; 0 994.978 254.877; 0 0 1]
doffs=31.086
baseline=193.001
width=741
height=500
"""

# A KITTI-2012-style calib/NNNNNN.txt: four rectified projections sharing K, each shifted along x.
KITTI2012_CALIB = """P0: 7.070912e+02 0 6.018873e+02 0 0 7.070912e+02 1.831104e+02 0 0 0 1 0
P1: 7.070912e+02 0 6.018873e+02 -3.798145e+02 0 7.070912e+02 1.831104e+02 0 0 0 1 0
P2: 7.070912e+02 0 6.018873e+02 4.688783e+01 0 7.070912e+02 1.831104e+02 1.178601e-01 0 0 1 6.203223e-03
P3: 7.070912e+02 0 6.018873e+02 -3.334597e+02 0 7.070912e+02 1.831104e+02 1.930130e+00 0 0 1 3.318498e-03
"""


@pytest.fixture(scope="module")
def cam_to_cam(kitti2015_dir: Path) -> Path:
    return kitti2015_dir / "calib_cam_to_cam_2011_09_26.txt"


@pytest.fixture(scope="module")
def odometry_calib(shared_data: Path) -> Path:
    return shared_data / "kitti_odometry_00_seq" / "calib_compiled_seq00.txt"


def _write(tmp_path: Path, text: str, name: str = "calib.txt") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


class TestKittiCamToCam:
    def test_colour_pair_known_values(self, cam_to_cam: Path) -> None:
        calib = read_kitti_cam_to_cam(cam_to_cam)
        assert calib.fx_px == pytest.approx(721.5377) and calib.fy_px == pytest.approx(721.5377)
        assert calib.cx_px == pytest.approx(609.5593) and calib.cy_px == pytest.approx(172.854)
        assert calib.baseline_m == pytest.approx((44.85728 + 339.5242) / 721.5377)
        assert calib.baseline_m == pytest.approx(0.5327, abs=1e-4)
        assert calib.doffs_px == 0.0
        assert calib.source == str(cam_to_cam)

    def test_grayscale_pair(self, cam_to_cam: Path) -> None:
        calib = read_kitti_cam_to_cam(cam_to_cam, left="00", right="01")
        assert calib.baseline_m == pytest.approx(387.5744 / 721.5377)

    def test_swapped_cameras_give_a_clear_error(self, cam_to_cam: Path) -> None:
        with pytest.raises(CalibrationError, match="not positive") as info:
            read_kitti_cam_to_cam(cam_to_cam, left="03", right="02")
        assert str(cam_to_cam) in str(info.value) and "P_rect_03" in str(info.value)


class TestKittiProjections:
    def test_odometry_grayscale_pair(self, odometry_calib: Path) -> None:
        calib = read_kitti_projections(odometry_calib, left="P0", right="P1")
        assert calib.fx_px == pytest.approx(718.856)
        assert calib.cx_px == pytest.approx(607.1928) and calib.cy_px == pytest.approx(185.2157)
        assert calib.baseline_m == pytest.approx(0.5372, abs=1e-4)

    def test_default_is_the_colour_pair(self, tmp_path: Path) -> None:
        calib = read_kitti_projections(_write(tmp_path, KITTI2012_CALIB))
        assert calib.fx_px == pytest.approx(707.0912)
        assert calib.baseline_m == pytest.approx((46.88783 + 333.4597) / 707.0912)

    def test_odometry_file_has_no_colour_pair(self, odometry_calib: Path) -> None:
        with pytest.raises(CalibrationError, match="missing key 'P2'") as info:
            read_kitti_projections(odometry_calib)
        assert str(odometry_calib) in str(info.value)

    def test_principal_point_offset_becomes_doffs(self, tmp_path: Path) -> None:
        text = "P0: 500 0 300 0 0 500 200 0 0 0 1 0\nP1: 500 0 320 -50 0 500 200 0 0 0 1 0\n"
        calib = read_kitti_projections(_write(tmp_path, text), "P0", "P1")
        assert calib.doffs_px == pytest.approx(20.0) and calib.baseline_m == pytest.approx(0.1)


class TestMiddlebury:
    def test_motorcycle_full_size(self, tmp_path: Path) -> None:
        path = _write(tmp_path, MOTORCYCLE_CALIB)
        calib = read_middlebury_calib(path)
        assert calib.fx_px == pytest.approx(3979.911) and calib.fy_px == pytest.approx(3979.911)
        assert calib.cx_px == pytest.approx(1244.772) and calib.cy_px == pytest.approx(1019.507)
        assert calib.baseline_m == pytest.approx(0.193001)
        assert calib.doffs_px == pytest.approx(124.343)
        assert calib.doffs_px == pytest.approx(1369.115 - 1244.772)  # doffs = cx1 - cx0 in this file
        assert middlebury_image_size(path) == (2964, 2000)

    def test_motorcycle_quarter_size(self, tmp_path: Path) -> None:
        calib = read_middlebury_calib(_write(tmp_path, MOTORCYCLE_Q_CALIB))
        assert calib.fx_px == pytest.approx(994.978) and calib.doffs_px == pytest.approx(31.086)
        # Z = baseline * f / (d + doffs): a 40 px disparity of the quarter-size pair is ~2.7 m away.
        assert calib.baseline_m * calib.fx_px / (40 + calib.doffs_px) == pytest.approx(2.7015, abs=1e-3)

    def test_spaces_around_equals_and_missing_size(self, tmp_path: Path) -> None:
        text = "cam0 = [100 0 50; 0 100 40; 0 0 1]\ndoffs = 0\nbaseline = 100\n"
        path = _write(tmp_path, text)
        assert read_middlebury_calib(path).baseline_m == pytest.approx(0.1)
        assert middlebury_image_size(path) is None


class TestFromValues:
    def test_builds_k(self) -> None:
        calib = calibration_from_values(fx_px=700.0, baseline_m=0.54, cx_px=600.0, cy_px=180.0)
        np.testing.assert_array_equal(calib.K, [[700, 0, 600], [0, 700, 180], [0, 0, 1]])
        assert calib.doffs_px == 0.0 and calib.source == "options"

    def test_separate_fy_and_doffs(self) -> None:
        calib = calibration_from_values(700.0, 0.54, 600.0, 180.0, fy_px=710.0, doffs_px=3.0, source="--focal-px")
        assert calib.fy_px == 710.0 and calib.doffs_px == 3.0

    @pytest.mark.parametrize(("fx", "baseline"), [(0.0, 0.5), (-700.0, 0.5), (700.0, 0.0), (700.0, -0.5)])
    def test_rejects_impossible_values(self, fx: float, baseline: float) -> None:
        with pytest.raises(CalibrationError, match="options"):
            calibration_from_values(fx, baseline, 600.0, 180.0)


class TestDetection:
    def test_each_format(self, tmp_path: Path, cam_to_cam: Path, odometry_calib: Path) -> None:
        assert read_calibration_file(cam_to_cam).baseline_m == pytest.approx(0.5327, abs=1e-4)
        assert "P_rect_02" in calibration_format(cam_to_cam)
        assert read_calibration_file(odometry_calib).baseline_m == pytest.approx(0.5372, abs=1e-4)
        assert "P0/P1" in calibration_format(odometry_calib)
        kitti2012 = _write(tmp_path, KITTI2012_CALIB, "k.txt")
        assert read_calibration_file(kitti2012).baseline_m == pytest.approx(0.5379, abs=1e-4)
        assert "P2/P3" in calibration_format(kitti2012)
        middlebury = _write(tmp_path, MOTORCYCLE_CALIB, "m.txt")
        assert read_calibration_file(middlebury).doffs_px == pytest.approx(124.343)

    def test_byte_order_mark_is_ignored(self, tmp_path: Path) -> None:
        path = tmp_path / "bom.txt"
        path.write_bytes(b"\xef\xbb\xbf" + MOTORCYCLE_CALIB.encode())
        assert read_calibration_file(path).fx_px == pytest.approx(3979.911)

    def test_unknown_format_lists_accepted_ones(self, tmp_path: Path) -> None:
        path = _write(tmp_path, "intrinsics: [458.654, 457.296, 367.215, 248.375]\n", "sensor.yaml")
        with pytest.raises(CalibrationError) as info:
            read_calibration_file(path)
        message = str(info.value)
        assert str(path) in message and "P_rect_02" in message and "P2" in message and "cam0=" in message

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(CalibrationError, match="not found") as info:
            read_calibration_file(tmp_path / "none.txt")
        assert info.value.path == tmp_path / "none.txt"


def _cam_to_cam_without(cam_to_cam: Path, tmp_path: Path, replace: tuple[str, str]) -> Path:
    return _write(tmp_path, cam_to_cam.read_text().replace(*replace), "broken.txt")


class TestKittiErrors:
    @pytest.mark.parametrize(
        ("replace", "key", "reason"),
        [
            (("P_rect_03:", "P_rect_3:"), "P_rect_03", "missing key"),
            (("P_rect_02: 7.215377e+02", "P_rect_02: seven"), "P_rect_02", "not a number"),
            (("P_rect_02: 7.215377e+02", "P_rect_02: nan"), "P_rect_02", "not finite"),
            (("P_rect_03: 7.215377e+02 0.000000e+00 ", "P_rect_03: 7.215377e+02 "), "P_rect_03", "found 11"),
            (("P_rect_02: 7.215377e+02", "P_rect_02: 0"), "P_rect_02", "focal length must be positive"),
            (("P_rect_03: 7.215377e+02", "P_rect_03: 7.000000e+02"), "P_rect_03", "not a rectified stereo pair"),
        ],
    )
    def test_names_file_and_key(self, cam_to_cam: Path, tmp_path: Path, replace: tuple[str, str], key: str,
                                reason: str) -> None:
        path = _cam_to_cam_without(cam_to_cam, tmp_path, replace)
        with pytest.raises(CalibrationError, match=reason) as info:
            read_kitti_cam_to_cam(path)
        assert str(path) in str(info.value) and key in str(info.value)

    def test_zero_baseline(self, tmp_path: Path) -> None:
        text = "P2: 500 0 300 10 0 500 200 0 0 0 1 0\nP3: 500 0 300 10 0 500 200 0 0 0 1 0\n"
        with pytest.raises(CalibrationError, match="baseline .* not positive"):
            read_kitti_projections(_write(tmp_path, text))


class TestMiddleburyErrors:
    @pytest.mark.parametrize(
        ("replace", "key", "reason"),
        [
            (("baseline=193.001\n", ""), "baseline", "missing key"),
            (("doffs=124.343\n", ""), "doffs", "missing key"),
            (("cam0=", "camera0="), "cam0", "missing key"),
            (("baseline=193.001", "baseline=-193.001"), "baseline", "must be positive"),
            (("baseline=193.001", "baseline=0"), "baseline", "must be positive"),
            (("baseline=193.001", "baseline=193 mm"), "baseline", "must have 1 number"),
            (("doffs=124.343", "doffs=x"), "doffs", "not a number"),
            (("cam0=[3979.911 0 1244.772; 0 3979.911 1019.507; 0 0 1]", "cam0=[0 0 1244.772; 0 0 1019.507; 0 0 1]"),
             "cam0", "focal length must be positive"),
            (("; 0 0 1]\ncam1", "]\ncam1"), "cam0", "3 rows"),
            (("cam0=[3979.911", "cam0=3979.911"), "cam0", "must be a matrix"),
            (("cam0=[3979.911 0 1244.772;", "cam0=[3979.911 0;"), "cam0", "found 2"),
        ],
    )
    def test_names_file_and_key(self, tmp_path: Path, replace: tuple[str, str], key: str, reason: str) -> None:
        assert replace[0] in MOTORCYCLE_CALIB
        path = _write(tmp_path, MOTORCYCLE_CALIB.replace(*replace))
        with pytest.raises(CalibrationError, match=reason) as info:
            read_middlebury_calib(path)
        assert str(path) in str(info.value) and key in str(info.value)

    def test_bad_image_size(self, tmp_path: Path) -> None:
        path = _write(tmp_path, MOTORCYCLE_CALIB.replace("width=2964", "width=29.5"))
        with pytest.raises(CalibrationError, match="'width' must be a positive integer"):
            middlebury_image_size(path)
