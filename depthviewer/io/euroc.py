"""The EuRoC MAV sequence layout (ASL format): its `sensor.yaml` calibration, stereo rectification, ground truth.

Layout: `mav0/cam0/data/<timestamp_ns>.png`, `mav0/cam0/data.csv` (`timestamp_ns,filename`), `mav0/cam0/sensor.yaml`
(`intrinsics: [fu, fv, cu, cv]`, radial-tangential `distortion_coefficients`, `T_BS` camera-to-body), the same for
cam1, and the ground truth `mav0/state_groundtruth_estimate0/data.csv` (body pose, ns).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from depthviewer.errors import CalibrationError, InputError
from depthviewer.io.images import read_rgb
from depthviewer.io.poses import nearest_samples, read_euroc_groundtruth, read_text_lines, read_tum_trajectory
from depthviewer.io.sequence_layouts import POSES_OPTION, SequenceBase, check_intrinsics, images_in
from depthviewer.types import StereoCalibration

_COMMENT = re.compile(r"(^|\s)#.*$")


def _yaml_value(text: str) -> Any:
    def scalar(token: str) -> Any:
        token = token.strip().strip("'\"")
        try:
            return float(token)
        except ValueError:
            return token
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        return [scalar(t) for t in inner.split(",")] if inner else []
    return scalar(text)


def read_simple_yaml(path: Path) -> dict[str, Any]:
    """The YAML subset of EuRoC's `sensor.yaml`: `key: value` maps nested by indentation, flow lists `[a, b]`
    that may span lines, numbers and text, `#` comments, `%YAML` directives and `!!tags` (ignored)."""
    root: dict[str, Any] = {}
    stack: list[tuple[int, dict[str, Any]]] = [(-1, root)]
    pending: tuple[dict[str, Any], str, str] | None = None
    for number, raw in enumerate(read_text_lines(path, "YAML file"), start=1):
        line = _COMMENT.sub("", raw).rstrip()
        if pending is not None:
            parent, key, text = pending
            text += " " + line.strip()
            if text.count("[") == text.count("]"):
                parent[key], pending = _yaml_value(text), None
            else:
                pending = (parent, key, text)
            continue
        if not line.strip() or line.lstrip().startswith(("%", "---")):
            continue
        key, colon, value = line.strip().partition(":")
        if not colon:
            raise InputError(f"line {number}: not a 'key: value' line: {line.strip()!r}", path)
        indent = len(line) - len(line.lstrip())
        while stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        key, value = key.strip(), value.strip()
        if value.startswith("!!"):
            value = value.partition(" ")[2].strip()
        if not value:
            parent[key] = child = {}
            stack.append((indent, child))
        elif value.startswith("[") and value.count("[") != value.count("]"):
            pending = (parent, key, value)
        else:
            parent[key] = _yaml_value(value)
    if pending is not None:
        raise InputError(f"the list of '{pending[1]}' is not closed with ']'", path)
    return root


_MAX_SIDE_PX = 65535  # OpenCV's image sizes are C ints; no camera comes near this
_ROTATION_TOLERANCE = 1e-2

_EUROC_KEYS = ("T_BS", "resolution", "intrinsics", "distortion_model", "distortion_coefficients")


def _numbers_of(path: Path, data: dict[str, Any], key: str, count: int) -> np.ndarray:
    value = data[key]
    if isinstance(value, dict):  # T_BS: {cols: 4, rows: 4, data: [...]}
        value = value.get("data")
    if not isinstance(value, list) or len(value) != count or not all(isinstance(v, float) for v in value):
        raise CalibrationError(f"'{key}' must be a list of {count} numbers", path)
    values = np.array(value, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise CalibrationError(f"'{key}' has values that are not finite", path)
    return values


def _check_rigid(path: Path, T: np.ndarray) -> None:
    """CalibrationError unless T is [R | t; 0 0 0 1] with R a rotation (to the precision YAML files keep)."""
    R = T[:3, :3]
    with np.errstate(all="ignore"):  # huge values: the check below fails, no warning needed
        error = np.abs(R @ R.T - np.eye(3)).max()
        det = np.linalg.det(R)
    if not np.allclose(T[3], [0.0, 0.0, 0.0, 1.0]) or not error <= _ROTATION_TOLERANCE or not det > 0:
        raise CalibrationError("'T_BS' is not a rigid transform [R t; 0 0 0 1] with R a rotation", path)


class EurocCamera:
    """One camera of an EuRoC `sensor.yaml`: K, radial-tangential D, size (w, h), T_BS (camera-to-body)."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise InputError("missing: the camera's sensor.yaml (intrinsics, distortion, T_BS)", path)
        data = read_simple_yaml(path)
        missing = [key for key in _EUROC_KEYS if key not in data]
        if missing:
            raise InputError(f"not an EuRoC camera sensor.yaml: missing keys {', '.join(missing)}", path)
        model = str(data.get("camera_model", "pinhole"))
        distortion = str(data["distortion_model"])
        if model != "pinhole" or distortion not in ("radial-tangential", "radtan"):
            raise CalibrationError(f"camera model {model!r} with distortion {distortion!r} is not supported: "
                                   "only pinhole with radial-tangential (EuRoC's)", path)
        fu, fv, cu, cv = _numbers_of(path, data, "intrinsics", 4)
        self.K = check_intrinsics(np.array([[fu, 0.0, cu], [0.0, fv, cv], [0.0, 0.0, 1.0]]), path)
        self.D = _numbers_of(path, data, "distortion_coefficients", 4)
        width, height = _numbers_of(path, data, "resolution", 2)
        if not all(0 < v <= _MAX_SIDE_PX and v == int(v) for v in (width, height)):
            raise CalibrationError(f"'resolution' must be two whole numbers of pixels in 1..{_MAX_SIDE_PX}, "
                                   f"got {width:g} x {height:g}", path)
        self.size = (int(width), int(height))
        self.T_BS = _numbers_of(path, data, "T_BS", 16).reshape(4, 4)
        _check_rigid(path, self.T_BS)
        rate = data.get("rate_hz")
        self.rate_hz = float(rate) if isinstance(rate, float) and rate > 0 else None
        self.path = path


