"""Writing a computed frame to disk in the formats users feed to other tools; one implementation for CLI and app.

Every file is written atomically (a temporary file renamed into place), so a cancelled or failed export never
leaves a half-written file behind.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from depthviewer.errors import CalibrationError, InputError
from depthviewer.io.atomic import atomic_write
from depthviewer.io.kitti_png import write_kitti_depth, write_kitti_disparity
from depthviewer.io.pfm import write_pfm
from depthviewer.io.ply import write_ply
from depthviewer.pipeline import CAMERA_FRAME_NOTE, FrameResult, point_cloud

# name -> (file suffix, what it holds)
FORMATS: dict[str, tuple[str, str]] = {
    "ply": (".ply", "point cloud, binary PLY: float x y z (m, left camera frame) + uchar red green blue"),
    "ply-ascii": (".ply", "point cloud, ASCII PLY, same fields"),
    "npy": (".npy", "depth, float32 H x W metres, NaN where none"),
    "disparity-png": ("_disp.png", "disparity, KITTI 16-bit PNG: value = d * 256, 0 = none"),
    "depth-png": ("_depth.png", "depth, KITTI 16-bit PNG: value = z * 256 (m), 0 = none"),
    "pfm": (".pfm", "disparity, float32 PFM (Middlebury), inf where none"),
    "colour-png": ("_disp_colour.png", "disparity, colourised 8-bit PNG (turbo, 0 to the 99.5th percentile)"),
}
NEEDS_CALIBRATION = frozenset({"ply", "ply-ascii", "npy", "depth-png"})


def output_path(out_dir: Path, frame_name: str, fmt: str) -> Path:
    """Where format `fmt` of frame `frame_name` goes: the frame's stem plus the format's suffix."""
    suffix = FORMATS[fmt][0]
    stem = Path(frame_name).stem
    if fmt == "ply-ascii":
        stem += "_ascii"
    return out_dir / f"{stem}{suffix}"


def colourise_disparity(disparity_px: np.ndarray) -> np.ndarray:
    """(H, W) disparity -> (H, W, 3) uint8 BGR with the turbo map; pixels without a value are black."""
    finite = np.isfinite(disparity_px)
    top = float(np.percentile(disparity_px[finite], 99.5)) if finite.any() else 1.0
    scaled = np.zeros(disparity_px.shape, np.uint8)
    scaled[finite] = np.clip(disparity_px[finite] / max(top, 1e-6) * 255.0, 0, 255).astype(np.uint8)
    colour = cv2.applyColorMap(scaled, cv2.COLORMAP_TURBO)
    colour[~finite] = 0
    return colour


def _write_png(path: Path, image: np.ndarray) -> None:
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise InputError("could not encode the PNG", path)
    with atomic_write(path) as handle:
        handle.write(encoded.tobytes())


def export_frame(result: FrameResult, out_dir: Path, formats: Iterable[str], backend_name: str = "") -> list[Path]:
    """Write frame `result` in each of `formats` into `out_dir`; returns the paths written.

    Metric formats (point clouds, depth) need the frame's calibration: CalibrationError names the frame otherwise.
    """
    formats = list(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise InputError(f"unknown export format(s) {unknown}; known: {', '.join(FORMATS)}")
    frame, disparity = result.frame, result.prediction.disparity_left_px
    if NEEDS_CALIBRATION.intersection(formats) and result.analysis.depth_m is None:
        raise CalibrationError(f"frame {frame.name} has no calibration, so no metric depth to export "
                               f"({', '.join(sorted(NEEDS_CALIBRATION.intersection(formats)))}); "
                               "give one with --calib FILE or --focal-px/--baseline-m", frame.left_path)
    written = []
    for fmt in formats:
        target = output_path(out_dir, frame.name, fmt)
        if fmt in ("ply", "ply-ascii"):
            points, colours = point_cloud(result)
            comments = [CAMERA_FRAME_NOTE, f"source: {frame.left_path}"]
            if backend_name:
                comments.append(f"backend: {backend_name}")
            write_ply(target, points, colours, comments=comments, binary=fmt == "ply")
        elif fmt == "npy":
            with atomic_write(target) as handle:
                np.save(handle, result.analysis.depth_m.astype(np.float32))
        elif fmt == "disparity-png":
            write_kitti_disparity(target, disparity)
        elif fmt == "depth-png":
            write_kitti_depth(target, result.analysis.depth_m)
        elif fmt == "pfm":
            write_pfm(target, np.where(np.isfinite(disparity), disparity, np.inf).astype(np.float32))
        elif fmt == "colour-png":
            _write_png(target, colourise_disparity(disparity))
        written.append(target)
    return written


SEQUENCE_FORMATS = ("ply", "ply-ascii", "npy", "depth-png")


def export_sequence_frame(result, out_dir: Path, formats: Iterable[str]) -> list[Path]:
    """Write a sequence frame's depth (NPY, KITTI depth PNG) or point cloud (PLY, its camera frame)."""
    from depthviewer.compute.geometry import depth_to_points

    formats = list(formats)
    unsupported = [f for f in formats if f not in SEQUENCE_FORMATS]
    if unsupported:
        raise InputError(f"a sequence exports depth and point clouds ({', '.join(SEQUENCE_FORMATS)}), "
                         f"not {', '.join(unsupported)}")
    frame, depth = result.frame, result.depth.depth_m
    stem = Path(frame.name).stem
    written = []
    for fmt in formats:
        if fmt in ("ply", "ply-ascii"):
            target = out_dir / (f"{stem}.ply" if fmt == "ply" else f"{stem}_ascii.ply")
            points, colours = depth_to_points(depth, frame.K, frame.image_rgb)
            scale_note = "" if result.depth.metric else " (depth up to scale)"
            write_ply(target, points, colours, binary=fmt == "ply",
                      comments=[CAMERA_FRAME_NOTE.replace("left camera", "camera") + scale_note,
                                f"source: {frame.path}", f"depth: {result.depth.backend}"])
        elif fmt == "npy":
            target = out_dir / f"{stem}.npy"
            with atomic_write(target) as handle:
                np.save(handle, depth.astype(np.float32))
        else:
            target = out_dir / f"{stem}_depth.png"
            write_kitti_depth(target, depth)
        written.append(target)
    return written
