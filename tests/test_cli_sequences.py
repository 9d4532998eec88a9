"""The command line on sequences: info, eval with Monodepth2's maps, Eigen metrics and the pose-scale check."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from depthviewer.cli import main
from depthviewer.io.kitti_png import read_kitti_disparity, write_kitti_depth
from depthviewer.io.ply import read_ply


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def odometry(shared_data):
    return shared_data / "kitti_odometry_00_seq"


@pytest.fixture
def raw_drive(tmp_path, kitti2015_dir):
    """A KITTI raw drive laid out as the download unpacks, holding the real KITTI 2015 pair, with the GT
    disparity turned into a depth PNG as KITTI's depth benchmark stores it (proj_depth/groundtruth)."""
    date = tmp_path / "2011_09_26"
    drive = date / "2011_09_26_drive_0001_sync"
    for sub in ("image_02/data", "image_03/data", "proj_depth/groundtruth/image_02"):
        (drive / sub).mkdir(parents=True)
    shutil.copy(kitti2015_dir / "image_2" / "000000_10.png", drive / "image_02/data/0000000000.png")
    shutil.copy(kitti2015_dir / "image_3" / "000000_10.png", drive / "image_03/data/0000000000.png")
    shutil.copy(kitti2015_dir / "calib_cam_to_cam_2011_09_26.txt", date / "calib_cam_to_cam.txt")
    disparity = read_kitti_disparity(kitti2015_dir / "disp_occ_0" / "000000_10.png")
    write_kitti_depth(drive / "proj_depth/groundtruth/image_02/0000000000.png", 721.5377 * 0.5327254 / disparity)
    return drive


class TestInfo:
    def test_odometry_sequence(self, capsys, odometry):
        code, out, _ = run(capsys, "info", str(odometry))
        assert code == 0
        assert "kitti_odometry" in out and "frames: 6" in out and "718.856" in out and "poses" in out


class TestEval:
    def test_file_poses_are_visibly_off_in_scale(self, capsys, odometry):
        code, out, _ = run(capsys, "eval", str(odometry), "--frames", "0", "--json")
        assert code == 0
        frame = json.loads(out)["frames"][0]
        metrics = frame["metrics"]
        assert 0.72 < metrics["pose_scale"] < 0.82  # the shared poses file is ~0.77x the images' motion
        for key in ("photometric_min", "photometric_next", "photometric_stereo", "automask_fraction"):
            assert key in metrics
        assert metrics["photometric_min"] <= min(metrics["photometric_next"], metrics["photometric_stereo"])
        assert "depth: sgbm (stereo)" in frame["notes"] and "poses: poses file" in frame["notes"]

    def test_estimated_poses_fit_the_images(self, capsys, odometry):
        code, out, _ = run(capsys, "eval", str(odometry), "--frames", "0", "--pose", "estimated", "--json")
        assert code == 0
        metrics = json.loads(out)["frames"][0]["metrics"]
        assert 0.95 < metrics["pose_scale"] < 1.05
        assert metrics["photometric_next"] < 0.1

    def test_eigen_metrics_against_gt_depth(self, capsys, raw_drive):
        code, out, err = run(capsys, "eval", str(raw_drive), "--json", "--crop", "garg", "--max-depth", "80",
                             "--pose", "estimated")
        # A single frame has no neighbour: the stereo partner is its only source.
        assert code == 0, err
        metrics = json.loads(out)["frames"][0]["metrics"]
        for key in ("abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3"):
            assert key in metrics
        assert metrics["abs_rel"] < 0.15 and metrics["a1"] > 85.0
        assert metrics["scale"] == 1.0  # metric stereo depth: no median scaling unless asked
        code, out, _ = run(capsys, "eval", str(raw_drive), "--json", "--median-scaling", "--pose", "estimated")
        assert json.loads(out)["frames"][0]["metrics"]["scale"] != 1.0

    def test_bad_frames_option(self, capsys, odometry):
        code, _, err = run(capsys, "eval", str(odometry), "--frames", "9:12")
        assert code == 2 and "--frames" in err


class TestExport:
    def test_depth_and_point_cloud_of_a_sequence_frame(self, capsys, odometry, tmp_path):
        code, out, _ = run(capsys, "export", str(odometry), "--frames", "0", "--out", str(tmp_path),
                           "--format", "npy,ply")
        assert code == 0
        depth = np.load(tmp_path / "000000.npy")
        assert depth.shape == (376, 1241) and 5 < np.nanmedian(depth) < 30
        points, _, comments = read_ply(tmp_path / "000000.ply")
        assert len(points) == np.isfinite(depth).sum()
        assert any("depth: sgbm (stereo)" in c for c in comments)

    def test_disparity_formats_are_refused_for_a_sequence(self, capsys, odometry, tmp_path):
        code, _, err = run(capsys, "export", str(odometry), "--out", str(tmp_path), "--format", "pfm")
        assert code == 2 and "pfm" in err


def test_a_video_with_a_poses_file(capsys, odometry, tmp_path):
    video = tmp_path / "drive 00 ü.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (1241, 376))
    for i in range(3):
        writer.write(cv2.imread(str(odometry / "image_0" / f"{i:06d}.png")))
    writer.release()
    code, out, err = run(capsys, "eval", str(video), "--frames", "1", "--json",
                         "--poses", str(odometry / "poses_00_frames000000-000005.txt"),
                         "--intrinsics", str(odometry / "calib_compiled_seq00.txt"),
                         "--backend", "plane-sweep", "--set", "num_planes=48")
    assert code == 0, err
    frame = json.loads(out)["frames"][0]
    assert frame["name"] and "depth: plane-sweep" in frame["notes"]
    assert frame["metrics"]["photometric_min"] < min(frame["metrics"]["photometric_previous"],
                                                     frame["metrics"]["photometric_next"])


def test_accumulated_cloud_in_the_world_frame(capsys, shared_data, tmp_path):
    euroc = shared_data / "euroc_V1_01_easy_micro"
    code, out, err = run(capsys, "export", str(euroc), "--frames", "0:2", "--out", str(tmp_path), "--accumulate")
    assert code == 0, err
    points, colours, comments = read_ply(next(tmp_path.glob("accumulated_*.ply")))
    assert any("world frame" in c for c in comments)
    code, _, _ = run(capsys, "export", str(euroc), "--frames", "0", "--out", str(tmp_path / "one"), "--format", "npy")
    one = np.load(next((tmp_path / "one").glob("*.npy")))
    assert len(points) > 1.5 * np.isfinite(one).sum()  # two frames' worth
    # EuRoC's world is the Vicon room: the MAV starts about 1 m up, looking at walls 1-10 m away.
    assert 0.5 < np.linalg.norm(np.median(points, axis=0)) < 12


def test_euroc_stereo_depth_is_plausible(capsys, shared_data, tmp_path):
    """After rectification, SGBM on the EuRoC pair sees the Vicon room's walls 1-10 m away."""
    code, _, err = run(capsys, "export", str(shared_data / "euroc_V1_01_easy_micro"), "--frames", "0",
                       "--out", str(tmp_path), "--format", "npy")
    assert code == 0, err
    depth = np.load(next(tmp_path.glob("*.npy")))
    assert depth.shape == (480, 752) and np.isfinite(depth).mean() > 0.5
    assert 1.0 < np.nanmedian(depth) < 10.0
