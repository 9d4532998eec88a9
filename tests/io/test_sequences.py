"""Tests for open_sequence on the real KITTI odometry and EuRoC samples, and on KITTI raw, KITTI odometry
(official layout), ScanNet, video and image-folder layouts built in tmp_path from the real images."""

from __future__ import annotations

import calendar
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from depthviewer.errors import CalibrationError, InputError
from depthviewer.io.depth_png import read_depth_png_mm
from depthviewer.io.images import read_rgb
from depthviewer.io.kitti_png import write_kitti_depth
from depthviewer.io.poses import read_kitti_poses, read_tum_trajectory, relative_pose
from depthviewer.io.sequences import LAYOUTS, SequenceSource, detect_layout, open_sequence
from depthviewer.types import SequenceFrame

ODOMETRY = "kitti_odometry_00_seq"
EUROC = "euroc_V1_01_easy_micro"
ODOMETRY_POSES = "poses_00_frames000000-000005.txt"
ODOMETRY_TIMES = "times_00_frames000000-000005.txt"

# KITTI odometry calib.txt of sequences 00-02 (P2/P3 are the colour cameras).
CALIB_00 = """P0: 7.188560e+02 0 6.071928e+02 0 0 7.188560e+02 1.852157e+02 0 0 0 1 0
P1: 7.188560e+02 0 6.071928e+02 -3.861448e+02 0 7.188560e+02 1.852157e+02 0 0 0 1 0
P2: 7.188560e+02 0 6.071928e+02 4.538225e+01 0 7.188560e+02 1.852157e+02 -1.130887e-01 0 0 1 3.779761e-03
P3: 7.188560e+02 0 6.071928e+02 -3.372877e+02 0 7.188560e+02 1.852157e+02 2.369057e+00 0 0 1 4.915215e-03
"""

# EuRoC V1_01 cam0 T_BS (camera-to-body), from mav0/cam0/sensor.yaml.
T_BS_CAM0 = np.array([[0.0148655429818, -0.999880929698, 0.00414029679422, -0.0216401454975],
                      [0.999557249008, 0.0149672133247, 0.025715529948, -0.064676986768],
                      [-0.0257744366974, 0.00375618835797, 0.999660727178, 0.00981073058949],
                      [0.0, 0.0, 0.0, 1.0]])


def _copy(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dst)
    return dst


@pytest.fixture(scope="session")
def odometry_dir(shared_data: Path) -> Path:
    return shared_data / ODOMETRY


@pytest.fixture(scope="session")
def euroc_dir(shared_data: Path) -> Path:
    return shared_data / EUROC


def _official_odometry(tmp_path: Path, odometry_dir: Path, folders: tuple[str, ...] = ("image_0",),
                       frames: range = range(6)) -> Path:
    """dataset/sequences/00/ and dataset/poses/00.txt as in the official download."""
    seq = tmp_path / "dataset" / "sequences" / "00"
    for folder in folders:
        for i in frames:
            _copy(odometry_dir / "image_0" / f"{i:06d}.png", seq / folder / f"{i:06d}.png")
    (seq / "calib.txt").write_text(CALIB_00)
    _copy(odometry_dir / ODOMETRY_TIMES, seq / "times.txt")
    _copy(odometry_dir / ODOMETRY_POSES, tmp_path / "dataset" / "poses" / "00.txt")
    return seq


