"""Command line: open the app, or inspect, evaluate and export a stereo folder or a sequence without it.

    depthviewer [PATH]                 open the app (the bundled sample when PATH is omitted)
    depthviewer info PATH              detected layout, frame count, image size, calibration
    depthviewer eval PATH [--json]     per-frame losses and GT metrics
    depthviewer export PATH --out DIR  one point cloud, depth or disparity file per frame and format
    depthviewer backends               the available depth backends

PATH is a stereo folder (KITTI 2015/2012, Middlebury, left/right) or a sequence (a video, an image folder,
KITTI odometry or raw, EuRoC, ScanNet-style); see depthviewer/cli_sequences.py for the sequence options.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from depthviewer.cli_sequences import add_model_options, add_sequence_options, frame_indices, network_params
from depthviewer.errors import CalibrationError, DepthViewerError, InputError

# Kept in step with depthviewer.exporting.FORMATS (checked by a test); listed here so --help needs no torch.
EXPORT_FORMATS: dict[str, tuple[str, str]] = {
    "ply": (".ply", "binary point cloud, left camera frame, metres"),
    "ply-ascii": (".ply", "ASCII point cloud"),
    "npy": (".npy", "float32 HxW depth in metres, NaN where none"),
    "disparity-png": ("_disp.png", "KITTI 16-bit disparity PNG"),
    "depth-png": ("_depth.png", "KITTI 16-bit depth PNG"),
    "pfm": (".pfm", "float32 disparity PFM, inf where none"),
    "colour-png": ("_disp_colour.png", "colourised disparity PNG"),
}
SAMPLE_DIR = Path(__file__).resolve().parents[1] / "sample_data" / "kitti2015_stereo"
COMMANDS = ("info", "eval", "export", "backends")


def _add_calibration_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "calibration", "override or supply the calibration (a folder without one gets no metric depth)"
    )
    group.add_argument("--calib", type=Path, help="calibration file: KITTI calib_cam_to_cam, KITTI P0..P3, or Middlebury calib.txt")
    group.add_argument("--focal-px", type=float, help="focal length of the rectified left camera, pixels")
    group.add_argument("--baseline-m", type=float, help="stereo baseline, metres")
    group.add_argument("--cx-px", type=float, help="principal point x (default: image centre, (W-1)/2)")
    group.add_argument("--cy-px", type=float, help="principal point y (default: image centre, (H-1)/2)")
    group.add_argument("--doffs-px", type=float, default=0.0, help="Middlebury disparity offset (default 0)")


def _add_backend_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", default="sgbm", help="depth backend (see `depthviewer backends`)")
    parser.add_argument(
        "--set", dest="params", action="append", default=[], metavar="KEY=VALUE",
        help="backend parameter, repeatable, e.g. --set num_disparities=96 --set block_size=3",
    )
    parser.add_argument("--frames", metavar="N|A:B", help="only these frames (0-based; A:B excludes B)")
    parser.add_argument("--device", default="auto",
                        help="where torch runs the backend and the analysis: auto (CUDA, then MPS, else CPU), cpu, "
                             "cuda, cuda:N, mps")
    add_model_options(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="depthviewer", description="Inspect stereo depth estimation.")
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="print the detected layout, frame count, image size and calibration")
    info.add_argument("path", type=Path)
    _add_calibration_options(info)
    add_sequence_options(info)

    ev = sub.add_parser("eval", help="run a backend on every frame and print losses and GT metrics")
    ev.add_argument("path", type=Path)
    ev.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_backend_options(ev)
    _add_calibration_options(ev)
    add_sequence_options(ev)

    ex = sub.add_parser("export", help="write one point cloud or depth map per frame")
    ex.add_argument("path", type=Path)
    ex.add_argument("--out", type=Path, required=True, help="output folder (created if missing)")
    ex.add_argument("--format", default="ply", metavar="FMT[,FMT...]",
                    help="one or more of: " + "; ".join(f"{k}: {v[1]}" for k, v in EXPORT_FORMATS.items()))
    _add_backend_options(ex)
    _add_calibration_options(ex)
    add_sequence_options(ex)

    sub.add_parser("backends", help="list the depth backends")
    return parser


def _parse_value(text: str) -> object:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _backend_params(pairs: Sequence[str]) -> dict[str, object]:
    params: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise DepthViewerError(f"--set expects KEY=VALUE, got {pair!r}")
        params[key.strip()] = _parse_value(value.strip())
    return params


def open_source(args: argparse.Namespace):
    """Open PATH: as a stereo folder when it is one, else as a sequence (video, image folder, dataset layout)."""
    from depthviewer.cli_sequences import open_sequence_from_args
    from depthviewer.sources import open_with

    return open_with(args.path, lambda: open_stereo_source(args), lambda: open_sequence_from_args(args))


def is_sequence(source) -> bool:
    from depthviewer.io.stereo_folder import StereoFolder

    return not isinstance(source, StereoFolder)


def open_stereo_source(args: argparse.Namespace):
    """Open the stereo folder named on the command line with the calibration the options give, if any."""
    from depthviewer.io.calibration import calibration_from_values, read_calibration_file
    from depthviewer.io.stereo_folder import open_stereo_folder

    if args.calib is not None:
        return open_stereo_folder(args.path, calibration=read_calibration_file(args.calib))
    if args.focal_px is None and args.baseline_m is None:
        return open_stereo_folder(args.path)
    if args.focal_px is None or args.baseline_m is None:
        raise CalibrationError("--focal-px and --baseline-m must be given together")
    source = open_stereo_folder(args.path)
    cx, cy = args.cx_px, args.cy_px
    if cx is None or cy is None:
        height, width = source.load(0).size_hw
        cx = (width - 1) / 2 if cx is None else cx
        cy = (height - 1) / 2 if cy is None else cy
    calibration = calibration_from_values(
        args.focal_px, args.baseline_m, cx, cy, doffs_px=args.doffs_px, source="command-line options"
    )
    return open_stereo_folder(args.path, calibration=calibration)


def _cmd_info(args: argparse.Namespace) -> int:
    source = open_source(args)
    for key, value in source.describe().items():
        if isinstance(value, dict):
            print(f"{key}:")
            for sub_key, sub_value in value.items():
                print(f"  {sub_key}: {sub_value}")
        else:
            print(f"{key}: {value}")
    return 0


def _mean_metrics(frames: list[dict]) -> dict[str, float]:
    """Mean of each metric over the frames that report it (GT metrics exist only where GT does)."""
    keys: dict[str, list[float]] = {}
    for frame in frames:
        for key, value in frame["metrics"].items():
            if value is not None and math.isfinite(value):
                keys.setdefault(key, []).append(value)
    return {key: float(np.mean(values)) for key, values in keys.items()}


def _json_number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _create_backend(args: argparse.Namespace):
    from depthviewer.backends import create_backend, needs_model

    params = _backend_params(args.params)
    if needs_model(args.backend):
        params.update(network_params(args))
    return create_backend(args.backend, **params, **device_param(args))


def device_param(args: argparse.Namespace) -> dict[str, object]:
    """`device=` for backends that run on torch; a classical backend (sgbm) runs where it runs."""
    from depthviewer.backends import accepts_device

    if getattr(args, "device", "auto") in (None, "auto"):
        return {}
    return {"device": args.device} if accepts_device(args.backend) else {}


def _cmd_eval(args: argparse.Namespace) -> int:
    from depthviewer.cli_sequences import eval_sequence
    from depthviewer.compute.device import resolve_device
    from depthviewer.pipeline import process_frame

    source = open_source(args)
    frames = []

    def report_frame(name: str, metrics: dict[str, float], notes=()) -> None:
        metrics = {key: _json_number(value) for key, value in metrics.items()}
        frames.append({"name": name, "metrics": metrics} | ({"notes": list(notes)} if notes else {}))
        if not args.json:
            shown = "  ".join(f"{k}={v:.4g}" for k, v in metrics.items() if v is not None)
            print(f"{name}: {shown}" + (f"  [{'; '.join(notes)}]" if notes else ""), flush=True)

    if is_sequence(source):
        report = eval_sequence(args, source, report_frame)
    else:
        backend = _create_backend(args)
        device = resolve_device(args.device)
        for index in frame_indices(args, len(source)):
            result = process_frame(source, index, backend, device=device)
            report_frame(source.names[index], result.analysis.metrics)
        report = {"backend": backend.name, "device": backend.device, "analysis_device": str(device)}
    report |= {"frames": frames, "mean": _mean_metrics(frames)}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print("mean: " + "  ".join(f"{k}={v:.4g}" for k, v in report["mean"].items()))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from depthviewer.compute.device import resolve_device
    from depthviewer.exporting import NEEDS_CALIBRATION, export_frame
    from depthviewer.pipeline import process_frame

    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    unknown = [f for f in formats if f not in EXPORT_FORMATS]
    if unknown or not formats:
        raise DepthViewerError(f"unknown export format(s) {unknown or args.format!r}; known: {', '.join(EXPORT_FORMATS)}")
    source = open_source(args)
    if is_sequence(source):
        from depthviewer.cli_sequences import export_sequence

        _make_output_folder(args.out)
        export_sequence(args, source, formats)
        return 0
    metric = sorted(NEEDS_CALIBRATION.intersection(formats))
    if metric and source.calibration_for(0) is None:
        raise CalibrationError(f"cannot export metric {', '.join(metric)}: {source.calibration_note}", source.root)
    backend = _create_backend(args)
    _make_output_folder(args.out)
    device = resolve_device(args.device)
    for index in frame_indices(args, len(source)):
        result = process_frame(source, index, backend, device=device)
        for target in export_frame(result, args.out, formats, backend_name=backend.name):
            print(target, flush=True)
    return 0


def _make_output_folder(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise InputError("the output folder is a file, not a folder", out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the output folder: {exc.strerror or exc}", out) from exc


def _cmd_backends(_: argparse.Namespace) -> int:
    from depthviewer.backends import backend_info, backend_names

    for name in backend_names():
        kind, device = backend_info(name)
        print(f"{name}\t{kind}\t{device}")
    return 0


def _run_app(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="depthviewer", description="Open the depthviewer app.",
                                     epilog="Commands: " + ", ".join(COMMANDS) + " (depthviewer COMMAND --help)")
    parser.add_argument("path", nargs="?", type=Path, default=None, help="stereo folder (default: the bundled sample)")
    parser.add_argument("--backend", default=None, help="depth backend (default: the last one used, else sgbm)")
    args = parser.parse_args(argv)
    from depthviewer.app import run_app

    return run_app(args.path if args.path is not None else SAMPLE_DIR, backend=args.backend)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if not argv or argv[0] not in COMMANDS:
            return _run_app(argv)
        args = build_parser().parse_args(argv)
        handler = {"info": _cmd_info, "eval": _cmd_eval, "export": _cmd_export, "backends": _cmd_backends}
        return handler[args.command](args)
    except DepthViewerError as exc:
        print(f"depthviewer: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `depthviewer eval ... | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
