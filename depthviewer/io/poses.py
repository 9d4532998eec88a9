"""Read camera trajectories (KITTI, TUM, EuRoC, ScanNet per-frame matrices) and frame times, and match them.

Convention: every pose returned here is T_world_cam, a 4x4 float64 rigid transform mapping points from the
camera's frame (OpenCV: x right, y down, z forward) to the world frame; (N, 4, 4) for a trajectory.

Formats:
- KITTI odometry `poses/NN.txt`: one line per frame, 12 numbers = the 3x4 [R | t] of T_world_cam0, row-major.
- TUM RGB-D trajectory: lines `t tx ty tz qx qy qz qw` (time in seconds, the pose of the body/camera in the
  world, Hamilton quaternion with the scalar last); `#` starts a comment. Commas are accepted as separators.
- ScanNet `pose/N.txt`: one 4x4 camera-to-world matrix per file; the exporter writes `-inf` rows for frames
  whose tracking failed.
- Frame times: KITTI odometry `times.txt` (seconds, one a line), KITTI raw `timestamps.txt` (date and time).
"""

from __future__ import annotations

import calendar
import datetime
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from depthviewer.errors import InputError

# Pose files are written with ~7 significant digits (KITTI) or from float32 estimates: a rotation that is off
# by more than this is not rounding but a file of another kind (or a transposed/garbled matrix).
_ROTATION_TOLERANCE = 1e-2

POSE_FORMATS = ("KITTI (12 numbers per line: 3x4 row-major T_world_cam)",
                "TUM (8 numbers per line: t tx ty tz qx qy qz qw)")


@dataclass(frozen=True)
class PoseFile:
    """A trajectory file read by `read_pose_file`: its format, poses (N, 4, 4) and, for TUM, times (N,) in s."""

    path: Path
    format: str
    poses: np.ndarray
    times_s: np.ndarray | None = None


def read_text_lines(path: Path, what: str) -> list[str]:
    """The file's lines; InputError naming the file (as `what`) when it is missing or unreadable."""
    if not path.is_file():
        raise InputError(f"{what} not found" if not path.exists() else f"{what} is not a file", path)
    try:
        return path.read_text(encoding="utf-8-sig", errors="replace").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read the {what} ({exc.strerror or exc})", path) from exc


def _data_lines(path: Path, what: str) -> list[tuple[int, list[str]]]:
    """(1-based line number, tokens) of each line that is not blank or a `#` comment."""
    rows = []
    for number, line in enumerate(read_text_lines(path, what), start=1):
        line = line.split("#", 1)[0].replace(",", " ").strip()
        if line:
            rows.append((number, line.split()))
    return rows


def _floats(path: Path, number: int, tokens: list[str], count: int, what: str) -> np.ndarray:
    if len(tokens) != count:
        raise InputError(f"line {number}: a {what} line has {count} numbers, this one has {len(tokens)}", path)
    try:
        values = np.array([float(token) for token in tokens], dtype=np.float64)
    except ValueError:
        bad = next(t for t in tokens if not _is_number(t))
        raise InputError(f"line {number}: {bad!r} is not a number", path) from None
    return values


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _check_rotation(path: Path, where: str, R: np.ndarray) -> None:
    if not np.all(np.isfinite(R)):
        raise InputError(f"{where}: the pose has values that are not finite", path)
    with np.errstate(all="ignore"):  # huge values: the check below fails, no warning needed
        error = np.abs(R @ R.T - np.eye(3)).max()
        det = np.linalg.det(R)
    if not error <= _ROTATION_TOLERANCE or not det > 0:
        raise InputError(f"{where}: the 3x3 part is not a rotation (|R R^T - I| = {error:.3g}, "
                         f"det = {det:.3g})", path)


