"""Tests for stereo folder detection and frame loading on the real samples and on layouts built in tmp_path."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from depthviewer.errors import CalibrationError, InputError
from depthviewer.io.calibration import calibration_from_values
from depthviewer.io.pfm import write_pfm
from depthviewer.io.stereo_folder import natural_sort_key, open_stereo_folder
from depthviewer.types import StereoFrame

KITTI2012_CALIB = """P0: 7.070912e+02 0 6.018873e+02 0 0 7.070912e+02 1.831104e+02 0 0 0 1 0
P1: 7.070912e+02 0 6.018873e+02 -3.798145e+02 0 7.070912e+02 1.831104e+02 0 0 0 1 0
P2: 7.070912e+02 0 6.018873e+02 4.688783e+01 0 7.070912e+02 1.831104e+02 1.178601e-01 0 0 1 6.203223e-03
P3: 7.070912e+02 0 6.018873e+02 -3.334597e+02 0 7.070912e+02 1.831104e+02 1.930130e+00 0 0 1 3.318498e-03
"""


def _copy(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dst)
    return dst


def _png(path: Path, height: int = 4, width: int = 6, value: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((height, width, 3), value, np.uint8))
    return path


def _plain(root: Path, names: list[str], calib: str | None = None) -> Path:
    for name in names:
        _png(root / "left" / name)
        _png(root / "right" / name)
    if calib is not None:
        (root / "calib.txt").write_text(calib)
    return root


def _midd_calib(width: int, height: int) -> str:
    return (f"cam0=[994.978 0 311.193; 0 994.978 254.877; 0 0 1]\ncam1=[994.978 0 342.279; 0 994.978 254.877; 0 0 1]\n"
            f"doffs=31.086\nbaseline=193.001\nwidth={width}\nheight={height}\n")


class TestKitti2015RealSample:
    def test_opens_and_describes(self, kitti2015_dir: Path) -> None:
        folder = open_stereo_folder(kitti2015_dir)
        assert folder.layout == "kitti2015" and folder.root == kitti2015_dir
        assert folder.names == ["000000_10.png"] and len(folder) == 1 and folder.has_gt
        assert "calib_cam_to_cam_2011_09_26.txt" in folder.calibration_note
        info = folder.describe()
        assert info["frames"] == 1 and info["image_size"] == {"width": 1242, "height": 375}
        assert info["calibration"]["fx_px"] == pytest.approx(721.5377)
        assert info["calibration"]["baseline_m"] == pytest.approx(0.5327, abs=1e-4)
        assert info["calibration"]["source"].endswith("calib_cam_to_cam_2011_09_26.txt")

    def test_load(self, kitti2015_dir: Path) -> None:
        frame = open_stereo_folder(kitti2015_dir).load(0)
        assert isinstance(frame, StereoFrame)
        assert frame.name == "000000_10.png" and frame.index == 0 and frame.dataset == "kitti2015"
        assert frame.left_rgb.shape == frame.right_rgb.shape == (375, 1242, 3)
        assert frame.left_path == kitti2015_dir / "image_2" / "000000_10.png"
        assert frame.right_path == kitti2015_dir / "image_3" / "000000_10.png"
        gt = frame.gt_disparity_px
        assert gt is not None and gt.dtype == np.float32 and gt.shape == (375, 1242)
        valid = np.isfinite(gt)
        assert 0.17 < valid.mean() < 0.21 and 4.5 < gt[valid].min() and gt[valid].max() < 64.5
        assert frame.calibration is not None and frame.calibration.cx_px == pytest.approx(609.5593)

    def test_calibration_argument_overrides_the_file(self, kitti2015_dir: Path) -> None:
        given = calibration_from_values(700.0, 0.5, 600.0, 180.0, source="--focal-px/--baseline-m")
        folder = open_stereo_folder(kitti2015_dir, calibration=given)
        assert folder.calibration_for(0) is given
        assert "--focal-px" in folder.calibration_note


class TestMiddleburyRealSample:
    def test_scene_without_calib(self, middlebury_dir: Path) -> None:
        folder = open_stereo_folder(middlebury_dir)
        assert folder.layout == "middlebury2014" and folder.names == [middlebury_dir.name]
        assert folder.calibration_for(0) is None
        assert "missing" in folder.calibration_note
        assert "--calib FILE" in folder.calibration_note and "--focal-px" in folder.calibration_note
        assert folder.describe()["calibration"] is None

    def test_load_gt_inf_becomes_nan(self, middlebury_dir: Path) -> None:
        folder = open_stereo_folder(middlebury_dir)
        frame = folder.load(0)
        assert frame.left_rgb.shape == (497, 741, 3) and frame.calibration is None
        gt = frame.gt_disparity_px
        assert gt is not None and not np.isinf(gt).any()
        valid = np.isfinite(gt)
        assert 0.97 < valid.mean() < 0.99 and 9.0 < gt[valid].min() and gt[valid].max() < 64.0

    def test_nonoccluded_mask(self, middlebury_dir: Path) -> None:
        folder = open_stereo_folder(middlebury_dir)
        mask = folder.nonoccluded_mask(0)
        assert mask is not None and mask.dtype == bool and mask.shape == (497, 741)
        assert 0.8 < mask.mean() < 0.95
        gt = folder.load(0).gt_disparity_px
        assert np.isfinite(gt[mask]).all()  # every non-occluded pixel has ground truth


class TestKittiSynthetic:
    def test_kitti2015_per_frame_calib_and_gt_only_for_10(self, tmp_path: Path, kitti2015_dir: Path) -> None:
        for suffix in ("10", "11"):
            for cam in ("image_2", "image_3"):
                _copy(kitti2015_dir / cam / "000000_10.png", tmp_path / cam / f"000000_{suffix}.png")
        _copy(kitti2015_dir / "disp_occ_0" / "000000_10.png", tmp_path / "disp_occ_0" / "000000_10.png")
        _copy(kitti2015_dir / "disp_occ_0" / "000000_10.png", tmp_path / "disp_noc_0" / "000000_10.png")
        _copy(kitti2015_dir / "calib_cam_to_cam_2011_09_26.txt", tmp_path / "calib_cam_to_cam" / "000000.txt")
        _png(tmp_path / "image_2" / "._000000_10.png")  # macOS resource fork: not an image, not a frame
        folder = open_stereo_folder(tmp_path)
        assert folder.names == ["000000_10.png", "000000_11.png"] and folder.has_gt
        assert "per frame" in folder.calibration_note
        assert folder.calibration_for(1).fx_px == pytest.approx(721.5377)
        assert folder.load(1).gt_disparity_px is None and folder.gt_path(1) is None
        assert folder.load(0).gt_disparity_px is not None
        assert folder.nonoccluded_mask(0).mean() == pytest.approx(0.191, abs=0.02)
        assert folder.nonoccluded_mask(1) is None

    def test_kitti2015_noc_gt_alone_is_the_gt(self, tmp_path: Path, kitti2015_dir: Path) -> None:
        for cam in ("image_2", "image_3"):
            _copy(kitti2015_dir / cam / "000000_10.png", tmp_path / cam / "000000_10.png")
        _copy(kitti2015_dir / "disp_occ_0" / "000000_10.png", tmp_path / "disp_noc_0" / "000000_10.png")
        folder = open_stereo_folder(tmp_path)
        assert folder.gt_path(0) == tmp_path / "disp_noc_0" / "000000_10.png"
        assert folder.nonoccluded_mask(0) is None
        assert folder.calibration_for(0) is None and "calib_cam_to_cam" in folder.calibration_note

    def test_kitti2012_layout(self, tmp_path: Path, kitti2015_dir: Path) -> None:
        root = tmp_path / "training"
        _copy(kitti2015_dir / "image_2" / "000000_10.png", root / "colored_0" / "000000_10.png")
        _copy(kitti2015_dir / "image_3" / "000000_10.png", root / "colored_1" / "000000_10.png")
        _copy(kitti2015_dir / "disp_occ_0" / "000000_10.png", root / "disp_occ" / "000000_10.png")
        (root / "calib").mkdir()
        (root / "calib" / "000000.txt").write_text(KITTI2012_CALIB)
        folder = open_stereo_folder(root)
        assert folder.layout == "kitti2012" and folder.names == ["000000_10.png"] and folder.has_gt
        calib = folder.calibration_for(0)
        # The colour cameras (P2/P3), not the grayscale pair (P0/P1, 0.5371 m).
        assert calib.baseline_m == pytest.approx((46.88783 + 333.4597) / 707.0912)
        frame = folder.load(0)
        assert frame.dataset == "kitti2012" and frame.gt_disparity_px.shape == (375, 1242)

    def test_kitti2012_single_calib_beside_and_training_hint(self, tmp_path: Path) -> None:
        root = tmp_path / "training"
        _png(root / "colored_0" / "000000_10.png")
        _png(root / "colored_1" / "000000_10.png")
        (root / "calib_all.txt").write_text(KITTI2012_CALIB)
        folder = open_stereo_folder(root)
        assert "calib_all.txt" in folder.calibration_note and not folder.has_gt
        assert folder.calibration_for(0).fx_px == pytest.approx(707.0912)
        with pytest.raises(InputError, match="Did you mean") as info:
            open_stereo_folder(tmp_path)
        assert str(root) in str(info.value)

    def test_per_frame_calib_is_chosen_by_scene_number(self, tmp_path: Path) -> None:
        for name in ("000003.png", "000007_11.png"):
            _png(tmp_path / "colored_0" / name)
            _png(tmp_path / "colored_1" / name)
        (tmp_path / "calib").mkdir()
        (tmp_path / "calib" / "000003.txt").write_text(KITTI2012_CALIB)
        (tmp_path / "calib" / "000007.txt").write_text(KITTI2012_CALIB.replace("7.070912e+02", "7.000000e+02"))
        folder = open_stereo_folder(tmp_path)
        assert [folder.calibration_for(i).fx_px for i in range(2)] == [pytest.approx(707.0912), pytest.approx(700.0)]

    def test_several_calib_files_are_not_guessed(self, tmp_path: Path, kitti2015_dir: Path) -> None:
        _png(tmp_path / "image_2" / "000000_10.png")
        _png(tmp_path / "image_3" / "000000_10.png")
        for day in ("2011_09_26", "2011_09_28"):
            _copy(kitti2015_dir / "calib_cam_to_cam_2011_09_26.txt", tmp_path / f"calib_cam_to_cam_{day}.txt")
        folder = open_stereo_folder(tmp_path)
        assert folder.calibration_for(0) is None
        assert "several" in folder.calibration_note and "--calib" in folder.calibration_note


class TestMiddleburySynthetic:
    def _scene(self, root: Path, middlebury_dir: Path, gt_name: str = "disp0GT.pfm") -> Path:
        for name in ("im0.png", "im1.png"):
            _copy(middlebury_dir / name, root / name)
        _copy(middlebury_dir / "disp0GT.pfm", root / gt_name)
        return root

    def test_collection_of_scenes_sorted_naturally(self, tmp_path: Path, middlebury_dir: Path) -> None:
        collection = tmp_path / "trainingQ"
        self._scene(collection / "Scene10", middlebury_dir)
        self._scene(collection / "Scene2", middlebury_dir, gt_name="disp0.pfm")  # the 2014 full download's name
        (collection / "Scene2" / "calib.txt").write_text(_midd_calib(741, 497))
        folder = open_stereo_folder(collection)
        assert folder.layout == "middlebury2014" and folder.names == ["Scene2", "Scene10"]
        assert "missing for 1 of 2" in folder.calibration_note
        first = folder.load(0)
        assert first.calibration.doffs_px == pytest.approx(31.086) and np.isfinite(first.gt_disparity_px).any()
        assert folder.load(1).calibration is None

    def test_calib_for_another_image_size_is_refused(self, tmp_path: Path, middlebury_dir: Path) -> None:
        scene = self._scene(tmp_path / "Motorcycle", middlebury_dir)
        (scene / "calib.txt").write_text(_midd_calib(741, 500))
        with pytest.raises(CalibrationError, match="741x500") as info:
            open_stereo_folder(scene).load(0)
        assert str(scene / "calib.txt") in str(info.value)

    def test_gt_of_another_size(self, tmp_path: Path, middlebury_dir: Path) -> None:
        scene = self._scene(tmp_path / "S", middlebury_dir)
        write_pfm(scene / "disp0GT.pfm", np.ones((10, 10), np.float32))
        with pytest.raises(InputError, match="10x10") as info:
            open_stereo_folder(scene).load(0)
        assert str(scene / "disp0GT.pfm") in str(info.value)

    def test_folder_with_other_things_is_not_a_collection(self, tmp_path: Path, middlebury_dir: Path) -> None:
        self._scene(tmp_path / "Motorcycle", middlebury_dir)
        (tmp_path / "results").mkdir()
        with pytest.raises(InputError, match="Motorcycle are Middlebury scenes but results are not"):
            open_stereo_folder(tmp_path)


class TestPlain:
    def test_natural_sort_and_calib(self, tmp_path: Path) -> None:
        root = _plain(tmp_path, ["frame_10.png", "frame_2.png", "frame_1.png"], calib=KITTI2012_CALIB)
        folder = open_stereo_folder(root)
        assert folder.layout == "plain" and folder.names == ["frame_1.png", "frame_2.png", "frame_10.png"]
        assert "P2/P3" in folder.calibration_note
        assert folder.calibration_for(2).fx_px == pytest.approx(707.0912)
        frame = folder.load(2)
        assert frame.name == "frame_10.png" and frame.left_path == root / "left" / "frame_10.png"
        assert frame.left_rgb.shape == (4, 6, 3) and frame.gt_disparity_px is None

    def test_names_are_file_names_so_equal_stems_stay_apart(self, tmp_path: Path) -> None:
        folder = open_stereo_folder(_plain(tmp_path, ["a.png", "a.bmp"]))
        assert folder.names == ["a.bmp", "a.png"]

    def test_no_calib(self, tmp_path: Path) -> None:
        folder = open_stereo_folder(_plain(tmp_path, ["a.png"]))
        assert folder.calibration_for(0) is None and "--baseline-m" in folder.calibration_note

    def test_broken_calib_is_reported_not_invented(self, tmp_path: Path) -> None:
        folder = open_stereo_folder(_plain(tmp_path, ["a.png"], calib="baseline=1\n"))
        assert "cannot be used" in folder.calibration_note
        with pytest.raises(CalibrationError) as info:
            folder.calibration_for(0)
        assert str(tmp_path / "calib.txt") in str(info.value)
        assert "calib.txt" in folder.describe()["calibration_error"]

    def test_images_are_read_only_by_load(self, tmp_path: Path) -> None:
        (tmp_path / "left").mkdir()
        (tmp_path / "right").mkdir()
        (tmp_path / "left" / "x.png").write_text("not an image")
        (tmp_path / "right" / "x.png").write_text("not an image")
        folder = open_stereo_folder(tmp_path)
        assert folder.names == ["x.png"]
        with pytest.raises(InputError, match="not a readable image") as info:
            folder.load(0)
        assert str(tmp_path / "left" / "x.png") in str(info.value)

    def test_sizes_differ(self, tmp_path: Path) -> None:
        _png(tmp_path / "left" / "a.png", 4, 6)
        _png(tmp_path / "right" / "a.png", 4, 8)
        with pytest.raises(InputError, match="6x4 .*8x4") as info:
            open_stereo_folder(tmp_path).load(0)
        assert str(tmp_path / "left" / "a.png") in str(info.value)
        assert str(tmp_path / "right" / "a.png") in str(info.value)

    def test_index_out_of_range(self, tmp_path: Path) -> None:
        folder = open_stereo_folder(_plain(tmp_path, ["a.png"]))
        with pytest.raises(IndexError):
            folder.load(1)


class TestLayoutErrors:
    def test_unknown_layout_lists_expectations(self, tmp_path: Path) -> None:
        _png(tmp_path / "image_2" / "a.png")
        with pytest.raises(InputError) as info:
            open_stereo_folder(tmp_path)
        message = str(info.value)
        assert str(tmp_path) in message and "not a known stereo folder layout" in message
        for expected in ("image_3/", "colored_1/", "im1.png", "right/", "Found: image_2/"):
            assert expected in message

    def test_missing_folder_and_file(self, tmp_path: Path) -> None:
        with pytest.raises(InputError, match="no such folder"):
            open_stereo_folder(tmp_path / "none")
        (tmp_path / "f.txt").write_text("x")
        with pytest.raises(InputError, match="not a folder"):
            open_stereo_folder(tmp_path / "f.txt")

    def test_empty_image_folders(self, tmp_path: Path) -> None:
        (tmp_path / "left").mkdir()
        (tmp_path / "right").mkdir()
        (tmp_path / "left" / "notes.txt").write_text("x")
        with pytest.raises(InputError, match="no images in left/ and right/") as info:
            open_stereo_folder(tmp_path)
        assert info.value.path == tmp_path

    def test_unmatched_names_are_named(self, tmp_path: Path) -> None:
        _plain(tmp_path, ["a.png", "b.png"])
        for i in range(7):
            _png(tmp_path / "left" / f"only_{i}.png")
        _png(tmp_path / "right" / "other.png")
        with pytest.raises(InputError) as info:
            open_stereo_folder(tmp_path)
        message = str(info.value)
        assert "only in left/: only_0.png, only_1.png" in message and "(+2 more)" in message
        assert "only in right/: other.png" in message and str(tmp_path) in message

    def test_disjoint_names(self, tmp_path: Path) -> None:
        _png(tmp_path / "image_2" / "000000_10.png")
        _png(tmp_path / "image_3" / "000001_10.png")
        with pytest.raises(InputError, match="do not match by file name"):
            open_stereo_folder(tmp_path)


def test_natural_sort_key() -> None:
    names = ["frame_10", "Frame_2", "frame_1", "a1", "a", "frame_02b", "10", "frame_"]
    expected = ["10", "a", "a1", "frame_", "frame_1", "Frame_2", "frame_02b", "frame_10"]
    assert sorted(names, key=natural_sort_key) == expected