class TestKittiOdometryRealSample:
    def test_frames_poses_calibration(self, odometry_dir: Path) -> None:
        source = open_sequence(odometry_dir)
        assert isinstance(source, SequenceSource)
        assert source.layout == "kitti_odometry" and source.root == odometry_dir
        assert source.names == [f"{i:06d}.png" for i in range(6)] and len(source) == 6
        assert source.has_poses and source.has_stereo and not source.has_gt_depth
        file_poses = read_kitti_poses(odometry_dir / ODOMETRY_POSES)
        times = np.loadtxt(odometry_dir / ODOMETRY_TIMES)
        for i in range(6):
            frame = source.load(i)
            assert isinstance(frame, SequenceFrame) and frame.index == i and frame.dataset == "kitti_odometry"
            np.testing.assert_array_equal(frame.T_world_cam, file_poses[i])
            np.testing.assert_array_equal(source.pose(i), file_poses[i])
            assert frame.timestamp_s == times[i]
            assert frame.image_rgb.shape == (376, 1241, 3)
            assert frame.path == odometry_dir / "image_0" / f"{i:06d}.png"
            np.testing.assert_allclose(frame.K, [[718.856, 0, 607.1928], [0, 718.856, 185.2157], [0, 0, 1]])
        first, second = source.load(0), source.load(1)
        assert first.right_rgb is not None and first.right_rgb.shape == first.image_rgb.shape
        assert first.stereo_calibration.baseline_m == pytest.approx(0.5372, abs=1e-4)
        assert second.right_rgb is None and second.stereo_calibration is None
        source.close()

    def test_describe(self, odometry_dir: Path) -> None:
        info = open_sequence(odometry_dir).describe()
        assert info["layout"] == "kitti_odometry" and info["frames"] == 6
        assert info["image_size"] == {"width": 1241, "height": 376}
        assert info["intrinsics"]["fx_px"] == pytest.approx(718.856)
        assert info["poses"] == 6 and ODOMETRY_POSES in info["poses_note"]
        assert info["stereo"] and info["stereo_frames"] == 1 and not info["gt_depth"]
        assert info["fps"] == pytest.approx(9.64, abs=0.05)
        assert "calib_compiled_seq00.txt" in info["intrinsics_note"]

    def test_bundled_copy_is_the_same(self, odometry_dir: Path) -> None:
        bundled = Path(__file__).resolve().parents[2] / "sample_data" / ODOMETRY
        for path in odometry_dir.rglob("*"):
            if path.is_file():
                assert (bundled / path.relative_to(odometry_dir)).read_bytes() == path.read_bytes()
        assert (bundled / "LICENSE_KITTI_CC-BY-NC-SA-3.0.txt").is_file() and (bundled / "README.md").is_file()
        assert open_sequence(bundled).has_poses


class TestKittiOdometryOfficialLayout:
    def test_poses_two_levels_up(self, tmp_path: Path, odometry_dir: Path) -> None:
        seq = _official_odometry(tmp_path, odometry_dir)
        source = open_sequence(seq)
        assert source.layout == "kitti_odometry" and not source.has_stereo
        np.testing.assert_array_equal(source.pose(5), read_kitti_poses(odometry_dir / ODOMETRY_POSES)[5])
        assert str(tmp_path / "dataset" / "poses" / "00.txt") in source.poses_note

    def test_colour_camera_poses_carry_the_p2_offset(self, tmp_path: Path, odometry_dir: Path) -> None:
        seq = _official_odometry(tmp_path, odometry_dir, folders=("image_0", "image_2", "image_3"))
        source = open_sequence(seq)
        assert source.describe()["camera"].startswith("image_2")
        assert source.has_stereo and source.load(0).path == seq / "image_2" / "000000.png"
        cam0 = read_kitti_poses(odometry_dir / ODOMETRY_POSES)
        # Camera 2 sits ~6 cm left of camera 0: T_cam0_cam2 translation = -K^-1 P2[:, 3].
        expected_offset = [-0.0599376, 0.0011306, -0.0037798]
        np.testing.assert_allclose(source.pose(0)[:3, 3], cam0[0, :3, 3] + expected_offset, atol=1e-6)
        for i in range(6):
            np.testing.assert_allclose(source.pose(i)[:3, :3], cam0[i, :3, :3])
            np.testing.assert_allclose(source.pose(i)[:3, 3], cam0[i, :3, 3] + cam0[i, :3, :3] @ expected_offset,
                                       atol=1e-6)
        # Stereo calibration is the colour pair's (P2/P3): 0.532 m.
        assert source.load(0).stereo_calibration.baseline_m == pytest.approx(0.5327, abs=2e-3)

    def test_frames_map_to_pose_lines_by_number(self, tmp_path: Path, odometry_dir: Path) -> None:
        seq = _official_odometry(tmp_path, odometry_dir, frames=range(2, 5))
        source = open_sequence(seq)
        assert source.names == ["000002.png", "000003.png", "000004.png"]
        cam0 = read_kitti_poses(odometry_dir / ODOMETRY_POSES)
        np.testing.assert_array_equal(source.pose(0), cam0[2])
        assert source.timestamp_s(2) == np.loadtxt(odometry_dir / ODOMETRY_TIMES)[4]

    def test_fewer_poses_than_frames(self, tmp_path: Path, odometry_dir: Path) -> None:
        seq = _official_odometry(tmp_path, odometry_dir)
        poses = tmp_path / "dataset" / "poses" / "00.txt"
        poses.write_text("".join(poses.read_text().splitlines(keepends=True)[:4]))
        with pytest.raises(InputError, match="4 poses but the sequence has 6 frames") as info:
            open_sequence(seq)
        assert info.value.path == poses

    def test_without_poses_says_how_to_give_them(self, tmp_path: Path, odometry_dir: Path) -> None:
        seq = _official_odometry(tmp_path, odometry_dir)
        (tmp_path / "dataset" / "poses" / "00.txt").unlink()
        source = open_sequence(seq)
        assert not source.has_poses and source.pose(0) is None
        assert "00-10" in source.poses_note and "--poses FILE" in source.poses_note


