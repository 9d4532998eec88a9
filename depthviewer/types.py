"""Typed results of each stage: a frame (input), a prediction (backend), an analysis (losses, metrics).

Conventions, stated once for the whole project:
- Images are numpy arrays (H, W, 3) uint8 RGB at the I/O boundary; computation takes torch tensors
  (B, C, H, W) float32 in [0, 1].
- Disparity is in pixels, positive, for a rectified pair: a left pixel (x, y) matches the right pixel (x - d, y).
  NaN marks a pixel with no value (no estimate, no ground truth).
- Camera frame: OpenCV's, x right, y down, z forward, metres. K is the 3x3 intrinsic matrix of the left
  rectified camera, in pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from depthviewer.errors import CalibrationError


@dataclass(frozen=True)
class StereoCalibration:
    """Rectified stereo calibration of the left camera.

    depth_m = K[0, 0] * baseline_m / (disparity_px + doffs_px); doffs_px is Middlebury's difference of the
    principal points (cx_right - cx_left) and 0 for KITTI.
    """

    K: np.ndarray
    baseline_m: float
    doffs_px: float = 0.0
    source: str = ""

    def __post_init__(self) -> None:
        K = np.asarray(self.K, dtype=np.float64)
        where = self.source or "calibration"
        if K.shape != (3, 3) or not np.all(np.isfinite(K)):
            raise CalibrationError(f"intrinsic matrix must be a finite 3x3 matrix, got {K.shape}", where)
        if K[0, 0] <= 0 or K[1, 1] <= 0:
            raise CalibrationError(f"focal length must be positive, got fx={K[0, 0]:g}, fy={K[1, 1]:g}", where)
        if not np.isfinite(self.baseline_m) or self.baseline_m <= 0:
            raise CalibrationError(f"baseline must be positive, got {self.baseline_m:g} m", where)
        if not np.isfinite(self.doffs_px):
            raise CalibrationError(f"doffs must be finite, got {self.doffs_px}", where)
        K.setflags(write=False)
        object.__setattr__(self, "K", K)

    @property
    def fx_px(self) -> float:
        return float(self.K[0, 0])

    @property
    def fy_px(self) -> float:
        return float(self.K[1, 1])

    @property
    def cx_px(self) -> float:
        return float(self.K[0, 2])

    @property
    def cy_px(self) -> float:
        return float(self.K[1, 2])


@dataclass(frozen=True)
class StereoFrame:
    """One rectified stereo pair as read from disk, with what the layout knows about it."""

    name: str
    index: int
    left_rgb: np.ndarray
    right_rgb: np.ndarray
    calibration: StereoCalibration | None = None
    gt_disparity_px: np.ndarray | None = None
    dataset: str = "plain"
    left_path: Path | None = None
    right_path: Path | None = None

    @property
    def size_hw(self) -> tuple[int, int]:
        return int(self.left_rgb.shape[0]), int(self.left_rgb.shape[1])


@dataclass(frozen=True)
class StereoPrediction:
    """A backend's disparities for both views of one pair (float32 (H, W), pixels, NaN where none), and its
    confidence in the left one when it has one ((H, W) float32 in [0, 1], higher is better)."""

    disparity_left_px: np.ndarray
    disparity_right_px: np.ndarray | None
    backend: str
    device: str
    seconds: float = 0.0
    confidence: np.ndarray | None = None


@dataclass(frozen=True)
class StereoAnalysis:
    """Everything the app shows for one frame: the per-pixel maps and the numbers reduced from them.

    Maps are float32 (H, W) with NaN where the value is undefined (invalid warp, no disparity);
    the scalar metrics are means of exactly these maps over their finite pixels.
    """

    reconstruction_left_rgb: np.ndarray
    warp_valid: np.ndarray
    photometric_error: np.ndarray
    ssim_dissimilarity: np.ndarray
    l1_error: np.ndarray
    lr_consistency_px: np.ndarray
    smoothness: np.ndarray
    depth_m: np.ndarray | None
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SequenceFrame:
    """One frame of a monocular video or image sequence, with what its source knows about it.

    Poses are T_world_cam: 4x4 float64 mapping points from this camera's frame to the world frame
    (the sequence's own world, e.g. KITTI's first camera). K is the 3x3 intrinsic matrix of this camera.
    `right_rgb` and `stereo_calibration` are set when the layout has a rectified stereo partner.
    """

    name: str
    index: int
    image_rgb: np.ndarray
    K: np.ndarray | None = None
    T_world_cam: np.ndarray | None = None
    timestamp_s: float | None = None
    right_rgb: np.ndarray | None = None
    stereo_calibration: StereoCalibration | None = None
    gt_depth_m: np.ndarray | None = None
    dataset: str = "sequence"
    path: Path | None = None

    @property
    def size_hw(self) -> tuple[int, int]:
        return int(self.image_rgb.shape[0]), int(self.image_rgb.shape[1])


@dataclass(frozen=True)
class DepthPrediction:
    """A depth map for one view: float32 (H, W) metres, NaN where none.

    `metric` is False when the depth is known only up to scale (a mono-trained network, an up-to-scale
    pose); `confidence` is optional, (H, W) float32 in [0, 1], higher is better.
    """

    depth_m: np.ndarray
    backend: str
    device: str
    metric: bool = True
    confidence: np.ndarray | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class RelativePose:
    """The motion that maps points from a target camera's frame into a source camera's frame.

    `T_source_target` is 4x4 float64; `origin` says where it came from ("poses file", "essential matrix + PnP",
    "essential matrix (up to scale)", "pose network", "stereo baseline"); `metric` is False when the
    translation's scale is unknown.
    """

    T_source_target: np.ndarray
    origin: str
    metric: bool = True


@dataclass(frozen=True)
class SourceWarp:
    """One source view warped into the target: its reconstruction and per-pixel errors (float32 (H, W))."""

    label: str
    reconstruction_rgb: np.ndarray
    valid: np.ndarray
    photometric_error: np.ndarray
    identity_error: np.ndarray
    pose: RelativePose


@dataclass(frozen=True)
class MonocularAnalysis:
    """The Monodepth2 maps of one target frame (REFERENCE.md, "Monodepth2 additions").

    `min_reprojection` is the per-pixel minimum of the sources' photometric errors; `automask` is True where a
    warped source beats every unwarped one (the pixel is kept); `winning_source` indexes `sources` (-1 = none).
    """

    sources: tuple[SourceWarp, ...]
    min_reprojection: np.ndarray
    automask: np.ndarray
    winning_source: np.ndarray
    depth_m: np.ndarray
    gt_error: np.ndarray | None = None
    metrics: dict[str, float] = field(default_factory=dict)
