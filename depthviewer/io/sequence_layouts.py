"""The shared base of every sequence source, and the KITTI (odometry, raw) and ScanNet layouts over it.

Each source lists its frames, timestamps and poses when opened and reads images only in `load`. Poses are
T_world_cam of the camera whose images are served (4x4 float64, OpenCV camera frame), timestamps seconds.
The video and image-folder sources are in sequences.py, EuRoC in euroc.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from depthviewer.errors import CalibrationError, InputError
from depthviewer.io.calibration import read_kitti_cam_to_cam, read_kitti_projections
from depthviewer.io.depth_png import read_depth_png_mm
from depthviewer.io.images import read_image_unchanged, read_rgb
from depthviewer.io.kitti_png import read_kitti_depth
from depthviewer.io.poses import (
    check_pose_count,
    match_by_timestamp,
    read_kitti_poses,
    read_kitti_raw_timestamps,
    read_pose_matrix_file,
    read_text_lines,
    read_times_file,
    rectified_camera_offset,
)
from depthviewer.io.stereo_folder import IMAGE_SUFFIXES, natural_sort_key
from depthviewer.types import SequenceFrame, StereoCalibration

POSES_OPTION = "give them with --poses FILE (KITTI: 12 numbers a line; TUM: 't tx ty tz qx qy qz qw')"
INTRINSICS_OPTION = "give them with --intrinsics FILE (a 3x3 matrix or KITTI 'P0:' lines) or --fx --fy --cx --cy"


# --- small readers ------------------------------------------------------------------------------------------

def read_matrix_file(path: Path) -> np.ndarray:
    """A file holding one 3x3 or 4x4 matrix as plain numbers (ScanNet `intrinsic_color.txt` is 4x4)."""
    tokens = [(n, t) for n, line in enumerate(read_text_lines(path, "matrix file"), start=1)
              for t in line.split("#", 1)[0].replace(",", " ").replace("[", " ").replace("]", " ")
              .replace(";", " ").split()]
    values = []
    for number, token in tokens:
        try:
            values.append(float(token))
        except ValueError:
            raise CalibrationError(f"line {number}: {token!r} is not a number", path) from None
    if len(values) not in (9, 16):
        raise CalibrationError(f"expected a 3x3 or 4x4 matrix (9 or 16 numbers), found {len(values)} numbers", path)
    side = 3 if len(values) == 9 else 4
    return np.array(values, dtype=np.float64).reshape(side, side)


def check_intrinsics(K: np.ndarray, where: str | Path) -> np.ndarray:
    """K as a finite (3, 3) float64 [fx s cx; 0 fy cy; 0 0 1] with positive focal lengths, else CalibrationError."""
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3) or not np.all(np.isfinite(K)):
        raise CalibrationError(f"intrinsics must be a finite 3x3 matrix, got shape {K.shape}", where)
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise CalibrationError(f"focal lengths must be positive, got fx={K[0, 0]:g}, fy={K[1, 1]:g}", where)
    if not np.allclose(K[2], [0.0, 0.0, 1.0], atol=1e-6) or K[1, 0] != 0:
        raise CalibrationError("intrinsics must have the form [fx s cx; 0 fy cy; 0 0 1]", where)
    return K.copy()


def projection_matrix(path: Path, key: str) -> np.ndarray | None:
    """The 3x4 matrix of line `key: 12 numbers` in a KITTI calibration file, or None when the key is absent."""
    for number, line in enumerate(read_text_lines(path, "calibration file"), start=1):
        name, _, rest = line.partition(":")
        if name.strip() != key:
            continue
        try:
            values = [float(t) for t in rest.split()]
        except ValueError:
            raise CalibrationError(f"line {number}: '{key}' has a value that is not a number", path) from None
        if len(values) != 12:
            raise CalibrationError(f"line {number}: '{key}' must have 12 numbers, found {len(values)}", path)
        if not all(np.isfinite(values)):
            raise CalibrationError(f"line {number}: '{key}' has a value that is not finite", path)
        return np.array(values).reshape(3, 4)
    return None


def images_in(folder: Path) -> list[Path]:
    files = [p for p in folder.iterdir()
             if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()]
    return sorted(files, key=lambda p: natural_sort_key(p.name))


def _one_beside(folder: Path, exact: str, pattern: str) -> tuple[Path | None, str]:
    """`folder/exact`, else the only file matching `pattern`; (None, why) when there is none or several."""
    if (folder / exact).is_file():
        return folder / exact, ""
    found = sorted(p for p in folder.glob(pattern) if p.is_file() and not p.name.startswith("."))
    if len(found) == 1:
        return found[0], ""
    if found:
        return None, f"several {pattern} files in {folder} ({', '.join(p.name for p in found)}): keep one"
    return None, f"no {exact} or {pattern} in {folder}"


def _frame_numbers(paths: list[Path]) -> list[int] | None:
    """The integer in each file name (`000123.png` -> 123), or None when some name is not a number."""
    stems = [p.stem for p in paths]
    return [int(s) for s in stems] if all(s.isdigit() for s in stems) else None


def fps_from_times(times: np.ndarray | None) -> float | None:
    """1 / the median frame spacing, or None without two increasing times."""
    if times is None or len(times) < 2:
        return None
    spacing = float(np.median(np.diff(times)))
    return 1.0 / spacing if spacing > 0 else None


def _per_row(path: Path, values: np.ndarray, rows: list[int], what: str) -> np.ndarray:
    needed = max(rows) + 1
    if len(values) < needed:
        raise InputError(f"the {what} file has {len(values)} entries but the sequence's frames need {needed} "
                         f"(frame numbers up to {needed - 1})", path)
    return values[rows]


# --- the shared base ----------------------------------------------------------------------------------------

class SequenceBase:
    """Frames of one sequence; subclasses list them in __init__ and say how to read a frame's views."""

    layout = "sequence"

    def __init__(self, root: Path, paths: list[Path], *, names: list[str] | None = None,
                 rights: list[Path | None] | None = None, gts: list[Path | None] | None = None,
                 times: list[float | None] | np.ndarray | None = None, fps: float | None = None,
                 rows: list[int] | None = None) -> None:
        self.root = root
        self._paths = paths
        self._names = names if names is not None else [p.name for p in paths]
        n = len(self._names)
        self._rights = rights if rights is not None else [None] * n
        self._gts = gts if gts is not None else [None] * n
        self._times: list[float | None] = [None if t is None else float(t) for t in times] \
            if times is not None else [None] * n
        self._poses: list[np.ndarray | None] = [None] * n
        self._rows = rows if rows is not None else list(range(n))  # line of each frame in a KITTI-format file
        self.fps = fps
        self.K: np.ndarray | None = None
        self.stereo_calibration: StereoCalibration | None = None
        self.intrinsics_note = f"missing: the {self.layout} layout has no intrinsics; {INTRINSICS_OPTION}"
        self.poses_note = f"missing: the {self.layout} layout has no poses; {POSES_OPTION}"

    # --- what the frames are ---

    @property
    def names(self) -> list[str]:
        return list(self._names[:len(self)])

    def __len__(self) -> int:
        return len(self._names)

    @property
    def has_poses(self) -> bool:
        return any(p is not None for p in self._poses[:len(self)])

    @property
    def has_stereo(self) -> bool:
        return any(r is not None for r in self._rights[:len(self)])

    @property
    def has_gt_depth(self) -> bool:
        return any(g is not None for g in self._gts[:len(self)])

    def pose(self, index: int) -> np.ndarray | None:
        """T_world_cam (4x4) of frame `index` without reading its image, or None."""
        self._check(index)
        pose = self._poses[index]
        return None if pose is None else pose.copy()

    def timestamp_s(self, index: int) -> float | None:
        self._check(index)
        return self._times[index]

    def _check(self, index: int) -> None:
        if not 0 <= index < len(self):
            raise IndexError(f"frame index {index} out of range 0..{len(self) - 1}")

    # --- reading ---

    def _read_views(self, index: int) -> tuple[np.ndarray, np.ndarray | None]:
        right = self._rights[index]
        return read_rgb(self._paths[index]), (read_rgb(right) if right is not None else None)

    def _read_gt(self, index: int, size_hw: tuple[int, int]) -> np.ndarray | None:
        return None

    def _path(self, index: int) -> Path | None:
        return self._paths[index]

    def load(self, index: int) -> SequenceFrame:
        """Read frame `index`: image, K, pose, time, the rectified right view and GT depth when the layout has them."""
        self._check(index)
        image, right = self._read_views(index)
        if right is not None and right.shape != image.shape:
            raise InputError(f"the right image is {right.shape[1]}x{right.shape[0]} but the left one is "
                             f"{image.shape[1]}x{image.shape[0]}", self._rights[index] or self._path(index))
        gt = self._read_gt(index, image.shape[:2])
        pose = self._poses[index]
        return SequenceFrame(
            name=self._names[index], index=index, image_rgb=image,
            K=None if self.K is None else self.K.copy(),
            T_world_cam=None if pose is None else pose.copy(),
            timestamp_s=self._times[index], right_rgb=right,
            stereo_calibration=self.stereo_calibration if right is not None else None,
            gt_depth_m=gt, dataset=self.layout, path=self._path(index))

    def image_size(self) -> tuple[int, int]:
        """(width, height) of the served images (reads frame 0 unless the layout knows it)."""
        height, width = self._read_views(0)[0].shape[:2]
        return width, height

    # --- what the user gives ---

    def use_intrinsics(self, K: np.ndarray, note: str, stereo: StereoCalibration | None = None) -> None:
        self.K = K
        self.intrinsics_note = note
        if stereo is not None:
            self.stereo_calibration = stereo

    def use_poses(self, poses: np.ndarray, times_s: np.ndarray | None, source: str | Path, what: str) -> None:
        """Replace the layout's poses: by frame (row) for KITTI-format poses, by nearest time for a trajectory."""
        n = len(self)
        if times_s is None:
            needed = max(self._rows[:n]) + 1
            check_pose_count(source, len(poses), needed)
            self._poses = [poses[r].copy() for r in self._rows[:n]]
        else:
            frame_times = self._times[:n]
            if any(t is None for t in frame_times):
                raise InputError(f"a TUM trajectory is matched to frames by time, but the {self.layout} layout has "
                                 "no frame times: give the poses in KITTI format (one line per frame)", source)
            matched = match_by_timestamp(np.array(frame_times), times_s, poses, self._max_gap_s(), source)
            self._poses = list(matched)
        # Taken as poses of the served camera as they are (no camera-0 offset): the user's file is for these images.
        self.poses_note = f"from {source} ({what}; given by the user, replaces any poses of the layout)"

    def _max_gap_s(self) -> float:
        """Half a frame period: the most a trajectory sample may be off and still be the frame's."""
        if self.fps:
            return 0.5 / self.fps
        times = np.array([t for t in self._times[:len(self)] if t is not None])
        spacing = float(np.median(np.diff(times))) if times.size >= 2 else 0.0
        return 0.5 * spacing if spacing > 0 else 0.5

    # --- summary ---

    def describe(self) -> dict[str, Any]:
        """Summary for the CLI's `info` and the app: layout, frames, size, intrinsics, poses, stereo, GT."""
        width, height = self.image_size()
        K = self.K
        calib = self.stereo_calibration
        summary: dict[str, Any] = {
            "layout": self.layout,
            "root": str(self.root),
            "frames": len(self),
            "fps": self.fps,
            "image_size": {"width": int(width), "height": int(height)},
            "intrinsics": None if K is None else {"fx_px": float(K[0, 0]), "fy_px": float(K[1, 1]),
                                                  "cx_px": float(K[0, 2]), "cy_px": float(K[1, 2])},
            "intrinsics_note": self.intrinsics_note,
            "poses": sum(p is not None for p in self._poses[:len(self)]),
            "poses_note": self.poses_note,
            "stereo": self.has_stereo,
            "stereo_frames": sum(r is not None for r in self._rights[:len(self)]),
            "stereo_calibration": None if calib is None else {"baseline_m": calib.baseline_m,
                                                              "doffs_px": calib.doffs_px,
                                                              "source": calib.source},
            "gt_depth": self.has_gt_depth,
            "gt_frames": sum(g is not None for g in self._gts[:len(self)]),
        }
        summary.update(self._details())
        return summary

    def _details(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        """Release what the source holds open (a video capture, caches)."""

    def __enter__(self) -> SequenceBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- KITTI ----------------------------------------------------------------------------------------------------

_ODOMETRY_CAMERAS = (("image_2", "image_3", "P2", "P3", "colour"), ("image_0", "image_1", "P0", "P1", "grey"))


def is_kitti_numbered(folder: Path) -> bool:
    """A folder of KITTI frames named by number only (`000123.png`): unlike KITTI 2015's `000000_10.png`."""
    if not folder.is_dir():
        return False
    images = images_in(folder)
    return bool(images) and _frame_numbers(images) is not None


class KittiOdometrySequence(SequenceBase):
    """KITTI odometry `dataset/sequences/NN/`: the colour pair (image_2/3) when present, else the grey (image_0/1).

    The poses file holds T_world_cam0 (left grey camera); for the colour camera the rectified offset of P2
    is applied: T_world_cam2 = T_world_cam0 @ T_cam0_cam2.
    """

    layout = "kitti_odometry"

    def __init__(self, root: Path) -> None:
        left, right, key_left, key_right, kind = next(c for c in _ODOMETRY_CAMERAS if is_kitti_numbered(root / c[0]))
        paths = images_in(root / left)
        rows = _frame_numbers(paths) or list(range(len(paths)))
        rights = [p if p.is_file() else None for p in (root / right / q.name for q in paths)]
        self.camera = f"{left} ({kind}); right {right}"
        times_file, why_times = _one_beside(root, "times.txt", "times*.txt")
        times = _per_row(times_file, read_times_file(times_file), rows, "times") if times_file else None
        super().__init__(root, paths, rights=rights, times=times, fps=fps_from_times(times), rows=rows)
        self._times_note = f"from {times_file.name}" if times_file else f"missing: {why_times}"

        calib, why_calib = _one_beside(root, "calib.txt", "calib*.txt")
        T_cam0_cam = np.eye(4)
        if calib is not None:
            P_left = projection_matrix(calib, key_left)
            if P_left is None:
                raise CalibrationError(f"missing key '{key_left}' (the {kind} camera's projection)", calib)
            self.K = check_intrinsics(P_left[:, :3], calib)
            T_cam0_cam = rectified_camera_offset(P_left)
            self.intrinsics_note = f"from {calib.name} ({key_left})"
            if projection_matrix(calib, key_right) is not None:
                self.stereo_calibration = read_kitti_projections(calib, key_left, key_right)
        else:
            self.intrinsics_note = f"missing: {why_calib}; {INTRINSICS_OPTION}"

        official = root.parent.parent / "poses" / f"{root.name}.txt"
        poses_file, why_poses = (official, "") if official.is_file() else _one_beside(root, "poses.txt", "poses*.txt")
        if poses_file is not None:
            poses = read_kitti_poses(poses_file)
            check_pose_count(poses_file, len(poses), max(rows) + 1)
            self._poses = [p @ T_cam0_cam for p in poses[rows]]
            converted = f", converted from camera 0 with {key_left}'s offset" if key_left != "P0" else ""
            self.poses_note = f"from {poses_file} (KITTI, T_world_cam0{converted})"
        else:
            self.poses_note = (f"missing: no {official} (KITTI publishes poses for sequences 00-10 only) and "
                               f"{why_poses}; {POSES_OPTION}")

    def _details(self) -> dict[str, Any]:
        return {"camera": self.camera, "timestamps": self._times_note}


def raw_drive_camera(root: Path) -> tuple[str, str, str, str] | None:
    for left, right, kind in (("image_02", "image_03", "colour"), ("image_00", "image_01", "grey")):
        if (root / left / "data").is_dir():
            return left, right, kind, left[-2:] + "/" + right[-2:]
    return None


class KittiRawSequence(SequenceBase):
    """A KITTI raw drive `YYYY_MM_DD_drive_NNNN_sync/` (colour image_02/03, else grey image_00/01).

    Calibration `calib_cam_to_cam.txt` in the date folder above or beside; GT depth from the depth completion
    benchmark's `proj_depth/groundtruth/image_02/` inside the drive folder. No poses: OXTS is not read.
    """

    layout = "kitti_raw"

    def __init__(self, root: Path) -> None:
        found = raw_drive_camera(root)
        if found is None:
            raise InputError("not a KITTI raw drive: no image_02/data or image_00/data", root)
        left, right, kind, pair = found
        paths = images_in(root / left / "data")
        if not paths:
            raise InputError(f"{left}/data holds no images", root)
        rows = _frame_numbers(paths) or list(range(len(paths)))
        rights = [p if p.is_file() else None for p in (root / right / "data" / q.name for q in paths)]
        gt_dir = root / "proj_depth" / "groundtruth" / left
        gts = [p if p.is_file() else None for p in (gt_dir / q.name for q in paths)]
        stamps = root / left / "timestamps.txt"
        times = _per_row(stamps, read_kitti_raw_timestamps(stamps), rows, "timestamps") \
            if stamps.is_file() else None
        super().__init__(root, paths, rights=rights, gts=gts, times=times, fps=fps_from_times(times), rows=rows)
        self.camera = f"{left} ({kind}); right {right}"
        self._times_note = f"from {left}/timestamps.txt (POSIX seconds, read as UTC)" if times is not None \
            else f"missing: no {left}/timestamps.txt"

        calib = next((p for p in (root.parent / "calib_cam_to_cam.txt", root / "calib_cam_to_cam.txt")
                      if p.is_file()), None)
        if calib is not None:
            left_key, right_key = pair.split("/")
            self.stereo_calibration = read_kitti_cam_to_cam(calib, left_key, right_key)
            self.K = self.stereo_calibration.K.copy()
            self.intrinsics_note = f"from {calib} (P_rect_{left_key})"
        else:
            self.intrinsics_note = (f"missing: no calib_cam_to_cam.txt in {root.parent} (the date folder) or "
                                    f"{root}; {INTRINSICS_OPTION}")
        self.poses_note = ("missing: KITTI raw poses come from OXTS GPS/IMU, which this reader does not convert "
                           f"(out of scope); {POSES_OPTION}")

    def _read_gt(self, index: int, size_hw: tuple[int, int]) -> np.ndarray | None:
        path = self._gts[index]
        if path is None:
            return None
        depth = read_kitti_depth(path)
        if depth.shape != size_hw:
            raise InputError(f"GT depth is {depth.shape[1]}x{depth.shape[0]} but the image is "
                             f"{size_hw[1]}x{size_hw[0]}", path)
        return depth

    def _details(self) -> dict[str, Any]:
        return {"camera": self.camera, "timestamps": self._times_note}


# --- ScanNet --------------------------------------------------------------------------------------------------

class ScanNetSequence(SequenceBase):
    """A ScanNet scene as exported by its SensReader: `color/N.jpg`, `depth/N.png` (mm), `pose/N.txt`,
    `intrinsic/intrinsic_color.txt`.

    Served at the colour resolution with the colour camera's K; the depth GT (640x480) is resized to it with
    nearest neighbour, which assumes both cameras share a field of view (ScanNet registers depth to colour).
    Without intrinsic_color.txt, intrinsic_depth.txt scaled to the colour size is used.
    """

    layout = "scannet"

    def __init__(self, root: Path) -> None:
        paths = images_in(root / "color")
        if not paths:
            raise InputError("color/ holds no images", root)
        gts = [p if p.is_file() else None for p in (root / "depth" / f"{q.stem}.png" for q in paths)]
        super().__init__(root, paths, gts=gts)
        pose_files = [root / "pose" / f"{p.stem}.txt" for p in paths]
        self._poses = [read_pose_matrix_file(p) if p.is_file() else None for p in pose_files]
        missing = sum(not p.is_file() for p in pose_files)
        invalid = sum(pose is None for pose in self._poses) - missing
        if missing == len(paths):
            self.poses_note = f"missing: no pose/N.txt files; {POSES_OPTION}"
        else:
            gaps = [f"{invalid} marked invalid (-inf)" if invalid else "",
                    f"{missing} without a file" if missing else ""]
            gaps_text = " and ".join(g for g in gaps if g)
            self.poses_note = "from pose/N.txt (camera-to-world)" + (
                f"; {gaps_text}: those frames have no pose" if gaps_text else "")
        self._intrinsics(root)

    def _intrinsics(self, root: Path) -> None:
        colour, depth = root / "intrinsic" / "intrinsic_color.txt", root / "intrinsic" / "intrinsic_depth.txt"
        if colour.is_file():
            self.K = check_intrinsics(read_matrix_file(colour)[:3, :3], colour)
            self.intrinsics_note = "from intrinsic/intrinsic_color.txt"
        elif depth.is_file() and self._gts[0] is not None:
            K = check_intrinsics(read_matrix_file(depth)[:3, :3], depth)
            width, height = self.image_size()
            depth_hw = read_image_unchanged(self._gts[0]).shape[:2]
            sx, sy = width / depth_hw[1], height / depth_hw[0]
            # Scale about pixel centres: a pixel's centre x maps to (x + 0.5) * s - 0.5.
            self.K = np.array([[K[0, 0] * sx, K[0, 1] * sx, (K[0, 2] + 0.5) * sx - 0.5],
                               [0.0, K[1, 1] * sy, (K[1, 2] + 0.5) * sy - 0.5], [0.0, 0.0, 1.0]])
            self.intrinsics_note = (f"from intrinsic/intrinsic_depth.txt scaled from {depth_hw[1]}x{depth_hw[0]} to "
                                    f"{width}x{height} (no intrinsic_color.txt)")
        else:
            self.intrinsics_note = f"missing: no intrinsic/intrinsic_color.txt; {INTRINSICS_OPTION}"

    def _read_gt(self, index: int, size_hw: tuple[int, int]) -> np.ndarray | None:
        path = self._gts[index]
        if path is None:
            return None
        depth = read_depth_png_mm(path)
        if depth.shape != size_hw:
            depth = cv2.resize(depth, (size_hw[1], size_hw[0]), interpolation=cv2.INTER_NEAREST)
        return depth