def _raw_drive(tmp_path: Path, odometry_dir: Path, kitti2015_dir: Path) -> Path:
    date = tmp_path / "2011_09_26"
    drive = date / "2011_09_26_drive_0001_sync"
    stamps = []
    for i in range(4):
        _copy(odometry_dir / "image_0" / f"{i:06d}.png", drive / "image_02" / "data" / f"{i:010d}.png")
        stamps.append(f"2011-09-26 13:02:{25.964389445 + i * 0.103735:012.9f}")
    _copy(odometry_dir / "image_1" / "000000.png", drive / "image_03" / "data" / f"{0:010d}.png")
    (drive / "image_02" / "timestamps.txt").write_text("\n".join(stamps) + "\n")
    _copy(kitti2015_dir / "calib_cam_to_cam_2011_09_26.txt", date / "calib_cam_to_cam.txt")
    depth = np.zeros((376, 1241), np.float32)
    depth[200:, 100:300] = 12.5
    (drive / "proj_depth" / "groundtruth" / "image_02").mkdir(parents=True)
    write_kitti_depth(drive / "proj_depth" / "groundtruth" / "image_02" / f"{2:010d}.png", depth)
    return drive


class TestKittiRaw:
    def test_drive_folder(self, tmp_path: Path, odometry_dir: Path, kitti2015_dir: Path) -> None:
        drive = _raw_drive(tmp_path, odometry_dir, kitti2015_dir)
        source = open_sequence(drive)
        assert source.layout == "kitti_raw" and len(source) == 4
        assert source.has_stereo and source.has_gt_depth and not source.has_poses
        assert "OXTS" in source.poses_note and "--poses FILE" in source.poses_note
        start = calendar.timegm((2011, 9, 26, 13, 2, 25, 0, 0, 0)) + 0.964389445
        assert source.timestamp_s(0) == pytest.approx(start, abs=1e-6)
        assert source.fps == pytest.approx(1 / 0.103735, rel=1e-4)
        frame0, frame2 = source.load(0), source.load(2)
        np.testing.assert_allclose(frame0.K, [[721.5377, 0, 609.5593], [0, 721.5377, 172.854], [0, 0, 1]])
        assert frame0.stereo_calibration.baseline_m == pytest.approx(0.5327, abs=1e-4)
        assert frame0.right_rgb is not None and frame2.right_rgb is None and frame0.gt_depth_m is None
        gt = frame2.gt_depth_m
        assert gt.shape == (376, 1241) and gt.dtype == np.float32
        assert gt[250, 150] == 12.5 and np.isnan(gt[10, 10])
        assert source.describe()["gt_frames"] == 1

    def test_calibration_beside_the_drive(self, tmp_path: Path, odometry_dir: Path, kitti2015_dir: Path) -> None:
        drive = _raw_drive(tmp_path, odometry_dir, kitti2015_dir)
        (drive.parent / "calib_cam_to_cam.txt").rename(drive / "calib_cam_to_cam.txt")
        assert open_sequence(drive).K is not None
        (drive / "calib_cam_to_cam.txt").unlink()
        source = open_sequence(drive)
        assert source.load(0).K is None and "--intrinsics FILE" in source.intrinsics_note

    def test_user_tum_poses_match_raw_timestamps(self, tmp_path: Path, odometry_dir: Path,
                                                 kitti2015_dir: Path) -> None:
        drive = _raw_drive(tmp_path, odometry_dir, kitti2015_dir)
        source = open_sequence(drive)
        times = [source.timestamp_s(i) for i in range(4)]
        lines = [f"{t + 0.001:.6f} {i} 0 0 0 0 0 1" for i, t in enumerate(times)]
        tum = tmp_path / "traj.txt"
        tum.write_text("\n".join(lines) + "\n")
        source = open_sequence(drive, poses=tum)
        assert [source.pose(i)[0, 3] for i in range(4)] == [0, 1, 2, 3]


