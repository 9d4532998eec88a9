"""Property-based tests of every file parser: arbitrary and mutated input parses or raises the project's own
error (a DepthViewerError subclass whose message names the file), never anything else; valid files written
from random values read back as those values.

Mutations work on valid files: text formats get tokens replaced by numbers parsers trip on (nan, 1e999,
subnormals, Unicode digits), lines deleted or repeated, cuts; binary formats get bytes changed, inserted, cut,
with PNG chunk checksums repaired so the mutation reaches the decoder instead of stopping at the CRC check.
"""

from __future__ import annotations

import io
import json
import os
import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from depthviewer.backends.checkpoints import load_state_dict_file, vet_export_archive, vet_torchscript_archive
from depthviewer.errors import DepthViewerError
from depthviewer.io.calibration import (
    calibration_format,
    middlebury_image_size,
    read_calibration_file,
    read_kitti_cam_to_cam,
    read_kitti_projections,
    read_middlebury_calib,
)
from depthviewer.io.depth_png import read_depth_png_mm
from depthviewer.io.euroc import EurocCamera, read_simple_yaml
from depthviewer.io.image_header import declared_size
from depthviewer.io.images import read_rgb
from depthviewer.io.kitti_png import read_kitti_depth, read_kitti_disparity, write_kitti_depth, write_kitti_disparity
from depthviewer.io.pfm import read_pfm, write_pfm
from depthviewer.io.ply import read_ply, write_ply
from depthviewer.io.poses import (
    read_euroc_groundtruth,
    read_kitti_poses,
    read_kitti_raw_timestamps,
    read_pose_file,
    read_pose_matrix_file,
    read_times_file,
    read_tum_trajectory,
)
from depthviewer.io.sequence_layouts import read_matrix_file
from depthviewer.io.sequences import read_intrinsics

