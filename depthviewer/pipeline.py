"""One frame through every stage: read, predict, analyse. Used by the CLI and by the app's worker."""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np
import torch

from depthviewer.backends import StereoBackend
from depthviewer.compute.geometry import depth_to_points
from depthviewer.compute.stereo_analysis import analyse_stereo
from depthviewer.errors import CalibrationError
from depthviewer.io.stereo_folder import StereoFolder
from depthviewer.types import StereoAnalysis, StereoFrame, StereoPrediction

CAMERA_FRAME_NOTE = "camera frame: OpenCV (x right, y down, z forward), metres, origin at the left camera centre"


@dataclass(frozen=True)
class FrameResult:
    """The three stages of one frame, as the worker hands them to the app."""

    frame: StereoFrame
    prediction: StereoPrediction
    analysis: StereoAnalysis


def monocular_as_stereo(frame: StereoFrame, backend) -> StereoPrediction:
    """A monocular network's depth for the left view, as a left disparity through the frame's calibration.

    A depth known only up to scale (a mono-trained network) is median-scaled against the GT disparity when the
    frame has GT (Monodepth2's evaluation protocol), else used as it is and labelled "up to scale".
    """
    if frame.calibration is None:
        raise CalibrationError(f"a monocular network's depth needs the calibration to become a disparity for "
                               f"frame {frame.name}; give --calib FILE or --focal-px/--baseline-m", frame.left_path)
    depth = backend.predict_depth(frame.left_rgb)
    cal = frame.calibration
    with np.errstate(divide="ignore", invalid="ignore"):
        disparity = (cal.fx_px * cal.baseline_m / depth.depth_m - cal.doffs_px).astype(np.float32)
    disparity[~np.isfinite(disparity)] = np.nan
    label = backend.name
    if not depth.metric:
        gt = frame.gt_disparity_px
        both = np.isfinite(disparity) & (disparity > 0) if gt is None else np.isfinite(disparity) & np.isfinite(gt)
        if gt is not None and both.any():
            disparity *= np.float32(np.median(gt[both]) / np.median(disparity[both]))
            label += " (median-scaled to GT)"
        else:
            label += " (up to scale)"
    return StereoPrediction(disparity, None, label, backend.device, depth.seconds)


def process_frame(
    source: StereoFolder, index: int, backend: StereoBackend, device: torch.device | None = None,
    progress=None,
) -> FrameResult:
    """Read frame `index`, run the backend on it (a stereo matcher, or a monocular network through the
    calibration) and analyse the result. `progress(iteration, total, loss) -> bool` reaches backends that
    iterate (refine); returning False stops them early."""
    frame = source.load(index)
    if getattr(backend, "kind", "stereo") == "monocular":
        prediction = monocular_as_stereo(frame, backend)
    elif progress is not None and "progress" in inspect.signature(backend.predict).parameters:
        prediction = backend.predict(frame.left_rgb, frame.right_rgb, progress=progress)
    else:
        prediction = backend.predict(frame.left_rgb, frame.right_rgb)
    analysis = analyse_stereo(frame, prediction, device=device)
    return FrameResult(frame=frame, prediction=prediction, analysis=analysis)


def point_cloud(result: FrameResult, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Points (N, 3) float32 in metres in the left camera frame, and their colours (N, 3) uint8."""
    calibration = result.frame.calibration
    if calibration is None or result.analysis.depth_m is None:
        raise CalibrationError(
            f"frame {result.frame.name} has no calibration, so it has no metric depth; "
            "give one with --calib FILE or --focal-px/--baseline-m",
            result.frame.left_path,
        )
    points, colours = depth_to_points(result.analysis.depth_m, calibration.K, result.frame.left_rgb, stride=stride)
    assert colours is not None
    return points, colours
