"""One frame through every stage: read, predict, analyse. Used by the CLI and by the app's worker."""

from __future__ import annotations

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


def process_frame(
    source: StereoFolder, index: int, backend: StereoBackend, device: torch.device | None = None
) -> FrameResult:
    """Read frame `index`, run the backend on it and analyse the result."""
    frame = source.load(index)
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