class TestEuroc:
    def test_rectified_pair_has_matches_on_the_same_row(self, euroc_dir: Path) -> None:
        source = open_sequence(euroc_dir)
        assert source.layout == "euroc" and len(source) == 20 and source.has_stereo
        frame = source.load(0)
        raw_left = read_rgb(euroc_dir / "mav0" / "cam0" / "data" / frame.name)
        raw_right = read_rgb(euroc_dir / "mav0" / "cam1" / "data" / frame.name)
        rect_dy, rect_dx = _row_and_column_offsets(frame.image_rgb, frame.right_rgb)
        raw_dy, _ = _row_and_column_offsets(raw_left, raw_right)
        assert rect_dy < 1.0 < 3.0 < raw_dy
        assert rect_dx > 0  # cam1 is the right camera: positive disparity

    def test_calibration_is_the_rectified_one(self, euroc_dir: Path) -> None:
        source = open_sequence(euroc_dir / "mav0")
        frame = source.load(3)
        calib = frame.stereo_calibration
        assert calib.baseline_m == pytest.approx(0.110, abs=1e-3) and calib.doffs_px == 0.0
        np.testing.assert_array_equal(frame.K, calib.K)
        assert frame.K[0, 0] == frame.K[1, 1] and frame.image_rgb.shape == (480, 752, 3)
        assert frame.timestamp_s == pytest.approx(int(Path(frame.name).stem) * 1e-9)
        assert source.fps == 20.0

    def test_poses_are_the_rectified_camera_in_the_world(self, euroc_dir: Path) -> None:
        source = open_sequence(euroc_dir)
        times, T_world_body = read_tum_trajectory(euroc_dir / "groundtruth_V101_first20_tum.txt")
        R1 = source.R1
        assert np.degrees(np.arccos((np.trace(R1) - 1) / 2)) < 5  # a small correction of cam0
        for i in (0, 7, 19):
            T_world_cam0 = T_world_body[i] @ T_BS_CAM0
            T = source.pose(i)
            np.testing.assert_allclose(T[:3, 3], T_world_cam0[:3, 3], atol=1e-9)
            np.testing.assert_allclose(T[:3, :3], T_world_cam0[:3, :3] @ R1.T, atol=1e-9)
        assert "groundtruth_V101_first20_tum.txt" in source.poses_note

    def test_official_groundtruth_csv(self, tmp_path: Path, euroc_dir: Path) -> None:
        root = tmp_path / "V1_01_easy"
        shutil.copytree(euroc_dir / "mav0", root / "mav0")
        times, poses = read_tum_trajectory(euroc_dir / "groundtruth_V101_first20_tum.txt")
        lines = ["#timestamp, p_RS_R_x [m], p_RS_R_y [m], p_RS_R_z [m], q_RS_w [], q_RS_x [], q_RS_y [], q_RS_z []"]
        for row in np.loadtxt(euroc_dir / "groundtruth_V101_first20_tum.txt"):
            t, tx, ty, tz, qx, qy, qz, qw = row
            lines.append(f"{round(t * 1e9)},{tx},{ty},{tz},{qw},{qx},{qy},{qz},0,0,0")
        _copy(euroc_dir / "LICENSE.md", root / "mav0" / "state_groundtruth_estimate0" / "data.csv").write_text(
            "\n".join(lines) + "\n")
        official = open_sequence(root)
        reference = open_sequence(euroc_dir)
        assert "state_groundtruth_estimate0" in official.poses_note
        for i in (0, 10):
            np.testing.assert_allclose(official.pose(i), reference.pose(i), atol=1e-9)

    def test_yaml_that_is_not_euroc(self, tmp_path: Path, euroc_dir: Path) -> None:
        mav = tmp_path / "mav0"
        for cam in ("cam0", "cam1"):
            _copy(euroc_dir / "mav0" / cam / "data.csv", mav / cam / "data.csv")
            _copy(euroc_dir / "mav0" / cam / "sensor.yaml", mav / cam / "sensor.yaml")
            (mav / cam / "data").mkdir()
        (mav / "cam0" / "sensor.yaml").write_text("%YAML:1.0\nsensor_type: camera\nrate_hz: 20\n"
                                                  "resolution: [752, 480]\ndistortion_model: radial-tangential\n"
                                                  "distortion_coefficients: [0, 0, 0, 0]\n")
        with pytest.raises(InputError, match="missing keys T_BS, intrinsics") as info:
            open_sequence(mav)
        assert info.value.path == mav / "cam0" / "sensor.yaml"

    def test_frames_listed_without_image_are_skipped(self, tmp_path: Path, euroc_dir: Path) -> None:
        mav = tmp_path / "mav0"
        for cam in ("cam0", "cam1"):
            for name in ("data.csv", "sensor.yaml"):
                _copy(euroc_dir / "mav0" / cam / name, mav / cam / name)
            first = sorted((euroc_dir / "mav0" / cam / "data").iterdir())[:2]
            for path in first:
                _copy(path, mav / cam / "data" / path.name)
        source = open_sequence(mav)
        assert len(source) == 2 and source.describe()["frames_listed_without_image"] == 18
        assert not source.has_poses and "--poses FILE" in source.poses_note


    def test_without_cam1_only_undistorted(self, tmp_path: Path, euroc_dir: Path) -> None:
        cam = tmp_path / "mav0" / "cam0"
        for name in ("data.csv", "sensor.yaml"):
            _copy(euroc_dir / "mav0" / "cam0" / name, cam / name)
        first = sorted((euroc_dir / "mav0" / "cam0" / "data").iterdir())[0]
        _copy(first, cam / "data" / first.name)
        source = open_sequence(tmp_path)
        assert len(source) == 1 and not source.has_stereo and source.describe()["rectified"] is False
        frame = source.load(0)
        assert frame.right_rgb is None and frame.stereo_calibration is None and frame.image_rgb.shape == (480, 752, 3)
        assert "undistorted cam0" in source.intrinsics_note
        assert frame.K[0, 0] != pytest.approx(458.654)  # the undistorted image's K, not the raw camera's


