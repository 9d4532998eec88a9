"""The command line for monocular sequences and videos: options, opening, eval and export."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from depthviewer.errors import DepthViewerError


def add_sequence_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "sequences and videos", "for a video, an image folder, KITTI odometry/raw, EuRoC or ScanNet-style folder")
    group.add_argument("--poses", type=Path, help="poses file: KITTI (3x4 T_world_cam per line) or TUM "
                       "(t tx ty tz qx qy qz qw, matched by nearest timestamp)")
    group.add_argument("--intrinsics", type=Path, help="file with a 3x3 K, or KITTI P0: lines")
    group.add_argument("--side-by-side", action="store_true", help="the video holds left|right stereo pairs")
    group.add_argument("--depth", default="auto", choices=("auto", "stereo", "plane-sweep", "network"),
                       help="depth of each frame: stereo partner (SGBM), plane-sweep over neighbours, a network "
                            "(--backend monodepth2|torch-export|torchscript|onnx --model PATH); auto picks in that order")
    group.add_argument("--pose", default="auto", choices=("auto", "file", "estimated", "network"),
                       help="ego-motion: the poses file, estimated from features (scale from PnP on metric depth), "
                            "or a Monodepth2 pose network; auto = file, else estimated")
    scaling = group.add_mutually_exclusive_group()
    scaling.add_argument("--median-scaling", dest="median_scaling", action="store_true", default=None,
                         help="scale predicted depth by median(gt)/median(pred) (default: only for up-to-scale depth)")
    scaling.add_argument("--no-median-scaling", dest="median_scaling", action="store_false")
    group.add_argument("--crop", choices=("garg", "none"), default="none", help="Eigen evaluation crop")
    group.add_argument("--max-depth", type=float, default=80.0, help="depth cap for the Eigen metrics, metres")
    group.add_argument("--accumulate", action="store_true",
                       help="export: one PLY of all the frames' points in the world frame of the poses")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, help="model file or Monodepth2 folder, for network backends")
    parser.add_argument("--model-output", choices=("depth", "disparity"),
                        help="what an exported model outputs when the file doesn't say (default: disparity)")


def frame_indices(args: argparse.Namespace, count: int) -> list[int]:
    """The frames `--frames` names: "N", "A:B" (B excluded) or "A:" / ":B"; all frames without it."""
    text = getattr(args, "frames", None)
    if not text:
        return list(range(count))
    try:
        if ":" in text:
            start, _, stop = text.partition(":")
            indices = list(range(count))[slice(int(start) if start else None, int(stop) if stop else None)]
        else:
            indices = [int(text)]
    except ValueError:
        raise DepthViewerError(f"--frames expects N or A:B, got {text!r}") from None
    if not indices or not all(0 <= i < count for i in indices):
        raise DepthViewerError(f"--frames {text} selects no frame of the {count}")
    return indices


def network_params(args: argparse.Namespace) -> dict[str, object]:
    params: dict[str, object] = {}
    if getattr(args, "model", None) is not None:
        params["model"] = args.model
    if getattr(args, "model_output", None) is not None:
        params["model_output"] = args.model_output
    return params


def open_sequence_from_args(args: argparse.Namespace):
    from depthviewer.io.sequences import open_sequence

    intrinsics = args.intrinsics
    if intrinsics is None and getattr(args, "focal_px", None) is not None:
        if args.cx_px is None or args.cy_px is None:
            raise DepthViewerError("for a sequence, --focal-px needs --cx-px and --cy-px (or give --intrinsics FILE)")
        intrinsics = np.array([[args.focal_px, 0, args.cx_px], [0, args.focal_px, args.cy_px], [0, 0, 1]], float)
    return open_sequence(args.path, poses=args.poses, intrinsics=intrinsics, side_by_side=args.side_by_side)


def sequence_setup(args: argparse.Namespace):
    """The options and backends for the sequence pipeline, from the command line."""
    from depthviewer.backends import backend_kind, create_backend
    from depthviewer.sequence_pipeline import SequenceBackends, SequenceOptions

    from depthviewer.cli import _backend_params, device_param

    backends = SequenceBackends()
    depth = args.depth
    kind = backend_kind(args.backend)
    params = _backend_params(args.params) | device_param(args)
    if kind == "monocular":
        backends.network = create_backend(args.backend, **params, **network_params(args))
    elif kind == "multi-view":
        backends.multiview = create_backend(args.backend, **params)
        depth = "plane-sweep" if depth == "auto" else depth
    else:
        backends.stereo = create_backend(args.backend, **params)
    options = SequenceOptions(depth=depth, pose=args.pose, median_scaling=args.median_scaling,
                              garg_crop=args.crop == "garg", max_depth_m=args.max_depth)
    return options, backends


def eval_sequence(args: argparse.Namespace, source, report_frame) -> dict:
    """Run every frame of a sequence; `report_frame(name, metrics)` is called as each finishes."""
    from depthviewer.compute.device import resolve_device
    from depthviewer.sequence_pipeline import process_sequence_frame

    options, backends = sequence_setup(args)
    device = resolve_device(args.device)
    labels, devices = set(), set()
    for index in frame_indices(args, len(source)):
        name = source.names[index]
        result = process_sequence_frame(source, index, options, backends, device=device)
        labels.add(result.depth.backend)
        devices.add(result.depth.device)
        report_frame(name, result.analysis.metrics, result.notes)
    return {"backend": ", ".join(sorted(labels)), "device": ", ".join(sorted(devices)),
            "analysis_device": str(device)}


def export_sequence(args: argparse.Namespace, source, formats: list[str]) -> None:
    """Write each frame's depth (NPY, KITTI depth PNG) or point cloud (PLY) in the camera frame."""
    from depthviewer.compute.device import resolve_device
    from depthviewer.exporting import SEQUENCE_FORMATS, export_sequence_frame
    from depthviewer.sequence_pipeline import process_sequence_frame

    unsupported = [f for f in formats if f not in SEQUENCE_FORMATS]
    if unsupported:  # before any frame is computed
        raise DepthViewerError(f"a sequence exports depth and point clouds ({', '.join(SEQUENCE_FORMATS)}), "
                               f"not {', '.join(unsupported)}")
    options, backends = sequence_setup(args)
    device = resolve_device(args.device)
    if args.accumulate:
        _export_accumulated(args, source, formats, options, backends, device)
        return
    for index in frame_indices(args, len(source)):
        result = process_sequence_frame(source, index, options, backends, device=device)
        for target in export_sequence_frame(result, args.out, formats):
            print(target, flush=True)