# DEPTHVIEWER_FUZZ_EXAMPLES=5000 fuzzes longer (the default keeps the file under ~20 s on 2 shared cores).
_EXAMPLES = int(os.environ.get("DEPTHVIEWER_FUZZ_EXAMPLES", "100"))
FUZZ = settings(max_examples=_EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
FEW = settings(FUZZ, max_examples=max(_EXAMPLES * 2 // 5, 1))

# Tokens that number parsers trip on.
NASTY_TOKENS = ("nan", "NaN", "inf", "-inf", "1e999", "-1e999", "1e308", "-1e308", "1e-320", "0", "-0", "-1",
                "", "abc", "[", "]", ";", ":", "=", ",", "#", "0x1A", "1_000", "\u0663", "\u00b2", "\x00", "\ufeff",
                "99999999999999999999999", "4294967296", "65536", "-2147483649", "1.5", "\n", "P2:", "cam0=")


# ---- the property: parse, or the project's error naming the file ---------------------------------------------


def parse_or_refuse(reader: Callable[[Path], Any], path: Path) -> Any:
    """reader(path), or None when it raised a DepthViewerError with a message naming `path`.

    Any other exception propagates and fails the test: that is the bug this file looks for.
    """
    try:
        return reader(path)
    except DepthViewerError as exc:
        assert exc.reason.strip(), f"empty message from {reader.__name__}"
        assert str(path) in str(exc), f"{reader.__name__}: the message does not name the file: {exc}"
        return None


# ---- mutations ------------------------------------------------------------------------------------------------


@st.composite
def mutated_text(draw: st.DrawFn, valid: str) -> str:
    """`valid` with 1-4 edits: a token replaced, a line deleted or repeated, text inserted, the end cut."""
    text = valid
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(("token", "token", "token", "delete_line", "repeat_line", "insert", "cut")))
        tokens = list(re.finditer(r"\S+", text))
        lines = text.splitlines(keepends=True)
        if op == "token" and tokens:
            span = draw(st.sampled_from(tokens)).span()
            new = draw(st.one_of(st.sampled_from(NASTY_TOKENS), st.text(max_size=6)))
            text = text[:span[0]] + new + text[span[1]:]
        elif op == "delete_line" and lines:
            del lines[draw(st.integers(0, len(lines) - 1))]
            text = "".join(lines)
        elif op == "repeat_line" and lines:
            line = draw(st.sampled_from(lines))
            lines.insert(draw(st.integers(0, len(lines))), line if line.endswith("\n") else line + "\n")
            text = "".join(lines)
        elif op == "insert":
            at = draw(st.integers(0, len(text)))
            text = text[:at] + draw(st.text(max_size=12)) + text[at:]
        elif op == "cut":
            text = text[:draw(st.integers(0, len(text)))]
    return text


_INTERESTING_U32 = (0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 20000, 65535, 65536)


@st.composite
def mutated_bytes(draw: st.DrawFn, valid: bytes) -> bytes:
    """`valid` with 1-4 edits: a byte changed, bytes inserted or deleted, a 32-bit field set to an edge value,
    the end cut."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(("byte", "byte", "insert", "delete", "u32", "cut")))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "byte" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and data:
            del data[at:at + draw(st.integers(1, 16))]
        elif op == "u32":
            order = draw(st.sampled_from((">", "<")))
            data[at:at + 4] = struct.pack(order + "I", draw(st.sampled_from(_INTERESTING_U32)))
        elif op == "cut":
            del data[at:]
    return bytes(data)


def repair_png_crcs(data: bytes) -> bytes:
    """Recompute each chunk's CRC so a mutated PNG reaches the decoder's parsing, not its checksum test."""
    out, i = bytearray(data[:8]), 8
    while i + 8 <= len(data):
        length = struct.unpack(">I", data[i:i + 4])[0]
        end = i + 8 + length
        if end + 4 > len(data):
            out += data[i:]
            return bytes(out)
        body = data[i + 4:end]
        out += data[i:end] + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
        i = end + 4
    out += data[i:]
    return bytes(out)


def any_bytes_or_mutated(valid: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=512), mutated_bytes(valid))


def any_text_or_mutated(valid: str) -> st.SearchStrategy[str]:
    return st.one_of(st.text(max_size=300), mutated_text(valid))


def write_text(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    return path


# ---- PFM ------------------------------------------------------------------------------------------------------

finite_f32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


class TestPfm:
    @FUZZ
    @given(values=hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=2, max_side=12),
                             elements=st.floats(width=32)),
           colour=st.booleans())
    def test_round_trip(self, tmp_path: Path, values: np.ndarray, colour: bool) -> None:
        if colour:
            values = np.stack([values, -values, values[::-1]], axis=2)
        path = tmp_path / "rt.pfm"
        write_pfm(path, values)
        np.testing.assert_array_equal(read_pfm(path), values)

    @FUZZ
    @given(data=any_bytes_or_mutated(b"Pf\n3 2\n-1.0\n" + np.arange(6, dtype="<f4").tobytes())
           | any_bytes_or_mutated(b"PF 2 1 1.0\n" + np.arange(6, dtype=">f4").tobytes())
           | mutated_text("Pf\n3 2\n-1.0\n").map(lambda t: t.encode("utf-8", "surrogatepass") + bytes(24)))
    def test_bad_bytes(self, tmp_path: Path, data: bytes) -> None:
        path = tmp_path / "x.pfm"
        path.write_bytes(data)
        result = parse_or_refuse(read_pfm, path)
        if result is not None:
            assert result.dtype == np.float32 and result.ndim in (2, 3) and result.size > 0


# ---- KITTI 16-bit PNG, millimetre depth PNG, images -----------------------------------------------------------


def _png(array: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", array)
    assert ok
    return encoded.tobytes()


_VALID_KITTI = _png(np.arange(12, dtype=np.uint16).reshape(3, 4) * 1000)
_OTHER_IMAGES = (_png(np.zeros((3, 4), np.uint8)), _png(np.zeros((3, 4, 3), np.uint16)),
                 _png(np.zeros((3, 4, 4), np.uint8)), cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes())


def png_mutations() -> st.SearchStrategy[bytes]:
    valid = st.sampled_from((_VALID_KITTI, *_OTHER_IMAGES))
    return st.one_of(st.binary(max_size=256), valid,
                     valid.flatmap(mutated_bytes), valid.flatmap(mutated_bytes).map(repair_png_crcs))


class TestKittiPng:
    @FUZZ
    @given(values=hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=16),
                             elements=st.floats(-10, 255.99) | st.just(np.nan) | st.just(np.inf)),
           depth=st.booleans())
    def test_round_trip_within_half_a_step(self, tmp_path: Path, values: np.ndarray, depth: bool) -> None:
        path = tmp_path / "rt.png"
        (write_kitti_depth if depth else write_kitti_disparity)(path, values)
        back = (read_kitti_depth if depth else read_kitti_disparity)(path)
        valid = np.isfinite(values) & (values > 0)
        assert back.dtype == np.float32 and back.shape == values.shape
        assert np.array_equal(np.isfinite(back), valid)
        small = valid & (values < 1 / 512)  # written as the smallest code, so it stays "valid"
        np.testing.assert_array_equal(back[small], np.float32(1 / 256))
        assert np.all(np.abs(back[valid & ~small] - values[valid & ~small]) <= 1 / 512 + 1e-6)

    @FUZZ
    @given(data=png_mutations())
    def test_bad_bytes(self, tmp_path: Path, data: bytes) -> None:
        path = tmp_path / "x.png"
        path.write_bytes(data)
        for reader in (read_kitti_disparity, read_kitti_depth, read_depth_png_mm):
            result = parse_or_refuse(reader, path)
            if result is not None:
                assert result.dtype == np.float32 and result.ndim == 2
                assert np.all(np.isnan(result) | (result > 0))
        rgb = parse_or_refuse(read_rgb, path)
        if rgb is not None:
            assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3

    @FUZZ
    @given(data=st.binary(max_size=64) | png_mutations())
    def test_declared_size_never_raises(self, data: bytes) -> None:
        size = declared_size(data)
        assert size is None or (len(size) == 2 and all(isinstance(v, int) and v >= 0 for v in size))


class TestImageHeader:
    @pytest.mark.parametrize("ext,params", [(".png", []), (".jpg", []), (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]),
                                            (".bmp", []), (".tiff", []), (".webp", []),
                                            (".webp", [cv2.IMWRITE_WEBP_QUALITY, 101])])
    def test_size_of_what_opencv_writes(self, ext: str, params: list[int]) -> None:
        ok, encoded = cv2.imencode(ext, np.zeros((37, 53, 3), np.uint8), params)
        assert ok and declared_size(encoded.tobytes()) == (53, 37)

    def test_a_jpeg_declaring_400_megapixels_is_refused_before_decoding(self, tmp_path: Path) -> None:
        data = bytearray(cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
        sof = data.index(b"\xff\xc0")
        data[sof + 5:sof + 9] = struct.pack(">HH", 20000, 20000)
        (tmp_path / "big.jpg").write_bytes(bytes(data))
        with pytest.raises(DepthViewerError, match=r"big\.jpg: image too large: 20000x20000 pixels"):
            read_rgb(tmp_path / "big.jpg")


# ---- calibration formats --------------------------------------------------------------------------------------


@st.composite
def stereo_values(draw: st.DrawFn) -> dict[str, float]:
    return {"fx": draw(st.floats(1.0, 5000.0)), "fy": draw(st.floats(1.0, 5000.0)),
            "cx": draw(st.floats(0.0, 4000.0)), "cy": draw(st.floats(0.0, 4000.0)),
            "baseline_m": draw(st.floats(0.01, 2.0)), "doffs": draw(st.floats(-300.0, 300.0)),
            "tx": draw(st.floats(-100.0, 100.0)), "width": draw(st.integers(1, 8000)),
            "height": draw(st.integers(1, 8000))}


def _row(values: np.ndarray) -> str:
    return " ".join(f"{v:.17g}" for v in np.ravel(values))


def _projections(v: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """P_left, P_right = K [I | t] of a rectified pair: the right camera `baseline_m` to the right."""
    left = np.array([[v["fx"], 0, v["cx"], v["tx"]], [0, v["fy"], v["cy"], 0], [0, 0, 1, 0]])
    right = left.copy()
    right[0, 2] += v["doffs"]
    right[0, 3] = v["tx"] - v["fx"] * v["baseline_m"]
    return left, right


def kitti_cam_to_cam_text(v: dict[str, float]) -> str:
    left, right = _projections(v)
    return (f"calib_time: 09-Jan-2012 13:57:47\nS_rect_02: {v['width']} {v['height']}\n"
            f"P_rect_02: {_row(left)}\nP_rect_03: {_row(right)}\n")


def kitti_projections_text(v: dict[str, float]) -> str:
    left, right = _projections(v)
    return f"P0: {_row(left)}\nP1: {_row(right)}\nP2: {_row(left)}\nP3: {_row(right)}\n"


def middlebury_text(v: dict[str, float]) -> str:
    return (f"cam0=[{v['fx']:.17g} 0 {v['cx']:.17g}; 0 {v['fy']:.17g} {v['cy']:.17g}; 0 0 1]\n"
            f"cam1=[{v['fx']:.17g} 0 {v['cx'] + v['doffs']:.17g}; 0 {v['fy']:.17g} {v['cy']:.17g}; 0 0 1]\n"
            f"doffs={v['doffs']:.17g}\nbaseline={v['baseline_m'] * 1000:.17g}\n"
            f"width={v['width']}\nheight={v['height']}\nndisp=290\n")


_CALIBRATION_FORMATS = {
    "kitti_cam_to_cam": (kitti_cam_to_cam_text, read_kitti_cam_to_cam),
    "kitti_projections": (kitti_projections_text, read_kitti_projections),
    "middlebury": (middlebury_text, read_middlebury_calib),
}
_EXAMPLE = {"fx": 721.5, "fy": 721.5, "cx": 609.5, "cy": 172.8, "baseline_m": 0.54, "doffs": 0.0, "tx": 44.8,
            "width": 1242, "height": 375}


class TestCalibration:
    @pytest.mark.parametrize("fmt", _CALIBRATION_FORMATS)
    @FUZZ
    @given(values=stereo_values())
    def test_round_trip(self, tmp_path: Path, fmt: str, values: dict[str, float]) -> None:
        write, read = _CALIBRATION_FORMATS[fmt]
        path = write_text(tmp_path / "calib.txt", write(values))
        for calibration in (read(path), read_calibration_file(path)):
            np.testing.assert_allclose(calibration.K, [[values["fx"], 0, values["cx"]], [0, values["fy"], values["cy"]],
                                                       [0, 0, 1]], rtol=1e-12)
            assert calibration.baseline_m == pytest.approx(values["baseline_m"], rel=1e-9)
            assert calibration.doffs_px == pytest.approx(values["doffs"], rel=1e-9, abs=1e-9)
        if fmt == "middlebury":
            assert middlebury_image_size(path) == (values["width"], values["height"])

    @pytest.mark.parametrize("fmt", _CALIBRATION_FORMATS)
    @FUZZ
    @given(data=st.data())
    def test_bad_text(self, tmp_path: Path, fmt: str, data: st.DataObject) -> None:
        write, read = _CALIBRATION_FORMATS[fmt]
        path = write_text(tmp_path / "calib.txt", data.draw(any_text_or_mutated(write(_EXAMPLE))))
        for reader in (read, read_calibration_file):
            calibration = parse_or_refuse(reader, path)
            if calibration is not None:
                assert np.all(np.isfinite(calibration.K)) and calibration.fx_px > 0 and calibration.fy_px > 0
                assert np.isfinite(calibration.baseline_m) and calibration.baseline_m > 0
                assert np.isfinite(calibration.doffs_px)
        parse_or_refuse(calibration_format, path)
        size = parse_or_refuse(middlebury_image_size, path)
        assert size is None or all(isinstance(s, int) and s > 0 for s in size)

    @FUZZ
    @given(text=any_text_or_mutated("458.654 0 367.215\n0 457.296 248.375\n0 0 1\n")
           | any_text_or_mutated(kitti_projections_text(_EXAMPLE)))
    def test_intrinsics_files(self, tmp_path: Path, text: str) -> None:
        path = write_text(tmp_path / "K.txt", text)
        found = parse_or_refuse(read_intrinsics, path)
        if found is not None:
            K = found[0]
            assert K.shape == (3, 3) and np.all(np.isfinite(K)) and K[0, 0] > 0 and K[1, 1] > 0
        matrix = parse_or_refuse(read_matrix_file, path)
        assert matrix is None or matrix.shape in ((3, 3), (4, 4))


_SENSOR_YAML = """%YAML:1.0
sensor_type: camera
comment: VI-Sensor cam0 (MT9M034)
T_BS:
  cols: 4
  rows: 4
  data: [0.0148655429818, -0.999880929698, 0.00414029679422, -0.0216401454975,
         0.999557249008, 0.0149672133247, 0.025715529948, -0.064676986768,
        -0.0257744366974, 0.00375618835797, 0.999660727178, 0.00981073058949,
         0.0, 0.0, 0.0, 1.0]
rate_hz: 20
resolution: [752, 480]
camera_model: pinhole
intrinsics: [458.654, 457.296, 367.215, 248.375] #fu, fv, cu, cv
distortion_model: radial-tangential
distortion_coefficients: [-0.28340811, 0.07395907, 0.00019359, 1.76187114e-05]
"""


class TestEurocSensorYaml:
    def test_the_example_parses(self, tmp_path: Path) -> None:
        camera = EurocCamera(write_text(tmp_path / "sensor.yaml", _SENSOR_YAML))
        assert camera.size == (752, 480) and camera.K[0, 0] == 458.654 and camera.rate_hz == 20

    @FUZZ
    @given(text=any_text_or_mutated(_SENSOR_YAML))
    def test_bad_text(self, tmp_path: Path, text: str) -> None:
        path = write_text(tmp_path / "sensor.yaml", text)
        data = parse_or_refuse(read_simple_yaml, path)
        assert data is None or isinstance(data, dict)
        camera = parse_or_refuse(EurocCamera, path)
        if camera is not None:
            assert np.all(np.isfinite(camera.K)) and camera.K[0, 0] > 0 and camera.K[1, 1] > 0
            assert all(0 < side <= 65535 for side in camera.size)
            R = camera.T_BS[:3, :3]
            assert np.allclose(R @ R.T, np.eye(3), atol=0.05) and np.linalg.det(R) > 0


# ---- poses and frame times ------------------------------------------------------------------------------------


def random_rotations(quaternions: np.ndarray) -> np.ndarray:
    q = quaternions / np.linalg.norm(quaternions, axis=1, keepdims=True)
    x, y, z, w = q.T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], axis=-1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], axis=-1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], axis=-1),
    ], axis=-2)


@st.composite
def trajectories(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times (N,) increasing, translations (N, 3), quaternions (N, 4) xyzw of norm ~1)."""
    n = draw(st.integers(1, 6))
    quaternions = draw(hnp.arrays(np.float64, (n, 4), elements=st.floats(-1, 1)))
    assume(np.all(np.linalg.norm(quaternions, axis=1) > 0.1))
    quaternions /= np.linalg.norm(quaternions, axis=1, keepdims=True)
    translations = draw(hnp.arrays(np.float64, (n, 3), elements=st.floats(-1e4, 1e4)))
    steps = draw(hnp.arrays(np.float64, n, elements=st.floats(1e-3, 10.0)))
    return draw(st.floats(0, 1e9)) + np.cumsum(steps), translations, quaternions


def _rigid(poses: np.ndarray) -> bool:
    R = poses[:, :3, :3]
    return bool(np.all(np.isfinite(poses)) and np.allclose(R @ np.swapaxes(R, 1, 2), np.eye(3), atol=0.05)
                and np.all(np.linalg.det(R) > 0))


_KITTI_POSES = "1 0 0 0 0 1 0 0 0 0 1 0\n1 0 0 0.1 0 1 0 0.2 0 0 1 0.86\n"
_TUM = "# t tx ty tz qx qy qz qw\n1.0 0 0 0 0 0 0 1\n1.05 0.1 0 0 0 0 0.0998 0.995\n"
_EUROC_GT = ("#timestamp, p_x, p_y, p_z, q_w, q_x, q_y, q_z, v_x, v_y, v_z, b_w_x, b_w_y, b_w_z, b_a_x, b_a_y, b_a_z\n"
             "1403715273262142976,0.878,2.142,0.947,0.060,-0.828,-0.058,-0.553,0.009,-0.004,0.006,-0.002,0.021,"
             "0.076,-0.025,0.136,0.076\n")
_MATRIX = "0.9 0.1 -0.4 1.5\n-0.1 0.99 0.0 2.0\n0.4 0.03 0.9 0.3\n0 0 0 1\n"
_TIMES = "0.000000e+00\n1.037359e-01\n2.073381e-01\n"
_RAW_STAMPS = "2011-09-26 13:02:25.964389445\n2011-09-26 13:02:26.068234540\n"


_POSES_OF: dict[Callable[[Path], Any], Callable[[Any], np.ndarray]] = {
    read_kitti_poses: lambda r: r, read_pose_file: lambda r: r.poses, read_tum_trajectory: lambda r: r[1],
    read_euroc_groundtruth: lambda r: r[1], read_pose_matrix_file: lambda r: r[None],
}


class TestPoses:
    @FUZZ
    @given(trajectory=trajectories())
    def test_kitti_round_trip(self, tmp_path: Path, trajectory: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        _, translations, quaternions = trajectory
        poses = np.tile(np.eye(4), (len(translations), 1, 1))
        poses[:, :3, :3] = random_rotations(quaternions)
        poses[:, :3, 3] = translations
        path = write_text(tmp_path / "poses.txt", "".join(_row(p[:3]) + "\n" for p in poses))
        np.testing.assert_allclose(read_kitti_poses(path), poses, rtol=1e-12, atol=1e-12)
        assert read_pose_file(path).format == "kitti"

    @FUZZ
    @given(trajectory=trajectories())
    def test_tum_round_trip(self, tmp_path: Path, trajectory: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        times, translations, quaternions = trajectory
        lines = [f"{t:.17g} {_row(p)} {_row(q)}\n" for t, p, q in zip(times, translations, quaternions)]
        path = write_text(tmp_path / "traj.txt", "".join(reversed(lines)))  # any order: the reader sorts
        read_times, poses = read_tum_trajectory(path)
        np.testing.assert_array_equal(read_times, times)
        np.testing.assert_allclose(poses[:, :3, 3], translations)
        np.testing.assert_allclose(poses[:, :3, :3], random_rotations(quaternions), atol=1e-9)

    @pytest.mark.parametrize("valid,reader", [
        (_KITTI_POSES, read_kitti_poses), (_TUM, read_tum_trajectory), (_KITTI_POSES, read_pose_file),
        (_TUM, read_pose_file), (_EUROC_GT, read_euroc_groundtruth), (_MATRIX, read_pose_matrix_file),
    ], ids=["kitti", "tum", "detect-kitti", "detect-tum", "euroc", "scannet-matrix"])
    @FUZZ
    @given(data=st.data())
    def test_bad_text(self, tmp_path: Path, valid: str, reader: Callable[[Path], Any], data: st.DataObject) -> None:
        path = write_text(tmp_path / "poses.txt", data.draw(any_text_or_mutated(valid)))
        result = parse_or_refuse(reader, path)  # None also when a ScanNet matrix is marked invalid (inf)
        if result is not None:
            assert _rigid(_POSES_OF[reader](result))

    @pytest.mark.parametrize("valid,reader", [(_TIMES, read_times_file), (_RAW_STAMPS, read_kitti_raw_timestamps)],
                             ids=["times", "kitti-raw-timestamps"])
    @FUZZ
    @given(data=st.data())
    def test_bad_times(self, tmp_path: Path, valid: str, reader: Callable[[Path], Any], data: st.DataObject) -> None:
        path = write_text(tmp_path / "times.txt", data.draw(any_text_or_mutated(valid)))
        times = parse_or_refuse(reader, path)
        assert times is None or (times.ndim == 1 and np.all(np.isfinite(times)))


# ---- PLY ------------------------------------------------------------------------------------------------------


class TestPly:
    @FUZZ
    @given(points=hnp.arrays(np.float32, st.tuples(st.integers(0, 40), st.just(3)), elements=finite_f32),
           with_colours=st.booleans(), binary=st.booleans(), seed=st.integers(0, 2**32 - 1),
           comments=st.lists(st.text(alphabet=st.characters(blacklist_characters="\r\n",
                                                            blacklist_categories=("Cs",)), max_size=20), max_size=3))
    def test_round_trip(self, tmp_path: Path, points: np.ndarray, with_colours: bool, binary: bool, seed: int,
                        comments: list[str]) -> None:
        colours = np.random.default_rng(seed).integers(0, 256, points.shape, np.uint8) if with_colours else None
        path = tmp_path / "cloud.ply"
        write_ply(path, points, colours, comments=comments, binary=binary)
        back, back_colours, back_comments = read_ply(path)
        np.testing.assert_array_equal(back, points)
        assert back.dtype == np.float32 and back.shape == points.shape
        if with_colours:
            np.testing.assert_array_equal(back_colours, colours)
        else:
            assert back_colours is None
        assert back_comments == [c.strip() for c in comments]

    @FUZZ
    @given(data=st.data(), binary=st.booleans())
    def test_bad_bytes(self, tmp_path: Path, data: st.DataObject, binary: bool) -> None:
        path = tmp_path / "cloud.ply"
        write_ply(path, np.arange(12, dtype=np.float32).reshape(4, 3), np.full((4, 3), 200, np.uint8),
                  comments=["frame 1"], binary=binary)
        valid = path.read_bytes()
        header_end = valid.index(b"end_header\n") + len(b"end_header\n")
        header = valid[:header_end].decode()
        mutated = data.draw(st.one_of(
            any_bytes_or_mutated(valid),
            mutated_text(header).map(lambda h: h.encode("utf-8", "surrogatepass") + valid[header_end:]),
        ))
        path.write_bytes(mutated)
        result = parse_or_refuse(read_ply, path)
        if result is not None:
            points, colours, _ = result
            assert points.dtype == np.float32 and points.ndim == 2 and points.shape[1] == 3
            assert colours is None or (colours.dtype == np.uint8 and colours.shape == points.shape)


# ---- model files ----------------------------------------------------------------------------------------------


def _state_dict_bytes() -> bytes:
    buffer = io.BytesIO()
    torch.save({"conv.weight": torch.ones(2, 1, 3, 3), "conv.bias": torch.zeros(2), "height": 192}, buffer)
    return buffer.getvalue()


def _fake_export_archive() -> bytes:
    """A zip with the members torch.export.save writes (content only good enough for the vetting)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("model/archive_format", "pt2")
        archive.writestr("model/models/model.json", json.dumps(
            {"graph": {"nodes": [{"target": "torch.ops.aten.add.Tensor", "inputs": []}]},
             "range_constraints": {"s0": {"expr_str": "Max(1, s0)"}}}))
        archive.writestr("model/data/weights/model_weights_config.json",
                         json.dumps({"config": {"w": {"use_pickle": False}}}))
    return buffer.getvalue()


def _fake_torchscript_archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("model/code/__torch__.py", "def forward(self, x):\n    return x\n")
        archive.writestr("model/constants.pkl", b"\x80\x02)." * 4)
    return buffer.getvalue()


class TestModelFiles:
    @pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")  # torch's note on fuzzed headers
    @FEW
    @given(data=any_bytes_or_mutated(_state_dict_bytes()))
    def test_state_dicts(self, tmp_path: Path, data: bytes) -> None:
        path = tmp_path / "encoder.pth"
        path.write_bytes(data)
        state = parse_or_refuse(load_state_dict_file, path)
        assert state is None or isinstance(state, dict)

    @FUZZ
    @given(data=any_bytes_or_mutated(_fake_export_archive()) | any_bytes_or_mutated(_fake_torchscript_archive()))
    def test_archives(self, tmp_path: Path, data: bytes) -> None:
        path = tmp_path / "model.pt2"
        path.write_bytes(data)
        parse_or_refuse(vet_export_archive, path)
        parse_or_refuse(vet_torchscript_archive, path)