def _row_and_column_offsets(left: np.ndarray, right: np.ndarray) -> tuple[float, float]:
    """Median |row difference| and median column difference of ORB matches between two views."""
    orb = cv2.ORB_create(1500)
    grey = [cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) for image in (left, right)]
    (k1, d1), (k2, d2) = (orb.detectAndCompute(g, None) for g in grey)
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(d1, d2)
    offsets = np.array([np.subtract(k1[m.queryIdx].pt, k2[m.trainIdx].pt) for m in matches])
    plausible = offsets[(np.abs(offsets[:, 1]) < 40) & (np.abs(offsets[:, 0]) < 120)]
    assert len(plausible) > 100
    return float(np.median(np.abs(plausible[:, 1]))), float(np.median(plausible[:, 0]))


def _scannet(tmp_path: Path, odometry_dir: Path, intrinsic_color: bool = True) -> Path:
    root = tmp_path / "scene0000_00"
    ids = [0, 1, 2, 10]
    for n, i in enumerate(ids):
        image = cv2.imread(str(odometry_dir / "image_0" / f"{n:06d}.png"))[:, :1240]
        (root / "color").mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(root / "color" / f"{i}.jpg"), image)
        depth_mm = np.tile((1000 + np.arange(620)).astype(np.uint16), (188, 1))
        depth_mm[:10] = 0
        (root / "depth").mkdir(exist_ok=True)
        assert cv2.imwrite(str(root / "depth" / f"{i}.png"), depth_mm)
        (root / "pose").mkdir(exist_ok=True)
        T = np.eye(4)
        T[:3, 3] = [i, 0, 0]
        np.savetxt(root / "pose" / f"{i}.txt", T if i != 1 else np.full((4, 4), -np.inf))
    (root / "intrinsic").mkdir()
    if intrinsic_color:
        (root / "intrinsic" / "intrinsic_color.txt").write_text(
            "1170.187988 0.000000 647.750000 0.000000\n0.000000 1170.187988 483.750000 0.000000\n"
            "0.000000 0.000000 1.000000 0.000000\n0.000000 0.000000 0.000000 1.000000\n")
    (root / "intrinsic" / "intrinsic_depth.txt").write_text(
        "577.590698 0.000000 318.905426 0.000000\n0.000000 578.729797 242.683609 0.000000\n"
        "0.000000 0.000000 1.000000 0.000000\n0.000000 0.000000 0.000000 1.000000\n")
    return root