def _export_accumulated(args, source, formats, options, backends, device) -> None:
    """All selected frames' points moved into the world frame with their poses, in one PLY."""
    from depthviewer.compute.geometry import depth_to_points
    from depthviewer.io.ply import write_ply
    from depthviewer.sequence_pipeline import process_sequence_frame

    if set(formats) - {"ply", "ply-ascii"}:
        raise DepthViewerError("--accumulate writes one point cloud: use --format ply or ply-ascii")
    indices = frame_indices(args, len(source))
    points, colours = [], []
    for index in indices:
        result = process_sequence_frame(source, index, options, backends, device=device)
        T_world_cam = result.frame.T_world_cam
        if T_world_cam is None:
            raise DepthViewerError(f"frame {result.frame.name} has no pose: --accumulate needs poses (--poses FILE)")
        cloud, colour = depth_to_points(result.depth.depth_m, result.frame.K, result.frame.image_rgb)
        points.append(cloud @ T_world_cam[:3, :3].T.astype(np.float32) + T_world_cam[:3, 3].astype(np.float32))
        colours.append(colour)
    first, last = Path(source.names[indices[0]]).stem, Path(source.names[indices[-1]]).stem
    target = args.out / f"accumulated_{first}-{last}.ply"
    write_ply(target, np.concatenate(points), np.concatenate(colours), binary="ply" in formats,
              comments=[f"world frame of the poses ({source.poses_note}), metres",
                        f"frames {first} to {last} of {source.root}"])
    print(target, flush=True)