def read_kitti_poses(path: str | Path) -> np.ndarray:
    """Read a KITTI odometry pose file as (N, 4, 4) float64 T_world_cam, one per non-blank line.

    Raises InputError naming the file and the line for a line without exactly 12 numbers, a value that is not
    a number, a non-finite value or a 3x3 part that is not a rotation; and for a file without poses.
    """
    path = Path(path)
    rows = _data_lines(path, "pose file")
    if not rows:
        raise InputError("the pose file has no poses", path)
    poses = np.tile(np.eye(4), (len(rows), 1, 1))
    for i, (number, tokens) in enumerate(rows):
        poses[i, :3, :] = _floats(path, number, tokens, 12, "KITTI pose").reshape(3, 4)
        if not np.all(np.isfinite(poses[i])):
            raise InputError(f"line {number}: the pose has values that are not finite", path)
        _check_rotation(path, f"line {number}", poses[i, :3, :3])
    return poses


def quaternion_to_rotation(q_xyzw: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) from unit Hamilton quaternions (..., 4) given as (x, y, z, w)."""
    q = np.asarray(q_xyzw, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    x, y, z, w = np.moveaxis(q, -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], axis=-1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], axis=-1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], axis=-1),
    ], axis=-2)


def poses_from_translation_quaternion(t_xyz: np.ndarray, q_xyzw: np.ndarray) -> np.ndarray:
    """(N, 4, 4) poses from translations (N, 3) and quaternions (N, 4) in (x, y, z, w) order."""
    poses = np.tile(np.eye(4), (len(t_xyz), 1, 1))
    poses[:, :3, :3] = quaternion_to_rotation(q_xyzw)
    poses[:, :3, 3] = t_xyz
    return poses


def _valid_pose_values(values: np.ndarray, quaternion: np.ndarray) -> bool:
    """All finite, and a quaternion that can be normalised (its norm neither ~0 nor overflowing to inf)."""
    with np.errstate(over="ignore"):
        norm = np.linalg.norm(quaternion)
    return bool(np.all(np.isfinite(values)) and np.isfinite(norm) and norm > 1e-6)


def read_tum_trajectory(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a TUM trajectory as (times (N,) seconds, poses (N, 4, 4) T_world_cam), sorted by time.

    Quaternions are normalised (the format stores them rounded); a zero or non-finite one, a line without
    8 numbers or a value that is not a number raises InputError with the line number. Duplicate times raise
    InputError too: nearest-time matching would pick one of them arbitrarily.
    """
    path = Path(path)
    rows = _data_lines(path, "trajectory file")
    if not rows:
        raise InputError("the trajectory file has no poses", path)
    values = np.empty((len(rows), 8))
    for i, (number, tokens) in enumerate(rows):
        values[i] = _floats(path, number, tokens, 8, "TUM trajectory ('t tx ty tz qx qy qz qw')")
        if not _valid_pose_values(values[i], values[i, 4:]):
            raise InputError(f"line {number}: not a valid pose (non-finite value or zero quaternion)", path)
    order = np.argsort(values[:, 0], kind="stable")
    values = values[order]
    repeated = np.flatnonzero(np.diff(values[:, 0]) == 0)
    if repeated.size:
        raise InputError(f"time {values[repeated[0], 0]:.6f} s appears twice", path)
    return values[:, 0].copy(), poses_from_translation_quaternion(values[:, 1:4], values[:, 4:8])


def detect_pose_format(path: str | Path) -> str:
    """'kitti' or 'tum', from the count of numbers on the first data line (12 or 8)."""
    path = Path(path)
    rows = _data_lines(path, "pose file")
    if not rows:
        raise InputError("the pose file has no poses", path)
    count = len(rows[0][1])
    if count == 12:
        return "kitti"
    if count == 8:
        return "tum"
    raise InputError(f"unknown pose format: line {rows[0][0]} has {count} values; expected one of: "
                     + "; ".join(POSE_FORMATS), path)


def read_pose_file(path: str | Path) -> PoseFile:
    """Read a KITTI or TUM pose file, recognising the format from its content."""
    path = Path(path)
    if detect_pose_format(path) == "kitti":
        return PoseFile(path, "kitti", read_kitti_poses(path))
    times, poses = read_tum_trajectory(path)
    return PoseFile(path, "tum", poses, times)