class TestScanNet:
    def test_scene(self, tmp_path: Path, odometry_dir: Path) -> None:
        source = open_sequence(_scannet(tmp_path, odometry_dir))
        assert source.layout == "scannet" and source.names == ["0.jpg", "1.jpg", "2.jpg", "10.jpg"]
        assert source.has_poses and source.has_gt_depth and not source.has_stereo and source.fps is None
        assert source.pose(1) is None and source.pose(3)[0, 3] == 10
        assert "1 marked invalid" in source.poses_note
        frame = source.load(3)
        np.testing.assert_allclose(frame.K, [[1170.187988, 0, 647.75], [0, 1170.187988, 483.75], [0, 0, 1]])
        gt = frame.gt_depth_m
        assert gt.shape == frame.image_rgb.shape[:2] == (376, 1240) and gt.dtype == np.float32
        # Nearest-neighbour 2x upsampling: colour pixel (y, x) takes depth pixel (y // 2, x // 2).
        assert gt[100, 0] == 1.0 and gt[100, 1] == 1.0 and gt[100, 1239] == pytest.approx(1.619)
        assert np.isnan(gt[:20]).all() and not np.isnan(gt[20:]).any()
        assert source.load(1).T_world_cam is None

    def test_depth_intrinsics_scaled_when_colour_ones_are_missing(self, tmp_path: Path, odometry_dir: Path) -> None:
        source = open_sequence(_scannet(tmp_path, odometry_dir, intrinsic_color=False))
        np.testing.assert_allclose(source.K, [[577.590698 * 2, 0, (318.905426 + 0.5) * 2 - 0.5],
                                              [0, 578.729797 * 2, (242.683609 + 0.5) * 2 - 0.5], [0, 0, 1]])
        assert "intrinsic_depth.txt scaled from 620x188 to 1240x376" in source.intrinsics_note


class TestReadDepthPngMm:
    def test_millimetres_to_metres(self, tmp_path: Path) -> None:
        path = tmp_path / "d.png"
        cv2.imwrite(str(path), np.array([[0, 1000], [1500, 65535]], np.uint16))
        depth = read_depth_png_mm(path)
        assert depth.dtype == np.float32 and np.isnan(depth[0, 0])
        np.testing.assert_allclose(depth[[0, 1, 1], [1, 0, 1]], [1.0, 1.5, 65.535], rtol=1e-6)

    @pytest.mark.parametrize("image", [np.zeros((2, 2), np.uint8), np.zeros((2, 2, 3), np.uint16)])
    def test_not_16_bit_single_channel(self, tmp_path: Path, image: np.ndarray) -> None:
        path = tmp_path / "d.png"
        cv2.imwrite(str(path), image)
        with pytest.raises(InputError, match="not a 16-bit millimetre depth PNG"):
            read_depth_png_mm(path)


def _video(tmp_path: Path, odometry_dir: Path, side_by_side: bool = False) -> Path:
    frames = []
    for i in range(6):
        left = cv2.imread(str(odometry_dir / "image_0" / f"{i:06d}.png"))[:, :1240]
        frames.append(np.concatenate([left, left], axis=1) if side_by_side else left)
    path = tmp_path / ("sbs.avi" if side_by_side else "drive.avi")
    writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"MJPG"), 10.0,
                             (frames[0].shape[1], frames[0].shape[0]))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


