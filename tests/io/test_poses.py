"""Tests for the pose readers (KITTI, TUM, EuRoC, ScanNet matrices), timestamp matching and relative poses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from depthviewer.errors import InputError
from depthviewer.io.poses import (
    check_pose_count,
    detect_pose_format,
    invert_pose,
    match_by_timestamp,
    quaternion_to_rotation,
    read_euroc_groundtruth,
    read_kitti_poses,
    read_kitti_raw_timestamps,
    read_pose_file,
    read_pose_matrix_file,
    read_times_file,
    read_tum_trajectory,
    rectified_camera_offset,
    relative_pose,
)

ODOMETRY_POSES = "kitti_odometry_00_seq/poses_00_frames000000-000005.txt"
EUROC_TUM = "euroc_V1_01_easy_micro/groundtruth_V101_first20_tum.txt"


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _rigid(angles: tuple[float, float, float], t: tuple[float, float, float]) -> np.ndarray:
    a, b, c = angles
    Rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    Ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    Rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    T = np.eye(4)
    T[:3, :3] = Rz @ Ry @ Rx
    T[:3, 3] = t
    return T


class TestReadKittiPoses:
    def test_real_sample_matches_the_file(self, shared_data: Path) -> None:
        path = shared_data / ODOMETRY_POSES
        poses = read_kitti_poses(path)
        assert poses.shape == (6, 4, 4) and poses.dtype == np.float64
        rows = np.loadtxt(path).reshape(-1, 3, 4)
        np.testing.assert_array_equal(poses[:, :3, :], rows)
        np.testing.assert_array_equal(poses[:, 3, :], np.tile([0, 0, 0, 1.0], (6, 1)))
        # The car drives ~0.86 m forward (+z) per frame.
        assert np.diff(poses[:, 2, 3]) == pytest.approx(np.full(5, 0.8587), abs=0.01)

    def test_blank_lines_are_skipped(self, tmp_path: Path) -> None:
        line = "1 0 0 0 0 1 0 0 0 0 1 0\n"
        assert read_kitti_poses(_write(tmp_path / "p.txt", line + "\n" + line + "\n\n")).shape == (2, 4, 4)

    @pytest.mark.parametrize("text,expected", [
        ("1 0 0 0 0 1 0 0 0 0 1 0\n1 0 0 0 0 1 0 0 0 0 1\n",
         "line 2: a KITTI pose line has 12 numbers, this one has 11"),
        ("1 0 0 0 0 1 0 0 0 0 1 0\n1 0 0 x 0 1 0 0 0 0 1 0\n", "line 2: 'x' is not a number"),
        ("1 0 0 nan 0 1 0 0 0 0 1 0\n", "line 1: the pose has values that are not finite"),
        ("2 0 0 0 0 1 0 0 0 0 1 0\n", "line 1: the 3x3 part is not a rotation"),
        ("", "the pose file has no poses"),
    ])
    def test_bad_files_name_file_and_line(self, tmp_path: Path, text: str, expected: str) -> None:
        path = _write(tmp_path / "poses.txt", text)
        with pytest.raises(InputError, match=expected) as info:
            read_kitti_poses(path)
        assert info.value.path == path

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(InputError, match="not found"):
            read_kitti_poses(tmp_path / "nope.txt")


class TestReadTumTrajectory:
    def test_known_quaternion_and_comments(self, tmp_path: Path) -> None:
        s = np.sqrt(0.5)
        path = _write(tmp_path / "traj.txt", f"# timestamp tx ty tz qx qy qz qw\n"
                                             f"2.0 1 2 3 0 0 {s} {s}\n1.0 0 0 0 0 0 0 1\n")
        times, poses = read_tum_trajectory(path)
        np.testing.assert_array_equal(times, [1.0, 2.0])  # sorted by time
        np.testing.assert_allclose(poses[0], np.eye(4))
        np.testing.assert_allclose(poses[1, :3, :3], [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)
        np.testing.assert_allclose(poses[1, :3, 3], [1, 2, 3])

    def test_quaternion_is_normalised(self, tmp_path: Path) -> None:
        _, poses = read_tum_trajectory(_write(tmp_path / "t.txt", "0 0 0 0 0 0 0 2\n"))
        np.testing.assert_allclose(poses[0], np.eye(4))

    def test_real_euroc_sample(self, shared_data: Path) -> None:
        times, poses = read_tum_trajectory(shared_data / EUROC_TUM)
        assert times.shape == (20,) and poses.shape == (20, 4, 4)
        assert times[0] == pytest.approx(1403715273.26214)
        for R in poses[:, :3, :3]:
            np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-9)
        np.testing.assert_allclose(poses[0, :3, 3], [0.878895, 2.183400, 0.948427])

    @pytest.mark.parametrize("text,expected", [
        ("0 0 0 0 0 0 0 1\n1 0 0 0 0 0 1\n", "line 2: .* has 8 numbers, this one has 7"),
        ("# header\n0 0 0 0 0 0 0 one\n", "line 2: 'one' is not a number"),
        ("0 0 0 0 0 0 0 0\n", "line 1: not a valid pose"),
        ("1 0 0 0 0 0 0 1\n1 0 0 0 0 0 0 1\n", "appears twice"),
    ])
    def test_bad_lines(self, tmp_path: Path, text: str, expected: str) -> None:
        with pytest.raises(InputError, match=expected):
            read_tum_trajectory(_write(tmp_path / "t.txt", text))

    @settings(max_examples=30, deadline=None)
    @given(st.lists(st.floats(-1, 1), min_size=4, max_size=4).filter(lambda q: np.linalg.norm(q) > 0.1))
    def test_any_quaternion_gives_a_rotation(self, q: list[float]) -> None:
        R = quaternion_to_rotation(np.array(q))
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-9)
        assert np.linalg.det(R) == pytest.approx(1.0)


class TestEurocGroundtruth:
    def test_scalar_first_quaternion_and_ns_times(self, tmp_path: Path) -> None:
        s = np.sqrt(0.5)
        header = "#timestamp, p_RS_R_x [m], p_RS_R_y [m], p_RS_R_z [m], q_RS_w [], q_RS_x [], q_RS_y [], q_RS_z []"
        path = _write(tmp_path / "data.csv", f"{header}, v_x\n1403715273262142976,1,2,3,{s},{s},0,0,0.1\n")
        times, poses = read_euroc_groundtruth(path)
        assert times[0] == pytest.approx(1403715273.262143, abs=1e-6)
        np.testing.assert_allclose(poses[0, :3, :3], [[1, 0, 0], [0, 0, -1], [0, 1, 0]], atol=1e-12)
        np.testing.assert_allclose(poses[0, :3, 3], [1, 2, 3])


class TestDetectFormat:
    def test_kitti_and_tum(self, shared_data: Path) -> None:
        assert detect_pose_format(shared_data / ODOMETRY_POSES) == "kitti"
        assert detect_pose_format(shared_data / EUROC_TUM) == "tum"
        tum = read_pose_file(shared_data / EUROC_TUM)
        assert tum.format == "tum" and tum.times_s is not None and tum.poses.shape == (20, 4, 4)
        kitti = read_pose_file(shared_data / ODOMETRY_POSES)
        assert kitti.format == "kitti" and kitti.times_s is None

    def test_other_counts_are_refused(self, tmp_path: Path) -> None:
        with pytest.raises(InputError, match="unknown pose format: line 2 has 16 values"):
            detect_pose_format(_write(tmp_path / "p.txt", "# 4x4\n" + " ".join(["0"] * 16) + "\n"))


class TestMatchByTimestamp:
    def test_nearest_sample(self) -> None:
        traj_times = np.array([0.0, 0.1, 0.2, 0.3])
        traj_poses = np.stack([_rigid((0, 0, 0), (i, 0, 0)) for i in range(4)])
        poses = match_by_timestamp(np.array([0.0, 0.04, 0.06, 0.31, 0.2]), traj_times, traj_poses, 0.05)
        np.testing.assert_array_equal(poses[:, 0, 3], [0, 0, 1, 3, 2])

    def test_gap_too_large_names_frame_and_nearest_sample(self, tmp_path: Path) -> None:
        traj_times = np.array([10.0, 10.1])
        with pytest.raises(InputError, match=r"frame 1 at t = 10\.500000 s .* nearest is at t = 10\.100000 s") as info:
            match_by_timestamp(np.array([10.0, 10.5]), traj_times, np.tile(np.eye(4), (2, 1, 1)), 0.05,
                               path=tmp_path / "traj.txt")
        assert info.value.path == tmp_path / "traj.txt"

    def test_single_sample(self) -> None:
        poses = match_by_timestamp(np.array([1.0]), np.array([1.01]), np.eye(4)[None], 0.05)
        np.testing.assert_array_equal(poses[0], np.eye(4))

    def test_real_euroc_frames_match_their_samples(self, shared_data: Path) -> None:
        times, poses = read_tum_trajectory(shared_data / EUROC_TUM)
        stamps = [int(line.split(",")[0]) for line in
                  (shared_data / "euroc_V1_01_easy_micro/mav0/cam0/data.csv").read_text().splitlines()[1:]]
        matched = match_by_timestamp(np.array(stamps) * 1e-9, times, poses, 0.025)
        np.testing.assert_array_equal(matched, poses)


class TestReadPoseMatrixFile:
    def test_valid(self, tmp_path: Path) -> None:
        T = _rigid((0.1, 0.2, 0.3), (1, 2, 3))
        path = tmp_path / "0.txt"
        np.savetxt(path, T)
        np.testing.assert_allclose(read_pose_matrix_file(path), T, atol=1e-12)

    @pytest.mark.parametrize("bad", ["-inf", "nan"])
    def test_invalid_pose_is_none(self, tmp_path: Path, bad: str) -> None:
        path = _write(tmp_path / "1.txt", "\n".join([" ".join([bad] * 4)] * 4) + "\n")
        assert read_pose_matrix_file(path) is None

    @pytest.mark.parametrize("text,expected", [
        ("1 0 0 0\n0 1 0 0\n0 0 1 0\n", "16 numbers .* has 12"),
        ("1 0 0 0\n0 1 0 0\n0 0 1 zero\n0 0 0 1\n", "line 3: 'zero' is not a number"),
        ("1 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 1 1\n", "last row of the pose must be 0 0 0 1"),
    ])
    def test_bad_files(self, tmp_path: Path, text: str, expected: str) -> None:
        with pytest.raises(InputError, match=expected):
            read_pose_matrix_file(_write(tmp_path / "2.txt", text))


class TestRelativePose:
    def test_pure_translation(self) -> None:
        T_world_target = _rigid((0, 0, 0), (0, 0, 1))
        T_world_source = _rigid((0, 0, 0), (0, 0, 2))
        # A point at the target's origin is 1 m behind the source camera.
        np.testing.assert_allclose(relative_pose(T_world_target, T_world_source)[:3, 3], [0, 0, -1])

    @settings(max_examples=40, deadline=None)
    @given(st.tuples(*[st.floats(-3, 3)] * 3), st.tuples(*[st.floats(-10, 10)] * 3),
           st.tuples(*[st.floats(-3, 3)] * 3), st.tuples(*[st.floats(-10, 10)] * 3))
    def test_composition(self, a1, t1, a2, t2) -> None:
        T_world_target, T_world_source = _rigid(a1, t1), _rigid(a2, t2)
        T_source_target = relative_pose(T_world_target, T_world_source)
        np.testing.assert_allclose(T_world_source @ T_source_target, T_world_target, atol=1e-9)
        np.testing.assert_allclose(invert_pose(T_world_source), np.linalg.inv(T_world_source), atol=1e-9)
        np.testing.assert_allclose(relative_pose(T_world_target, T_world_target), np.eye(4), atol=1e-12)

    def test_batched(self) -> None:
        targets = np.stack([_rigid((0, 0, i), (i, 0, 0)) for i in range(3)])
        relative = relative_pose(targets, targets[0])
        assert relative.shape == (3, 4, 4)
        np.testing.assert_allclose(relative[0], np.eye(4), atol=1e-12)


def test_check_pose_count_names_file_and_counts(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="has 4 poses but the sequence has 6 frames") as info:
        check_pose_count(tmp_path / "poses.txt", 4, 6)
    assert info.value.path == tmp_path / "poses.txt"
    check_pose_count(tmp_path / "poses.txt", 7, 6)


class TestFrameTimes:
    def test_times_file(self, tmp_path: Path, shared_data: Path) -> None:
        times = read_times_file(shared_data / "kitti_odometry_00_seq/times_00_frames000000-000005.txt")
        assert times.shape == (6,) and times[0] == 0.0 and times[1] == pytest.approx(0.1037359)
        with pytest.raises(InputError, match="line 2: 'abc' is not a time"):
            read_times_file(_write(tmp_path / "times.txt", "0.0\nabc\n"))

    def test_kitti_raw_timestamps(self, tmp_path: Path) -> None:
        path = _write(tmp_path / "timestamps.txt", "2011-09-26 13:02:25.964389445\n2011-09-26 13:02:26.068\n")
        times = read_kitti_raw_timestamps(path)
        assert times[0] == pytest.approx(1317042145.964389445, abs=1e-6)
        assert times[1] - times[0] == pytest.approx(0.103610555, abs=1e-6)
        with pytest.raises(InputError, match="line 1: '26/09/2011' is not a timestamp"):
            read_kitti_raw_timestamps(_write(tmp_path / "bad.txt", "26/09/2011\n"))


def test_rectified_camera_offset() -> None:
    K = np.array([[700.0, 0, 600], [0, 700, 180], [0, 0, 1]])
    # A camera 0.5 m right of the reference (KITTI P1 style): P = K [I | (-0.5, 0, 0)].
    P = K @ np.hstack([np.eye(3), [[-0.5], [0.0], [0.0]]])
    np.testing.assert_allclose(rectified_camera_offset(P), [[1, 0, 0, 0.5], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