def read_pose_matrix_file(path: str | Path) -> np.ndarray | None:
    """Read one 4x4 T_world_cam (ScanNet `pose/N.txt`); None when the file marks the pose invalid (inf/nan).

    Raises InputError for a file without 16 numbers, a value that is not a number (with its line), or a
    finite matrix that is not rigid (bottom row not 0 0 0 1, or no rotation).
    """
    path = Path(path)
    tokens: list[tuple[int, str]] = [(number, token) for number, row in _data_lines(path, "pose file")
                                     for token in row]
    if len(tokens) != 16:
        raise InputError(f"a pose matrix file has 16 numbers (4x4), this one has {len(tokens)}", path)
    for number, token in tokens:
        if not _is_number(token):
            raise InputError(f"line {number}: {token!r} is not a number", path)
    T = np.array([float(token) for _, token in tokens], dtype=np.float64).reshape(4, 4)
    if not np.all(np.isfinite(T)):
        return None
    if not np.allclose(T[3], [0.0, 0.0, 0.0, 1.0], atol=1e-6):
        raise InputError(f"the last row of the pose must be 0 0 0 1, got {' '.join(f'{v:g}' for v in T[3])}", path)
    _check_rotation(path, "pose", T[:3, :3])
    return T


def invert_pose(T: np.ndarray) -> np.ndarray:
    """Inverse of rigid transforms (..., 4, 4): [R^T | -R^T t], exact where np.linalg.inv would round."""
    T = np.asarray(T, dtype=np.float64)
    if T.shape[-2:] != (4, 4):
        raise ValueError(f"a pose is (..., 4, 4), got shape {T.shape}")
    R_t = np.swapaxes(T[..., :3, :3], -1, -2)
    inverse = np.zeros_like(T)
    inverse[..., :3, :3] = R_t
    inverse[..., :3, 3] = -(R_t @ T[..., :3, 3, None])[..., 0]
    inverse[..., 3, 3] = 1.0
    return inverse


def relative_pose(T_world_target: np.ndarray, T_world_source: np.ndarray) -> np.ndarray:
    """T_source_target = inv(T_world_source) @ T_world_target: maps target-camera points into the source camera.

    Shapes (4, 4) or batched (..., 4, 4) with broadcasting.
    """
    return invert_pose(T_world_source) @ np.asarray(T_world_target, dtype=np.float64)