class TestVideoSequence:
    def test_kitti_poses_and_intrinsics_from_files(self, tmp_path: Path, odometry_dir: Path) -> None:
        path = _video(tmp_path, odometry_dir)
        source = open_sequence(path, poses=odometry_dir / ODOMETRY_POSES,
                               intrinsics=odometry_dir / "calib_compiled_seq00.txt")
        assert source.layout == "video" and len(source) == 6 and source.fps == pytest.approx(10.0)
        assert source.names[0] == "000000" and source.has_poses and not source.has_stereo
        frame = source.load(4)
        assert frame.timestamp_s == pytest.approx(0.4) and frame.image_rgb.shape == (376, 1240, 3)
        np.testing.assert_array_equal(frame.T_world_cam, read_kitti_poses(odometry_dir / ODOMETRY_POSES)[4])
        assert frame.K[0, 0] == pytest.approx(718.856) and frame.stereo_calibration is None
        assert "(P0)" in source.intrinsics_note and "KITTI format" in source.poses_note
        info = source.describe()
        assert info["image_size"] == {"width": 1240, "height": 376} and info["video"]["codec"] == "MJPG"
        source.close()

    def test_without_poses_or_intrinsics(self, tmp_path: Path, odometry_dir: Path) -> None:
        source = open_sequence(_video(tmp_path, odometry_dir))
        assert not source.has_poses and source.load(0).K is None
        assert "--poses FILE" in source.poses_note
        assert "--intrinsics FILE" in source.intrinsics_note and "--fx --fy --cx --cy" in source.intrinsics_note

    def test_tum_matched_by_frame_time(self, tmp_path: Path, odometry_dir: Path) -> None:
        tum = tmp_path / "traj.txt"
        tum.write_text("# t tx ty tz qx qy qz qw\n" + "".join(f"{i * 0.1 + 0.01:.3f} {i} 0 0 0 0 0 1\n"
                                                              for i in range(6)))
        source = open_sequence(_video(tmp_path, odometry_dir), poses=tum)
        assert [source.pose(i)[0, 3] for i in range(6)] == [0, 1, 2, 3, 4, 5]
        assert "TUM" in source.poses_note

    def test_tum_not_covering_the_frames(self, tmp_path: Path, odometry_dir: Path) -> None:
        tum = tmp_path / "traj.txt"
        tum.write_text("".join(f"{100 + i * 0.1:.3f} {i} 0 0 0 0 0 1\n" for i in range(6)))
        with pytest.raises(InputError, match=r"frame 0 at t = 0\.000000 s .* nearest is at t = 100\.000000 s"):
            open_sequence(_video(tmp_path, odometry_dir), poses=tum)

    def test_fewer_poses_than_frames(self, tmp_path: Path, odometry_dir: Path) -> None:
        poses = tmp_path / "poses.txt"
        poses.write_text("".join((odometry_dir / ODOMETRY_POSES).read_text().splitlines(keepends=True)[:3]))
        with pytest.raises(InputError, match="3 poses but the sequence has 6 frames") as info:
            open_sequence(_video(tmp_path, odometry_dir), poses=poses)
        assert info.value.path == poses

    def test_side_by_side(self, tmp_path: Path, odometry_dir: Path) -> None:
        source = open_sequence(_video(tmp_path, odometry_dir, side_by_side=True), side_by_side=True,
                               intrinsics=odometry_dir / "calib_compiled_seq00.txt", cache_bytes=2**20)
        assert source.has_stereo and source.describe()["image_size"] == {"width": 1240, "height": 376}
        frame = source.load(2)
        assert frame.right_rgb.shape == frame.image_rgb.shape == (376, 1240, 3)
        assert frame.stereo_calibration.baseline_m == pytest.approx(0.5372, abs=1e-4)


