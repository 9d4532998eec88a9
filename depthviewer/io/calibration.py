"""Read rectified stereo calibration from the KITTI and Middlebury file formats, or build it from values.

Formats:
- KITTI raw / KITTI 2015 `calib_cam_to_cam.txt`: lines `P_rect_02: 12 numbers` (3x4, row-major) per camera.
- KITTI 2012 `calib/NNNNNN.txt`, KITTI odometry and object `calib.txt`: lines `P0: 12 numbers` .. `P3: ...`.
- Middlebury 2014 / MiddEval3 `calib.txt`: `cam0=[f 0 cx; 0 f cy; 0 0 1]`, `cam1=[...]`, `doffs=`, `baseline=` (mm),
  `width=`, `height=`, `ndisp=`, ...

For two rectified projection matrices P = K [I | t] of the same K, the baseline is
(P_left[0, 3] - P_right[0, 3]) / fx, and the principal points may differ only in x: that difference is doffs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from depthviewer.errors import CalibrationError
from depthviewer.types import StereoCalibration

ACCEPTED_FORMATS = (
    "KITTI raw / KITTI 2015 calib_cam_to_cam (lines 'P_rect_02: ...', 'P_rect_03: ...')",
    "KITTI 2012 / odometry calib.txt (lines 'P2: ...', 'P3: ...', or 'P0: ...', 'P1: ...')",
    "Middlebury 2014 calib.txt ('cam0=[f 0 cx; 0 f cy; 0 0 1]', 'doffs=', 'baseline=' in mm)",
)


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise CalibrationError("calibration file not found" if not path.exists() else "not a file", path)
    try:
        # utf-8-sig drops a byte-order mark that Windows editors add; bad bytes only matter if they are in a value.
        return path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise CalibrationError(f"cannot read the calibration file ({exc.strerror or exc})", path) from exc


def _numbers(path: Path, key: str, text: str, count: int) -> np.ndarray:
    tokens = text.split()
    if len(tokens) != count:
        noun = "number" if count == 1 else "numbers"
        raise CalibrationError(f"'{key}' must have {count} {noun}, found {len(tokens)}", path)
    try:
        values = np.array([float(token) for token in tokens], dtype=np.float64)
    except ValueError:
        raise CalibrationError(f"'{key}' has a value that is not a number: {text.strip()!r}", path) from None
    if not np.all(np.isfinite(values)):
        raise CalibrationError(f"'{key}' has a value that is not finite: {text.strip()!r}", path)
    return values


def _entries(text: str, separator: str) -> dict[str, str]:
    """Lines `key<separator>value`; comments (#) and lines without the separator are skipped."""
    entries: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or separator not in line:
            continue
        key, value = line.split(separator, 1)
        entries.setdefault(key.strip(), value.strip())
    return entries


def _require(path: Path, entries: dict[str, str], key: str) -> str:
    if key not in entries:
        raise CalibrationError(f"missing key '{key}'", path)
    return entries[key]


def _check_intrinsics(path: Path, key: str, K: np.ndarray) -> None:
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise CalibrationError(f"'{key}': focal length must be positive, got fx={K[0, 0]:g}, fy={K[1, 1]:g}", path)
    if not np.allclose(K[2], [0.0, 0.0, 1.0], atol=1e-6) or K[1, 0] != 0:
        raise CalibrationError(f"'{key}' is not a rectified camera matrix [fx s cx; 0 fy cy; 0 0 1]", path)


def _from_projections(path: Path, entries: dict[str, str], left_key: str, right_key: str) -> StereoCalibration:
    P_left = _numbers(path, left_key, _require(path, entries, left_key), 12).reshape(3, 4)
    P_right = _numbers(path, right_key, _require(path, entries, right_key), 12).reshape(3, 4)
    K = P_left[:, :3]
    _check_intrinsics(path, left_key, K)
    _check_intrinsics(path, right_key, P_right[:, :3])
    K_right = P_right[:, :3]
    same = np.isclose(K_right[0, 0], K[0, 0], rtol=1e-4) and np.isclose(K_right[1, 1], K[1, 1], rtol=1e-4)
    if not same or not np.isclose(K_right[1, 2], K[1, 2], rtol=1e-4, atol=1e-3):
        raise CalibrationError(f"'{left_key}' and '{right_key}' differ in focal length or cy: "
                               "they are not a rectified stereo pair", path)
    fx = K[0, 0]
    baseline_m = (P_left[0, 3] - P_right[0, 3]) / fx
    if baseline_m <= 0:
        raise CalibrationError(f"baseline from '{left_key}'/'{right_key}' is {baseline_m:.4f} m, not positive: "
                               f"is '{right_key}' really the camera to the right of '{left_key}'?", path)
    return StereoCalibration(K=K, baseline_m=float(baseline_m), doffs_px=float(K_right[0, 2] - K[0, 2]),
                             source=str(path))


def read_kitti_cam_to_cam(path: str | Path, left: str = "02", right: str = "03") -> StereoCalibration:
    """Read a KITTI raw / KITTI 2015 `calib_cam_to_cam` file, using `P_rect_<left>` and `P_rect_<right>`.

    Cameras 02/03 are the colour pair (KITTI 2015 `image_2`/`image_3`), 00/01 the grayscale pair.
    """
    path = Path(path)
    entries = _entries(_read_text(path), ":")
    return _from_projections(path, entries, f"P_rect_{left}", f"P_rect_{right}")


def read_kitti_projections(path: str | Path, left: str = "P2", right: str = "P3") -> StereoCalibration:
    """Read a KITTI 2012 `calib/NNNNNN.txt` or odometry `calib.txt` (lines `P0:` .. `P3:`).

    P2/P3 are the colour pair (`colored_0`/`colored_1`), P0/P1 the grayscale pair (`image_0`/`image_1`).
    """
    path = Path(path)
    entries = _entries(_read_text(path), ":")
    return _from_projections(path, entries, left, right)


def _middlebury_matrix(path: Path, key: str, text: str) -> np.ndarray:
    text = text.strip()
    if not (text.startswith("[") and text.endswith("]")):
        raise CalibrationError(f"'{key}' must be a matrix '[a b c; d e f; g h i]', got {text!r}", path)
    rows = text[1:-1].split(";")
    if len(rows) != 3:
        raise CalibrationError(f"'{key}' must have 3 rows separated by ';', found {len(rows)}", path)
    return np.stack([_numbers(path, key, row, 3) for row in rows])


def _middlebury_entries(path: Path) -> dict[str, str]:
    return _entries(_read_text(path), "=")


def read_middlebury_calib(path: str | Path) -> StereoCalibration:
    """Read a Middlebury 2014 / MiddEval3 `calib.txt`: K = cam0, baseline_m = baseline / 1000, doffs_px = doffs."""
    path = Path(path)
    entries = _middlebury_entries(path)
    K = _middlebury_matrix(path, "cam0", _require(path, entries, "cam0"))
    _check_intrinsics(path, "cam0", K)
    baseline_mm = _numbers(path, "baseline", _require(path, entries, "baseline"), 1)[0]
    if baseline_mm <= 0:
        raise CalibrationError(f"'baseline' must be positive, got {baseline_mm:g} mm", path)
    doffs = _numbers(path, "doffs", _require(path, entries, "doffs"), 1)[0]
    return StereoCalibration(K=K, baseline_m=float(baseline_mm) / 1000.0, doffs_px=float(doffs), source=str(path))


def middlebury_image_size(path: str | Path) -> tuple[int, int] | None:
    """The (width, height) a Middlebury `calib.txt` is for, or None when it does not say.

    Full, half and quarter size (MiddEval3 F/H/Q) have different calib.txt files; a mismatch with the
    images means the wrong one was used.
    """
    path = Path(path)
    entries = _middlebury_entries(path)
    if "width" not in entries or "height" not in entries:
        return None
    size = []
    for key in ("width", "height"):
        value = _numbers(path, key, entries[key], 1)[0]
        if value <= 0 or value != int(value):
            raise CalibrationError(f"'{key}' must be a positive integer, got {entries[key]!r}", path)
        size.append(int(value))
    return size[0], size[1]


def calibration_from_values(fx_px: float, baseline_m: float, cx_px: float, cy_px: float,
                            fy_px: float | None = None, doffs_px: float = 0.0,
                            source: str = "options") -> StereoCalibration:
    """Build a calibration from numbers given by the user (fy defaults to fx)."""
    fy = fx_px if fy_px is None else fy_px
    K = np.array([[fx_px, 0.0, cx_px], [0.0, fy, cy_px], [0.0, 0.0, 1.0]], dtype=np.float64)
    return StereoCalibration(K=K, baseline_m=float(baseline_m), doffs_px=float(doffs_px), source=source)


_Reader = Callable[[Path], StereoCalibration]


def _has_key(text: str, key: str, separator: str) -> bool:
    return re.search(rf"^\s*{re.escape(key)}\s*{re.escape(separator)}", text, flags=re.MULTILINE) is not None


def _detect(path: Path) -> tuple[str, _Reader]:
    text = _read_text(path)
    if _has_key(text, "P_rect_02", ":"):
        return "KITTI calib_cam_to_cam (P_rect_02/P_rect_03)", read_kitti_cam_to_cam
    if _has_key(text, "P2", ":"):
        return "KITTI projections (P2/P3)", read_kitti_projections
    if _has_key(text, "P0", ":"):
        return "KITTI projections (P0/P1)", lambda p: read_kitti_projections(p, "P0", "P1")
    if _has_key(text, "cam0", "="):
        return "Middlebury calib.txt", read_middlebury_calib
    raise CalibrationError("unknown calibration format; accepted formats: " + "; ".join(ACCEPTED_FORMATS), path)


def calibration_format(path: str | Path) -> str:
    """Name the format (and the cameras) that read_calibration_file will use for this file."""
    return _detect(Path(path))[0]


def read_calibration_file(path: str | Path) -> StereoCalibration:
    """Read any supported calibration file, recognising the format from its content.

    KITTI files with P2 use the colour pair P2/P3; files with only P0/P1 (grayscale) use those.
    """
    path = Path(path)
    return _detect(path)[1](path)