def nearest_samples(frame_times: np.ndarray, traj_times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each frame time (M,), the index of the nearest trajectory time (sorted (N,)) and the gap in seconds."""
    frame_times = np.asarray(frame_times, dtype=np.float64).reshape(-1)
    traj_times = np.asarray(traj_times, dtype=np.float64).reshape(-1)
    if traj_times.size == 0:
        raise ValueError("the trajectory has no samples")
    right = np.clip(np.searchsorted(traj_times, frame_times), 1, max(traj_times.size - 1, 1))
    left = right - 1
    if traj_times.size == 1:
        right = left = np.zeros_like(right)
    take_right = np.abs(traj_times[right] - frame_times) < np.abs(frame_times - traj_times[left])
    index = np.where(take_right, right, left)
    return index, np.abs(traj_times[index] - frame_times)


def match_by_timestamp(frame_times: np.ndarray, traj_times: np.ndarray, traj_poses: np.ndarray,
                       max_gap_s: float, path: str | Path | None = None) -> np.ndarray:
    """The pose (M, 4, 4) of the trajectory sample nearest in time to each frame time (M,).

    `traj_times` (N,) must be sorted (read_tum_trajectory sorts). Raises InputError (naming `path`, the
    trajectory file, when given) for the first frame whose nearest sample is more than `max_gap_s` away,
    giving the frame time and the nearest sample's time.
    """
    traj_times = np.asarray(traj_times, dtype=np.float64)
    traj_poses = np.asarray(traj_poses, dtype=np.float64)
    if traj_poses.shape != (traj_times.size, 4, 4):
        raise ValueError(f"traj_poses must be ({traj_times.size}, 4, 4), got {traj_poses.shape}")
    frame_times = np.asarray(frame_times, dtype=np.float64).reshape(-1)
    index, gap = nearest_samples(frame_times, traj_times)
    far = np.flatnonzero(~(gap <= max_gap_s))
    if far.size:
        i = far[0]
        raise InputError(f"frame {i} at t = {frame_times[i]:.6f} s has no trajectory sample within "
                         f"{max_gap_s:g} s: the nearest is at t = {traj_times[index[i]]:.6f} s "
                         f"({far.size} of {frame_times.size} frames unmatched; the trajectory covers "
                         f"{traj_times[0]:.6f}..{traj_times[-1]:.6f} s)", path)
    return traj_poses[index].copy()


def check_pose_count(path: str | Path, n_poses: int, n_frames: int) -> None:
    """InputError naming the file and both counts when a pose file has fewer poses than the sequence has frames."""
    if n_poses < n_frames:
        raise InputError(f"the pose file has {n_poses} poses but the sequence has {n_frames} frames", path)


def read_euroc_groundtruth(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read EuRoC's `state_groundtruth_estimate0/data.csv` as (times (N,) s, poses (N, 4, 4) T_world_body).

    Columns: timestamp [ns], p_RS_R_x/y/z [m], q_RS_w/x/y/z, then velocity and biases (ignored). Note the
    quaternion's scalar comes first here, unlike TUM.
    """
    path = Path(path)
    rows = _data_lines(path, "ground-truth file")
    if not rows:
        raise InputError("the ground-truth file has no poses", path)
    values = np.empty((len(rows), 8))
    for i, (number, tokens) in enumerate(rows):
        if len(tokens) < 8:
            raise InputError(f"line {number}: an EuRoC ground-truth line has at least 8 values (timestamp, "
                             f"position, quaternion w x y z), this one has {len(tokens)}", path)
        values[i] = _floats(path, number, tokens[:8], 8, "EuRoC ground-truth")
        if not _valid_pose_values(values[i], values[i, 4:]):
            raise InputError(f"line {number}: not a valid pose (non-finite value or zero quaternion)", path)
    values = values[np.argsort(values[:, 0], kind="stable")]
    q_xyzw = values[:, [5, 6, 7, 4]]
    return values[:, 0] * 1e-9, poses_from_translation_quaternion(values[:, 1:4], q_xyzw)


def rectified_camera_offset(P: np.ndarray) -> np.ndarray:
    """T_ref_cam (4x4) of a rectified camera with projection P = K [I | t] relative to the reference camera.

    P maps reference-frame points X to K (X + t), so the camera sits at -t in the reference frame:
    t = K^-1 P[:, 3] (all three components, not only the x-offset -P[0, 3] / fx).
    """
    T = np.eye(4)
    T[:3, 3] = -np.linalg.solve(P[:, :3], P[:, 3])
    return T


def read_times_file(path: str | Path) -> np.ndarray:
    """A KITTI-style `times.txt`: one time in seconds per line (blank lines and `#` comments skipped)."""
    path = Path(path)
    times = []
    for number, line in enumerate(read_text_lines(path, "times file"), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            seconds = float(line.split()[0])
        except ValueError:
            raise InputError(f"line {number}: {line!r} is not a time in seconds", path) from None
        if not np.isfinite(seconds):
            raise InputError(f"line {number}: {line!r} is not a finite time in seconds", path)
        times.append(seconds)
    return np.array(times, dtype=np.float64)


_KITTI_STAMP = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?", re.ASCII)


def read_kitti_raw_timestamps(path: str | Path) -> np.ndarray:
    """KITTI raw `timestamps.txt` ('2011-09-26 13:02:25.964389445' per line) as POSIX seconds, read as UTC."""
    path = Path(path)
    times = []
    for number, line in enumerate(read_text_lines(path, "timestamps file"), start=1):
        line = line.strip()
        if not line:
            continue
        match = _KITTI_STAMP.fullmatch(line)
        if match is None:
            raise InputError(f"line {number}: {line!r} is not a timestamp 'YYYY-MM-DD hh:mm:ss.fffffffff'", path)
        parts = [int(v) for v in match.groups()[:6]]
        try:
            # datetime validates the fields (month 13, February 30, hour 25), which timegm alone would not all do.
            datetime.datetime(*parts)
        except ValueError as exc:
            raise InputError(f"line {number}: {line!r} is not a valid date and time ({exc})", path) from None
        whole = calendar.timegm((*parts, 0, 0, 0))
        times.append(whole + float("0." + (match.group(7) or "0")))
    return np.array(times, dtype=np.float64)