class TestImageFolder:
    def test_natural_order_and_index_times(self, tmp_path: Path, odometry_dir: Path) -> None:
        for n, name in enumerate(["frame_10.png", "frame_2.png", "frame_1.png"]):
            _copy(odometry_dir / "image_0" / f"{n:06d}.png", tmp_path / "seq" / name)
        source = open_sequence(tmp_path / "seq")
        assert source.layout == "images" and source.names == ["frame_1.png", "frame_2.png", "frame_10.png"]
        assert source.fps is None and [source.timestamp_s(i) for i in range(3)] == [0.0, 1.0, 2.0]
        assert source.load(2).path == tmp_path / "seq" / "frame_10.png"
        assert not source.has_poses and not source.has_stereo and not source.has_gt_depth

    def test_times_poses_and_intrinsics(self, tmp_path: Path, odometry_dir: Path) -> None:
        seq = tmp_path / "seq"
        for i in range(6):
            _copy(odometry_dir / "image_0" / f"{i:06d}.png", seq / f"{i}.png")
        _copy(odometry_dir / ODOMETRY_TIMES, seq / "times.txt")
        K = np.array([[700.0, 0, 620], [0, 700, 188], [0, 0, 1]])
        np.savetxt(tmp_path / "K.txt", K)
        source = open_sequence(seq, intrinsics=tmp_path / "K.txt", poses=odometry_dir / ODOMETRY_POSES)
        assert source.fps == pytest.approx(9.64, abs=0.05)
        assert source.timestamp_s(5) == np.loadtxt(odometry_dir / ODOMETRY_TIMES)[5]
        frame = source.load(1)
        np.testing.assert_array_equal(frame.K, K)
        T = read_kitti_poses(odometry_dir / ODOMETRY_POSES)
        np.testing.assert_array_equal(frame.T_world_cam, T[1])
        # relative pose of frame 1 seen from frame 0: the car moved ~0.86 m forward.
        assert relative_pose(source.pose(1), source.pose(0))[2, 3] == pytest.approx(0.8587, abs=1e-3)
        with_array = open_sequence(seq, intrinsics=K)
        np.testing.assert_array_equal(with_array.load(0).K, K)

    def test_short_times_file(self, tmp_path: Path, odometry_dir: Path) -> None:
        for i in range(3):
            _copy(odometry_dir / "image_0" / f"{i:06d}.png", tmp_path / f"{i}.png")
        (tmp_path / "times.txt").write_text("0.0\n0.1\n")
        with pytest.raises(InputError, match="2 entries but the folder has 3 images"):
            open_sequence(tmp_path)

    def test_bad_intrinsics(self, tmp_path: Path, odometry_dir: Path) -> None:
        _copy(odometry_dir / "image_0" / "000000.png", tmp_path / "seq" / "0.png")
        (tmp_path / "K.txt").write_text("1 2 3\n")
        with pytest.raises(CalibrationError, match="3x3 or 4x4 .* accepted intrinsics files"):
            open_sequence(tmp_path / "seq", intrinsics=tmp_path / "K.txt")
        with pytest.raises(CalibrationError, match="focal lengths must be positive"):
            open_sequence(tmp_path / "seq", intrinsics=np.diag([0.0, 1.0, 1.0]))


class TestDetection:
    def test_unknown_layout_lists_what_each_expects(self, tmp_path: Path) -> None:
        (tmp_path / "notes.txt").write_text("x")
        with pytest.raises(InputError) as info:
            open_sequence(tmp_path)
        for layout in LAYOUTS:
            assert f"{layout}:" in info.value.reason
        assert "notes.txt" in info.value.reason

    def test_hint_for_a_dataset_one_level_down(self, shared_data: Path) -> None:
        with pytest.raises(InputError, match=r"Did you mean .*euroc_V1_01_easy_micro \(euroc\)"):
            open_sequence(shared_data)

    def test_kitti2015_stereo_folder_is_not_odometry(self, kitti2015_dir: Path) -> None:
        assert detect_layout(kitti2015_dir) is None

    def test_paths_that_are_not_sequences(self, tmp_path: Path, odometry_dir: Path) -> None:
        with pytest.raises(InputError, match="no such file or folder"):
            open_sequence(tmp_path / "missing")
        with pytest.raises(InputError, match="a single image is not a sequence"):
            open_sequence(odometry_dir / "image_0" / "000000.png")
        with pytest.raises(InputError, match="side-by-side applies to video files"):
            open_sequence(odometry_dir, side_by_side=True)
        with pytest.raises(InputError, match="a text file.*--poses"):
            open_sequence(odometry_dir / ODOMETRY_POSES)
        (tmp_path / "clip.mp4").write_bytes(b"\x00\x01" * 100)
        with pytest.raises(InputError, match="not a readable video"):
            open_sequence(tmp_path / "clip.mp4")