def _euroc_frames(cam: Path) -> tuple[list[int], list[Path], int]:
    """(timestamps ns, image paths, count listed in data.csv without an image file) of one EuRoC camera."""
    csv = cam / "data.csv"
    if not csv.is_file():
        paths = images_in(cam / "data") if (cam / "data").is_dir() else []
        if not all(p.stem.isdigit() for p in paths):
            raise InputError("without data.csv the images must be named by their timestamp in ns", cam / "data")
        return [int(p.stem) for p in paths], paths, 0
    stamps, paths, absent = [], [], 0
    for number, line in enumerate(read_text_lines(csv, "frame list"), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        stamp, _, name = (part.strip() for part in line.partition(","))
        if not stamp.isdigit() or not name:
            raise InputError(f"line {number}: expected 'timestamp_ns,filename', got {line!r}", csv)
        path = cam / "data" / name
        if path.is_file():
            stamps.append(int(stamp))
            paths.append(path)
        else:
            absent += 1
    return stamps, paths, absent


class EurocSequence(SequenceBase):
    """EuRoC MAV (ASL layout): cam0 undistorted and rectified against cam1; served images are the rectified ones.

    K and the StereoCalibration are the rectified cameras' (P1, P2 of cv2.stereoRectify, alpha = 0).
    Poses: the body pose of the ground truth (`state_groundtruth_estimate0/data.csv`, else one TUM
    `groundtruth*.txt` beside mav0) turned into the rectified cam0's: T_W_B @ T_B_cam0 @ [R1^T | 0].
    """

    layout = "euroc"

    def __init__(self, root: Path) -> None:
        mav = root / "mav0" if (root / "mav0").is_dir() else root
        cam0 = EurocCamera(mav / "cam0" / "sensor.yaml")
        stamps, paths, absent = _euroc_frames(mav / "cam0")
        if not paths:
            raise InputError("cam0 has no images (cam0/data/*.png listed in cam0/data.csv)", mav)
        self._absent = absent
        cam1 = EurocCamera(mav / "cam1" / "sensor.yaml") if (mav / "cam1").is_dir() else None
        rights: list[Path | None] = [None] * len(paths)
        if cam1 is not None:
            stamps1, paths1, _ = _euroc_frames(mav / "cam1")
            by_stamp = dict(zip(stamps1, paths1))
            rights = [by_stamp.get(s) for s in stamps]
        times = [s * 1e-9 for s in stamps]
        super().__init__(root, paths, rights=rights, times=times, fps=cam0.rate_hz)
        self.size = cam0.size
        self._rectify(cam0, cam1)
        self._load_poses(root, mav, cam0, np.array(times))

    def _rectify(self, cam0: EurocCamera, cam1: EurocCamera | None) -> None:
        if cam1 is None:
            P1, _ = cv2.getOptimalNewCameraMatrix(cam0.K, cam0.D, cam0.size, 0.0)
            self.R1 = np.eye(3)
            self._maps = [cv2.initUndistortRectifyMap(cam0.K, cam0.D, None, P1, cam0.size, cv2.CV_32FC1)]
            self.K = check_intrinsics(P1, cam0.path)
            self.intrinsics_note = f"undistorted cam0 from {cam0.path} (no cam1: not rectified)"
            return
        if cam1.size != cam0.size:
            raise CalibrationError(f"cam1 is {cam1.size[0]}x{cam1.size[1]} but cam0 {cam0.size[0]}x{cam0.size[1]}",
                                   cam1.path)
        T_cam0_cam1 = np.linalg.inv(cam0.T_BS) @ cam1.T_BS
        T_cam1_cam0 = np.linalg.inv(T_cam0_cam1)  # stereoRectify wants the motion of points from cam0 to cam1
        R1, R2, P1, P2, *_ = cv2.stereoRectify(cam0.K, cam0.D, cam1.K, cam1.D, cam0.size, T_cam1_cam0[:3, :3],
                                               T_cam1_cam0[:3, 3:4], flags=cv2.CALIB_ZERO_DISPARITY, alpha=0)
        self.R1 = R1
        self._maps = [cv2.initUndistortRectifyMap(cam0.K, cam0.D, R1, P1, cam0.size, cv2.CV_32FC1),
                      cv2.initUndistortRectifyMap(cam1.K, cam1.D, R2, P2, cam1.size, cv2.CV_32FC1)]
        self.K = check_intrinsics(P1[:, :3], cam0.path)
        self.stereo_calibration = StereoCalibration(
            K=self.K, baseline_m=float(-P2[0, 3] / P2[0, 0]), doffs_px=float(P2[0, 2] - P1[0, 2]),
            source=f"rectified from {cam0.path} and {cam1.path}")
        self.intrinsics_note = f"rectified cam0 (from {cam0.path.parent.name}/ and {cam1.path.parent.name}/sensor.yaml)"

    def _load_poses(self, root: Path, mav: Path, cam0: EurocCamera, frame_times: np.ndarray) -> None:
        official = mav / "state_groundtruth_estimate0" / "data.csv"
        folders = dict.fromkeys(p for p in (root, mav, mav.parent) if p.is_dir())
        beside = sorted({p for folder in folders for p in folder.glob("groundtruth*.txt") if p.is_file()})
        if official.is_file():
            source, (traj_times, T_world_body) = official, read_euroc_groundtruth(official)
        elif len(beside) == 1:
            source, (traj_times, T_world_body) = beside[0], read_tum_trajectory(beside[0])
        else:
            several = f"several groundtruth*.txt ({', '.join(p.name for p in beside)}): keep one, or " if beside \
                else "no mav0/state_groundtruth_estimate0/data.csv or groundtruth*.txt beside mav0; "
            self.poses_note = f"missing: {several}{POSES_OPTION}"
            return
        T_cam0_rect = np.eye(4)
        T_cam0_rect[:3, :3] = self.R1.T
        index, gap = nearest_samples(frame_times, traj_times)
        max_gap = self._max_gap_s()
        self._poses = [T_world_body[i] @ cam0.T_BS @ T_cam0_rect if g <= max_gap else None
                       for i, g in zip(index, gap)]
        unmatched = sum(p is None for p in self._poses)
        self.poses_note = (f"from {source} (body pose; rectified cam0 = T_W_B @ T_BS(cam0) @ rectification)"
                           + (f"; {unmatched} of {len(self._poses)} frames have no ground-truth sample within "
                              f"{max_gap:g} s and no pose" if unmatched else ""))

    def _read_views(self, index: int) -> tuple[np.ndarray, np.ndarray | None]:
        views = []
        for path, maps in zip((self._paths[index], self._rights[index]), self._maps):
            if path is None:
                views.append(None)
                continue
            raw = read_rgb(path)
            if (raw.shape[1], raw.shape[0]) != self.size:
                raise InputError(f"the image is {raw.shape[1]}x{raw.shape[0]} but sensor.yaml says "
                                 f"{self.size[0]}x{self.size[1]}", path)
            views.append(cv2.remap(raw, maps[0], maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT))
        return views[0], (views[1] if len(views) > 1 else None)

    def image_size(self) -> tuple[int, int]:
        return self.size

    def _details(self) -> dict[str, Any]:
        return {"rectified": len(self._maps) == 2, "frames_listed_without_image": self._absent}
