"""One frame of a monocular sequence through every stage: depth, ego-motion, warping, Monodepth2's maps.

Depth for the target frame comes from (`depth` option):
- "stereo": SGBM on the frame's rectified stereo partner (metric through the calibration);
- "plane-sweep": multi-view stereo against the neighbouring frames with the relative poses;
- "network": a user's monocular network (Monodepth2 folder or exported model);
- "auto": stereo where the frame has a partner, else a network when one is given, else plane-sweep.
Ego-motion (`pose` option): "file" (the sequence's poses), "estimated" (features + essential matrix, scale
from PnP on the depth), "network" (a Monodepth2 pose network), "auto": file, else estimated.
The sources warped into the target are the previous and next frames and, when there is one, the stereo partner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from depthviewer.errors import DepthViewerError
from depthviewer.types import DepthPrediction, MonocularAnalysis, RelativePose, SequenceFrame

if TYPE_CHECKING:  # torch loads on first use, not when the app starts
    import torch

DEPTH_CHOICES = ("auto", "stereo", "plane-sweep", "network")
POSE_CHOICES = ("auto", "file", "estimated", "network")


@dataclass(frozen=True)
class SequenceOptions:
    """How to get depth and poses for a frame, and how to evaluate against GT depth (Eigen)."""

    depth: str = "auto"
    pose: str = "auto"
    offsets: tuple[int, ...] = (-1, 1)
    stereo_source: bool = True
    median_scaling: bool | None = None  # None: scale when the depth is not metric
    garg_crop: bool = False
    max_depth_m: float = 80.0
    pose_scale_check: bool = True

    def __post_init__(self) -> None:
        if self.depth not in DEPTH_CHOICES:
            raise DepthViewerError(f"depth must be one of {', '.join(DEPTH_CHOICES)}, got {self.depth!r}")
        if self.pose not in POSE_CHOICES:
            raise DepthViewerError(f"pose must be one of {', '.join(POSE_CHOICES)}, got {self.pose!r}")


@dataclass(frozen=True)
class SequenceResult:
    """The stages of one sequence frame, as the worker hands them to the app."""

    frame: SequenceFrame
    depth: DepthPrediction
    analysis: MonocularAnalysis
    pose_scale: float | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


@dataclass
class SequenceBackends:
    """The backends a sequence frame may need, created by the caller and kept (models load once)."""

    stereo: object | None = None
    multiview: object | None = None
    network: object | None = None


def _neighbours(source, index: int, offsets: tuple[int, ...]) -> list[tuple[int, SequenceFrame]]:
    return [(index + o, source.load(index + o)) for o in offsets if 0 <= index + o < len(source)]


def _file_pose(frame: SequenceFrame, other: SequenceFrame) -> RelativePose | None:
    if frame.T_world_cam is None or other.T_world_cam is None:
        return None
    T_source_target = np.linalg.inv(other.T_world_cam) @ frame.T_world_cam
    return RelativePose(T_source_target, "poses file", metric=True)


def _stereo_depth(frame: SequenceFrame, backends: SequenceBackends) -> DepthPrediction:
    from depthviewer.backends import create_backend

    if frame.right_rgb is None or frame.stereo_calibration is None:
        raise DepthViewerError(f"frame {frame.name} has no rectified stereo partner for stereo depth")
    backends.stereo = backends.stereo or create_backend("sgbm")
    prediction = backends.stereo.predict(frame.image_rgb, frame.right_rgb)
    cal = frame.stereo_calibration
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = cal.fx_px * cal.baseline_m / (prediction.disparity_left_px + cal.doffs_px)
    depth[~(depth > 0)] = np.nan
    return DepthPrediction(depth.astype(np.float32), f"{prediction.backend} (stereo)", prediction.device,
                           metric=True, seconds=prediction.seconds)


def _poses(frame, neighbours, options, depth, backends) -> tuple[list[RelativePose], str]:
    from depthviewer.compute.pose_estimation import estimate_relative_pose

    mode = options.pose
    if mode == "auto":
        mode = "file" if all(_file_pose(frame, other) is not None for _, other in neighbours) else "estimated"
    poses = []
    for index, other in neighbours:
        if mode == "file":
            pose = _file_pose(frame, other)
            if pose is None:
                raise DepthViewerError(f"frame {frame.name} or {other.name} has no pose; give --poses FILE "
                                       "or use --pose estimated")
        elif mode == "network":
            network = backends.network
            if network is None or not getattr(network, "has_pose", False):
                raise DepthViewerError("--pose network needs a Monodepth2 model folder with pose.pth "
                                       "(--backend monodepth2 --model FOLDER)")
            pose = network.predict_pose(frame.image_rgb, other.image_rgb, source_is_previous=index < frame.index)
        else:
            metric_depth = depth.depth_m if depth is not None and depth.metric else None
            pose = estimate_relative_pose(frame.image_rgb, other.image_rgb, frame.K, metric_depth)
        poses.append(pose)
    return poses, mode


def process_sequence_frame(source, index: int, options: SequenceOptions, backends: SequenceBackends,
                           device: torch.device | None = None) -> SequenceResult:
    """Read frame `index` and its neighbours, get depth and poses as `options` say, and analyse."""
    from depthviewer.compute.monocular_analysis import analyse_monocular
    from depthviewer.compute.pose_scale import best_translation_scale
    from depthviewer.compute.temporal import stereo_as_source_pose

    frame = source.load(index)
    if frame.K is None:
        raise DepthViewerError(f"{source.root}: no intrinsics for frame {frame.name}; give --intrinsics FILE "
                               "or --focal-px/--cx-px/--cy-px")
    neighbours = _neighbours(source, index, options.offsets)
    notes = []
    mode = options.depth
    if mode == "auto":
        has_stereo = frame.right_rgb is not None and frame.stereo_calibration is not None
        mode = "stereo" if has_stereo else "network" if backends.network is not None else "plane-sweep"
    depth = None
    if mode == "stereo":
        depth = _stereo_depth(frame, backends)
    elif mode == "network":
        if backends.network is None:
            raise DepthViewerError("--depth network needs a model (--backend monodepth2|torch-export|torchscript|onnx "
                                   "--model PATH)")
        depth = backends.network.predict_depth(frame.image_rgb)
    poses, _ = _poses(frame, neighbours, options, depth, backends)
    if mode == "plane-sweep":
        from depthviewer.backends import create_backend

        if not neighbours:
            raise DepthViewerError(f"frame {frame.name}: plane-sweep needs neighbouring frames")
        backends.multiview = backends.multiview or create_backend("plane-sweep")
        depth = backends.multiview.predict_depth_multiview(
            frame.image_rgb, [(other.image_rgb, pose.T_source_target) for (_, other), pose in zip(neighbours, poses)],
            frame.K)
        if not all(pose.metric for pose in poses):
            depth = DepthPrediction(depth.depth_m, depth.backend, depth.device, metric=False,
                                    confidence=depth.confidence, seconds=depth.seconds)
    notes.append(f"depth: {depth.backend}" + ("" if depth.metric else " (up to scale)"))
    notes.append(f"poses: {', '.join(sorted({p.origin for p in poses})) or 'none'}"
                 + ("" if all(p.metric for p in poses) else " (up to scale)"))

    sources = [("previous" if i < index else "next", other.image_rgb, pose)
               for (i, other), pose in zip(neighbours, poses)]
    if options.stereo_source and frame.right_rgb is not None and frame.stereo_calibration is not None:
        T = stereo_as_source_pose(frame.stereo_calibration.baseline_m)
        sources.append(("stereo", frame.right_rgb, RelativePose(T, "stereo baseline", metric=True)))
    eigen = {"median_scaling": (not depth.metric) if options.median_scaling is None else options.median_scaling,
             "garg_crop": options.garg_crop, "max_depth": options.max_depth_m}
    analysis = analyse_monocular(frame, depth, sources, device=device, eigen=eigen)

    pose_scale = None
    temporal = [(other, pose) for (_, other), pose in zip(neighbours, poses)]
    # The check needs a depth that does not come from these poses (plane-sweep depth takes their scale).
    if options.pose_scale_check and temporal and depth.metric and temporal[0][1].metric and mode != "plane-sweep":
        other, pose = temporal[0]
        pose_scale, _, _ = best_translation_scale(frame.image_rgb, other.image_rgb, depth.depth_m,
                                                  pose.T_source_target, frame.K, device=device)
        analysis.metrics["pose_scale"] = float(pose_scale)
    return SequenceResult(frame, depth, analysis, pose_scale, tuple(notes))
