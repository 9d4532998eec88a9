"""The bad-input corpus: each case builds one broken input in tmp_path (from the real KITTI, Middlebury, KITTI
odometry and EuRoC samples where the case is about a layout), runs it through the CLI, or through the library
where the CLI has no entry (model files, a video read frame by frame), and checks the answer: the exact kind of
error, a message naming the file or folder and the problem, and afterwards a CLI that still works on the good
data.

Inputs that are accepted on purpose (16-bit, grayscale and RGBA images, non-ASCII paths, an export folder that
does not exist yet) are in the table too, with the output that says what was done.
"""

from __future__ import annotations

import errno
import pickle
import re
import resource
import shutil
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch

from depthviewer.backends import create_backend
from depthviewer.backends._md2_networks import ResnetEncoder
from depthviewer.cli import main
from depthviewer.errors import DepthViewerError, InputError
from depthviewer.io import atomic
from depthviewer.io.images import read_image_unchanged
from depthviewer.io.pfm import read_pfm, write_pfm
from depthviewer.io.sequences import open_sequence

KITTI_FRAME = "000000_10.png"
ODOMETRY = "kitti_odometry_00_seq"
EUROC = "euroc_V1_01_easy_micro"


@dataclass
class Ctx:
    """What a builder gets: a fresh folder, the real data, and monkeypatch for simulated failures."""

    tmp: Path
    kitti: Path
    middlebury: Path
    shared: Path
    monkeypatch: pytest.MonkeyPatch
    state: dict[str, Any] = field(default_factory=dict)


# What a builder returns: the CLI's argv or a call into the library, and the path the message must name.
Run = tuple[list[str] | Callable[[], Any], Path | str]


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[Ctx], Run]
    expected: type[DepthViewerError] | int  # an error class (library), 2 (CLI error) or 0 (accepted)
    message: str  # regex searched in the message (stderr for the CLI, stdout for accepted inputs)
    check: Callable[[Ctx], None] | None = None  # what else must hold afterwards (no file left, no code run)


# ---- building blocks from the real data -----------------------------------------------------------------------


def write_image(path: Path, image: np.ndarray) -> Path:
    """cv2.imwrite by way of imencode, which also works for non-ASCII paths."""
    ok, encoded = cv2.imencode(path.suffix, image)
    assert ok
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encoded.tobytes())
    return path


def kitti_copy(ctx: Ctx, name: str = "kitti") -> Path:
    root = ctx.tmp / name
    shutil.copytree(ctx.kitti, root, ignore=shutil.ignore_patterns("LICENSE*"))
    return root


def kitti_small(ctx: Ctx, name: str = "kitti_small", convert: Callable[[np.ndarray], np.ndarray] | None = None,
                calib: bool = True) -> Path:
    """A 320x192 crop of the real KITTI 2015 frame (images, GT), so that cases that compute stay fast."""
    root = ctx.tmp / name
    for folder in ("image_2", "image_3", "disp_occ_0"):
        image = read_image_unchanged(ctx.kitti / folder / KITTI_FRAME)[100:292, 400:720]
        if convert is not None and folder != "disp_occ_0":
            image = convert(image)
        write_image(root / folder / KITTI_FRAME, image)
    if calib:
        shutil.copy(next(ctx.kitti.glob("calib_cam_to_cam*.txt")), root / "calib_cam_to_cam.txt")
    return root


def plain_pair(ctx: Ctx, left_names: list[str], right_names: list[str]) -> Path:
    root = ctx.tmp / "plain"
    image = (ctx.kitti / "image_2" / KITTI_FRAME).read_bytes()
    for side, names in (("left", left_names), ("right", right_names)):
        (root / side).mkdir(parents=True)
        for name in names:
            (root / side / name).write_bytes(image)
    return root


def middlebury_scene(ctx: Ctx, name: str = "Motorcycle") -> Path:
    """A 300x200 crop of the real Middlebury Motorcycle (quarter size) scene: im0, im1, GT."""
    scene = ctx.tmp / name
    for image in ("im0.png", "im1.png"):
        write_image(scene / image, read_image_unchanged(ctx.middlebury / image)[150:350, 300:600])
    write_pfm(scene / "disp0GT.pfm", read_pfm(ctx.middlebury / "disp0GT.pfm")[150:350, 300:600])
    return scene


def kitti_calib_text(ctx: Ctx, edit: Callable[[str], str]) -> str:
    return edit(next(ctx.kitti.glob("calib_cam_to_cam*.txt")).read_text())


def middlebury_calib(width: int = 300, height: int = 200, focal: str = "994.978", baseline: str = "193.001") -> str:
    return (f"cam0=[{focal} 0 11.193; 0 {focal} 104.877; 0 0 1]\ncam1=[{focal} 0 42.279; 0 {focal} 104.877; 0 0 1]\n"
            f"doffs=31.086\nbaseline={baseline}\nwidth={width}\nheight={height}\nndisp=73\n")


def huge_png(width: int, height: int) -> bytes:
    """A valid 1-bit black PNG of width x height: a few hundred KB that decode to width * height bytes or more."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = (b"\x00" * (1 + (width + 7) // 8)) * 1000  # filter byte + packed bits, 1000 rows at a time
    compressor = zlib.compressobj(1)
    idat = b"".join(compressor.compress(rows) for _ in range(height // 1000)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def odometry_copy(ctx: Ctx, poses_beside: bool = False) -> Path:
    """The real KITTI odometry 00 frames 0-5 with calib.txt and times.txt (and the poses file when asked)."""
    root = ctx.tmp / "sequences" / "00"
    shutil.copytree(ctx.shared / ODOMETRY, root,
                    ignore=None if poses_beside else shutil.ignore_patterns("poses*"))
    return root


def euroc_small(ctx: Ctx, frames: int = 2) -> Path:
    """The real EuRoC V1_01 layout with its first `frames` stereo frames and both sensor.yaml files."""
    source, root = ctx.shared / EUROC, ctx.tmp / "V1_01_easy"
    for cam in ("cam0", "cam1"):
        lines = (source / "mav0" / cam / "data.csv").read_text().splitlines()
        header, rows = lines[0], lines[1:frames + 1]
        (root / "mav0" / cam / "data").mkdir(parents=True)
        (root / "mav0" / cam / "data.csv").write_text("\n".join([header, *rows]) + "\n")
        shutil.copy(source / "mav0" / cam / "sensor.yaml", root / "mav0" / cam / "sensor.yaml")
        for row in rows:
            name = row.split(",")[1]
            shutil.copy(source / "mav0" / cam / "data" / name, root / "mav0" / cam / "data" / name)
    return root


def write_video(path: Path, frames: int) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (96, 64))
    assert writer.isOpened()
    for index in range(frames):
        writer.write(np.full((64, 96, 3), index * 4 % 256, np.uint8))
    writer.release()
    return path


def _load_every_frame(path: Path) -> Callable[[], Any]:
    def run() -> None:
        with open_sequence(path) as source:
            for index in range(len(source)):
                source.load(index)
    return run


class RunsCode:
    """Pickles to a call of exec that writes `marker`: proof, if the marker appears, that loading ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return exec, (f"open({str(self.marker)!r}, 'w').write('the pickle ran code')",)


def monodepth2_folder(ctx: Ctx, encoder: dict[str, Any] | bytes | None = None) -> Path:
    """A Monodepth2 weights folder whose encoder.pth is `encoder` (a state dict, or raw bytes)."""
    folder = ctx.tmp / "mono_640x192"
    folder.mkdir()
    if isinstance(encoder, bytes):
        (folder / "encoder.pth").write_bytes(encoder)
    elif encoder is not None:
        torch.save(encoder, folder / "encoder.pth")
    return folder


def valid_encoder_state() -> dict[str, Any]:
    """A ResNet-18 Monodepth2 encoder state dict, as its trainer saves it (with height and width)."""
    with torch.device("meta"):
        shapes = ResnetEncoder(18, 1).state_dict()
    state: dict[str, Any] = {key: torch.zeros(value.shape, dtype=value.dtype) for key, value in shapes.items()}
    state.update(height=192, width=640, use_stereo=False)
    return state


def no_files_in(name: str) -> Callable[[Ctx], None]:
    """Nothing, not even a temporary file, in the folder `name` of the case (which may not exist)."""
    def check(ctx: Ctx) -> None:
        folder = ctx.tmp / name
        left = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
        assert left == [], f"files left behind in {folder}: {left}"
    return check


def marker_absent(ctx: Ctx) -> None:
    assert not (ctx.tmp / "marker").exists(), "loading the file ran the code in its pickle"


# ---- the cases --------------------------------------------------------------------------------------------------


def empty_folder(ctx: Ctx) -> Run:
    (ctx.tmp / "empty").mkdir()
    return ["info", str(ctx.tmp / "empty")], ctx.tmp / "empty"


def folders_without_images(ctx: Ctx) -> Run:
    root = ctx.tmp / "plain"
    for side in ("left", "right"):
        (root / side).mkdir(parents=True)
        (root / side / "README.txt").write_text("images go here\n")
    return ["info", str(root)], root


def folder_of_text_files(ctx: Ctx) -> Run:
    root = ctx.tmp / "notes"
    root.mkdir()
    (root / "readme.txt").write_text("hello\n")
    (root / "data.csv").write_text("a,b\n")
    return ["info", str(root)], root


def unequal_counts(ctx: Ctx) -> Run:
    root = plain_pair(ctx, ["000000.png", "000001.png", "000002.png"], ["000000.png"])
    return ["info", str(root)], root


def right_folder_empty(ctx: Ctx) -> Run:
    root = kitti_copy(ctx)
    (root / "image_3" / KITTI_FRAME).unlink()
    return ["info", str(root)], root


def unequal_sizes(ctx: Ctx) -> Run:
    root = kitti_small(ctx)
    right = root / "image_3" / KITTI_FRAME
    write_image(right, read_image_unchanged(right)[:, :300])
    return ["eval", str(root)], right


def png_cut_in_half(ctx: Ctx) -> Run:
    root = kitti_copy(ctx)
    left = root / "image_2" / KITTI_FRAME
    data = left.read_bytes()
    left.write_bytes(data[:len(data) // 2])
    return ["info", str(root)], left


def text_named_png(ctx: Ctx) -> Run:
    root = kitti_copy(ctx)
    left = root / "image_2" / KITTI_FRAME
    left.write_text("this is a text file, not an image\n")
    return ["info", str(root)], left


def converted(convert: Callable[[np.ndarray], np.ndarray]) -> Callable[[Ctx], Run]:
    def build(ctx: Ctx) -> Run:
        root = kitti_small(ctx, convert=convert)
        return ["info", str(root)], root
    return build


def huge_images(ctx: Ctx) -> Run:
    root = kitti_copy(ctx)
    big = huge_png(20000, 20000)
    for folder in ("image_2", "image_3"):
        (root / folder / KITTI_FRAME).write_bytes(big)
    ctx.state["rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return ["info", str(root)], root / "image_2" / KITTI_FRAME


def memory_did_not_grow(ctx: Ctx) -> None:
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - ctx.state["rss_kb"]) / 1024
    assert grown_mb < 200, f"peak memory grew by {grown_mb:.0f} MB: the image was decoded"


def kitti_gt(edit: Callable[[np.ndarray], np.ndarray]) -> Callable[[Ctx], Run]:
    def build(ctx: Ctx) -> Run:
        root = kitti_small(ctx)
        gt = root / "disp_occ_0" / KITTI_FRAME
        write_image(gt, edit(read_image_unchanged(gt)))
        return ["eval", str(root)], gt
    return build


def middlebury_gt(data: Callable[[Path], None]) -> Callable[[Ctx], Run]:
    def build(ctx: Ctx) -> Run:
        scene = middlebury_scene(ctx)
        data(scene / "disp0GT.pfm")
        return ["eval", str(scene)], scene / "disp0GT.pfm"
    return build


def _pfm_bad_header(path: Path) -> None:
    path.write_bytes(b"PX\n300 200\n-1.0\n" + bytes(300 * 200 * 4))


def _pfm_short(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-4000])


def _pfm_other_size(path: Path) -> None:
    write_pfm(path, read_pfm(path)[:, :299])


def _pfm_colour(path: Path) -> None:
    gt = read_pfm(path)
    write_pfm(path, np.stack([gt, gt, gt], axis=2))


def _pfm_with_nans(path: Path) -> None:
    gt = read_pfm(path)
    gt[50:120, 100:200] = np.nan
    write_pfm(path, gt)


def calib_option(text: Callable[[Ctx], str], name: str = "calib.txt") -> Callable[[Ctx], Run]:
    def build(ctx: Ctx) -> Run:
        path = ctx.tmp / name
        path.write_text(text(ctx))
        return ["info", str(ctx.kitti), "--calib", str(path)], path
    return build


def _drop_line(key: str) -> Callable[[str], str]:
    return lambda text: "".join(line for line in text.splitlines(keepends=True) if not line.startswith(key + ":"))


def _replace(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text
        return text.replace(old, new)
    return edit


def missing_calib_file(ctx: Ctx) -> Run:
    return ["info", str(ctx.kitti), "--calib", str(ctx.tmp / "calib_missing.txt")], ctx.tmp / "calib_missing.txt"


def folder_calib_without_right_camera(command: str) -> Callable[[Ctx], Run]:
    def build(ctx: Ctx) -> Run:
        root = kitti_small(ctx)
        calib = root / "calib_cam_to_cam.txt"
        calib.write_text(_drop_line("P_rect_03")(calib.read_text()))
        argv = ["info", str(root)] if command == "info" else ["export", str(root), "--out", str(ctx.tmp / "out")]
        return argv, calib
    return build


def middlebury_full_size_calib(ctx: Ctx) -> Run:
    scene = middlebury_scene(ctx)
    (scene / "calib.txt").write_text(middlebury_calib(width=2964, height=2000))
    return ["eval", str(scene)], scene / "calib.txt"


def option_values(*options: str) -> Callable[[Ctx], Run]:
    return lambda ctx: (["info", str(ctx.kitti), *options], "command-line options")


def non_ascii_path(ctx: Ctx) -> Run:
    root = ctx.tmp / "my data" / "KITTI 2015 – été 東京"
    root.parent.mkdir()
    shutil.copytree(ctx.kitti, root)
    return ["info", str(root)], root


def missing_non_ascii_path(ctx: Ctx) -> Run:
    return ["info", str(ctx.tmp / "données à voir" / "été 東京")], ctx.tmp / "données à voir" / "été 東京"


def no_such_folder(ctx: Ctx) -> Run:
    return ["info", str(ctx.tmp / "nowhere")], ctx.tmp / "nowhere"


def a_file_not_a_folder(ctx: Ctx) -> Run:
    return ["info", str(ctx.kitti / "image_2" / KITTI_FRAME)], ctx.kitti / "image_2" / KITTI_FRAME


def parent_of_training(ctx: Ctx) -> Run:
    root = ctx.tmp / "data_scene_flow"
    kitti_small(ctx, name="data_scene_flow/training")
    (root / "devkit").mkdir()
    return ["info", str(root)], root


def export_to(out: Callable[[Ctx], Path], formats: str = "pfm",
              patch: Callable[[Ctx], None] | None = None) -> Callable[[Ctx], Run]:
    def build(ctx: Ctx) -> Run:
        root = kitti_small(ctx)
        target = out(ctx)
        if patch is not None:
            patch(ctx)
        return ["export", str(root), "--out", str(target), "--format", formats], target
    return build


def refuse_writes(ctx: Ctx) -> None:
    """A read-only folder, simulated: the tests may run as root, who may write in a chmod 555 folder."""
    real_open = atomic.os.open

    def open_refused(path: Any, flags: int, *args: Any) -> int:
        if flags & atomic.os.O_CREAT:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args)

    ctx.monkeypatch.setattr(atomic.os, "open", open_refused)


class _FullDisk:
    """A file object whose writes fail as on a full disk; everything else is the real file's."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def write(self, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()


def fill_the_disk(ctx: Ctx) -> None:
    real_fdopen = atomic.os.fdopen
    ctx.monkeypatch.setattr(atomic.os, "fdopen", lambda fd, *args, **kw: _FullDisk(real_fdopen(fd, *args, **kw)))


def an_existing_file(ctx: Ctx) -> Path:
    path = ctx.tmp / "out.txt"
    path.write_text("I am a file\n")
    return path


def a_missing_folder(ctx: Ctx) -> Path:
    return ctx.tmp / "exports" / "run 1"


def exported_files_read_back(ctx: Ctx) -> None:
    disparity = read_pfm(ctx.tmp / "exports" / "run 1" / "000000_10.pfm")
    assert disparity.shape == (192, 320) and np.isfinite(disparity).mean() > 0.5


# ---- sequences: the CLI opens a path that is no stereo folder as a sequence ----------------------------------


def sequence_info(path: Callable[[Ctx], Path], **options: Callable[[Ctx], Path]) -> Callable[[Ctx], Run]:
    """`depthviewer info PATH [--poses FILE] [--intrinsics FILE]`; the message must name the option's file."""
    def build(ctx: Ctx) -> Run:
        root = path(ctx)
        argv, named = ["info", str(root)], root
        for option, make in options.items():
            named = make(ctx)
            argv += [f"--{option}", str(named)]
        return argv, named
    return build


def video_without_frames(ctx: Ctx) -> Run:
    path = write_video(ctx.tmp / "empty.avi", 0)
    return ["info", str(path)], path


def video_cut_mid_stream(ctx: Ctx) -> Run:
    """Through the library: the CLI reads a video's frames only to compute depth, which needs a model here."""
    full = write_video(ctx.tmp / "full.avi", 60)
    cut = ctx.tmp / "cut.avi"
    cut.write_bytes(full.read_bytes()[:full.stat().st_size // 2])
    return _load_every_frame(cut), cut


def text_named_mp4(ctx: Ctx) -> Run:
    path = ctx.tmp / "clip.mp4"
    path.write_bytes(b"\x00\x01 not a video " * 200)
    return ["info", str(path)], path


def kitti_poses(lines: int, corrupt: bool = False) -> Callable[[Ctx], Path]:
    def make(ctx: Ctx) -> Path:
        rows = next((ctx.shared / ODOMETRY).glob("poses*.txt")).read_text().splitlines()[:lines]
        if corrupt:
            rows[1] = rows[1].replace(rows[1].split()[3], "abc", 1)
        path = ctx.tmp / "my poses.txt"
        path.write_text("\n".join(rows) + "\n")
        return path
    return make


def odometry_with_short_poses_beside(ctx: Ctx) -> Run:
    root = odometry_copy(ctx, poses_beside=True)
    poses = next(root.glob("poses*.txt"))
    poses.write_text("".join(poses.read_text().splitlines(keepends=True)[:4]))
    return ["info", str(root)], poses


def tum_hours_later(ctx: Ctx) -> Path:
    path = ctx.tmp / "groundtruth.txt"
    path.write_text("".join(f"{3600.0 + 0.1 * i:.6f} {i * 0.8:.3f} 0 0 0 0 0 1\n" for i in range(6)))
    return path


def image_folder_with_short_times(ctx: Ctx) -> Path:
    root = ctx.tmp / "frames"
    shutil.copytree(ctx.shared / ODOMETRY / "image_0", root)
    (root / "times.txt").write_text("0.0\n0.1\n")
    return root


def zero_focal_intrinsics(ctx: Ctx) -> Path:
    path = ctx.tmp / "K.txt"
    path.write_text("0 0 607.19\n0 718.86 185.22\n0 0 1\n")
    return path


def euroc_with_sensor_yaml(text: str) -> Callable[[Ctx], Run]:
    def build(ctx: Ctx) -> Run:
        root = euroc_small(ctx)
        yaml = root / "mav0" / "cam0" / "sensor.yaml"
        yaml.write_text(text)
        return ["info", str(root)], yaml
    return build


def euroc_edited(old: str, new: str) -> Callable[[Ctx], Run]:
    def build(ctx: Ctx) -> Run:
        root = euroc_small(ctx)
        yaml = root / "mav0" / "cam0" / "sensor.yaml"
        yaml.write_text(_replace(old, new)(yaml.read_text()))
        return ["info", str(root)], yaml
    return build


ROS_CAMERA_INFO = """image_width: 752
image_height: 480
camera_name: cam0
camera_matrix:
  rows: 3
  cols: 3
  data: [458.654, 0, 367.215, 0, 457.296, 248.375, 0, 0, 1]
distortion_model: plumb_bob
distortion_coefficients:
  rows: 1
  cols: 5
  data: [-0.28340811, 0.07395907, 0.00019359, 1.76187114e-05, 0]
"""


# ---- model files (library: create_backend) --------------------------------------------------------------------


def monodepth2_with(encoder: Callable[[Ctx], dict[str, Any] | bytes]) -> Callable[[Ctx], Run]:
    def build(ctx: Ctx) -> Run:
        folder = monodepth2_folder(ctx, encoder(ctx))
        return lambda: create_backend("monodepth2", model=folder, device="cpu"), folder / "encoder.pth"
    return build


def _without(key: str) -> Callable[[Ctx], dict[str, Any]]:
    def make(ctx: Ctx) -> dict[str, Any]:
        state = valid_encoder_state()
        del state[key]
        return state
    return make


def _with_extra(ctx: Ctx) -> dict[str, Any]:
    return {**valid_encoder_state(), "decoder_head.weight": torch.zeros(3, 3)}


def _torch_saved_code(ctx: Ctx) -> bytes:
    path = ctx.tmp / "evil.pth"
    torch.save({"encoder.conv1.weight": RunsCode(ctx.tmp / "marker")}, path)
    return path.read_bytes()


def _pickled_code(ctx: Ctx) -> bytes:
    return pickle.dumps({"encoder.conv1.weight": RunsCode(ctx.tmp / "marker")}, protocol=2)


def monodepth2_without_depth_file(ctx: Ctx) -> Run:
    folder = monodepth2_folder(ctx, valid_encoder_state())
    return lambda: create_backend("monodepth2", model=folder, device="cpu"), folder / "depth.pth"


def missing_model_folder(ctx: Ctx) -> Run:
    return lambda: create_backend("monodepth2", model=ctx.tmp / "mono_640x192", device="cpu"), ctx.tmp / "mono_640x192"


def torchscript_file(content: Callable[[Ctx], bytes]) -> Callable[[Ctx], Run]:
    def build(ctx: Ctx) -> Run:
        path = ctx.tmp / "model.pt"
        path.write_bytes(content(ctx))
        return lambda: create_backend("torchscript", model=path, device="cpu", model_output="depth"), path
    return build


def _torch_saved_state(ctx: Ctx) -> bytes:
    torch.save({"weight": torch.zeros(2)}, ctx.tmp / "state.pt")
    return (ctx.tmp / "state.pt").read_bytes()


# ---- the table --------------------------------------------------------------------------------------------------


def _gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def _sixteen_bit(image: np.ndarray) -> np.ndarray:
    return image.astype(np.uint16) * 257


def _rgba(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)


CASES = [
    # -- stereo folders through the CLI
    Case("empty-folder", empty_folder, 2,
         r"empty: neither a stereo folder \(not a known stereo folder layout\. Expected one of: kitti2015: .* "
         r"Found: nothing \(the folder is empty\)\.\) nor a sequence \(not a known sequence layout\. Expected one "
         r"of: video: .* Found: nothing \(the folder is empty\)\.\)"),
    Case("folders-with-no-images", folders_without_images, 2, r"no images in left/ and right/"),
    Case("folder-of-text-files", folder_of_text_files, 2,
         r"not a known stereo folder layout\..* Found: data\.csv, readme\.txt\.\) nor a sequence \(not a known "
         r"sequence layout\..* Found: data\.csv, readme\.txt\.\)"),
    Case("left-right-counts-differ", unequal_counts, 2,
         r"left and right images do not match by file name; only in left/: 000001\.png, 000002\.png"),
    Case("right-folder-empty", right_folder_empty, 2, r"only in image_2/: 000000_10\.png"),
    Case("left-right-sizes-differ", unequal_sizes, 2,
         r"left image is 320x192 but right image .*image_3/000000_10\.png is 300x192: a rectified pair must have one "
         r"size"),
    Case("png-cut-in-half", png_cut_in_half, 2,
         r"image_2/000000_10\.png: not a readable image \(the PNG file is cut off before its end"),
    Case("text-file-named-png", text_named_png, 2,
         r"image_2/000000_10\.png: not a readable image \(named \.png but not a PNG file: it starts with b'this is "),
    Case("sixteen-bit-images", converted(_sixteen_bit), 0,
         r"pixel_format: 16-bit RGB \(read as 8-bit RGB: values / 256\)"),
    Case("grayscale-images", converted(_gray), 0,
         r"pixel_format: 8-bit grayscale \(read as 8-bit RGB: grey replicated to 3 channels\)"),
    Case("rgba-images", converted(_rgba), 0, r"pixel_format: 8-bit RGBA \(read as 8-bit RGB: alpha dropped\)"),
    Case("image-20000x20000", huge_images, 2,
         r"image too large: 20000x20000 pixels \(400 MP\) is above the limit of 64 MP; downsample it first",
         check=memory_did_not_grow),
    Case("kitti-gt-wrong-size", kitti_gt(lambda gt: gt[:150, :300]), 2,
         r"disp_occ_0/000000_10\.png: GT disparity is 300x150 but the image 000000_10\.png is 320x192"),
    Case("kitti-gt-8-bit", kitti_gt(lambda gt: (gt // 256).astype(np.uint8)), 2,
         r"the file is not a 16-bit KITTI disparity PNG \(found 8-bit, 1-channel data\)"),
    Case("pfm-bad-header", middlebury_gt(_pfm_bad_header), 2,
         r"disp0GT\.pfm: not a PFM file: the header must be 'PF' or 'Pf', width height, scale"),
    Case("pfm-wrong-size", middlebury_gt(_pfm_short), 2,
         r"disp0GT\.pfm: PFM data size mismatch: 300 x 200 x 1 float32 needs 240000 bytes, the file has 236000 after "
         r"the header"),
    Case("pfm-gt-wrong-size", middlebury_gt(_pfm_other_size), 2,
         r"disp0GT\.pfm: GT disparity is 299x200 but the image im0\.png is 300x200"),
    Case("pfm-three-channels", middlebury_gt(_pfm_colour), 2,
         r"disp0GT\.pfm: GT disparity must be a single-channel PFM \('Pf'\), this one has 3 channels"),
    Case("pfm-with-nans", middlebury_gt(_pfm_with_nans), 0,
         r"Motorcycle: photometric=.* d1_all=.* density=(?!0)"),  # NaN is "no GT there", like Middlebury's inf
    Case("calib-missing-key", calib_option(lambda ctx: kitti_calib_text(ctx, _drop_line("P_rect_03"))), 2,
         r"calib\.txt: missing key 'P_rect_03'"),
    Case("calib-not-a-number",
         calib_option(lambda ctx: kitti_calib_text(ctx, _replace("7.215377e+02 0.0", "7.2x 0.0"))), 2,
         r"calib\.txt: 'P_rect_02' has a value that is not a number"),
    Case("calib-zero-focal-length", calib_option(lambda ctx: middlebury_calib(focal="0")), 2,
         r"calib\.txt: 'cam0': focal length must be positive, got fx=0, fy=0"),
    Case("calib-negative-baseline", calib_option(lambda ctx: middlebury_calib(baseline="-193.001")), 2,
         r"calib\.txt: 'baseline' must be positive, got -193\.001 mm"),
    Case("calib-right-camera-on-the-left",
         calib_option(lambda ctx: kitti_calib_text(ctx, _replace("-3.395242e+02", "3.395242e+02"))), 2,
         r"calib\.txt: baseline from 'P_rect_02'/'P_rect_03' is -0\.4084 m, not positive"),
    Case("calib-unknown-format", calib_option(lambda ctx: "fx = 721.5\nbaseline = 0.54\n"), 2,
         r"calib\.txt: unknown calibration format; accepted formats: KITTI raw"),
    Case("calib-file-missing", missing_calib_file, 2, r"calib_missing\.txt: calibration file not found"),
    Case("folder-calib-broken-on-export", folder_calib_without_right_camera("export"), 2,
         r"calib_cam_to_cam\.txt: missing key 'P_rect_03'", check=no_files_in("out")),
    Case("folder-calib-broken-on-info", folder_calib_without_right_camera("info"), 0,
         r"calibration_error: .*calib_cam_to_cam\.txt: missing key 'P_rect_03'"),
    Case("middlebury-calib-of-another-size", middlebury_full_size_calib, 2,
         r"calib\.txt: calib\.txt is for 2964x2000 images but im0\.png is 300x200 "
         r"\(full/half/quarter size mixed up\?\)"),
    Case("option-zero-focal-length", option_values("--focal-px", "0", "--baseline-m", "0.54"), 2,
         r"command-line options: focal length must be positive, got fx=0"),
    Case("option-negative-baseline", option_values("--focal-px", "721.5", "--baseline-m", "-0.54"), 2,
         r"command-line options: baseline must be positive, got -0\.54 m"),
    Case("path-with-spaces-and-non-ascii", non_ascii_path, 0, r"layout: kitti2015\nroot: .*KITTI 2015 – été 東京\n"),
    Case("missing-path-with-non-ascii", missing_non_ascii_path, 2, r"données à voir/été 東京: no such folder"),
    Case("no-such-folder", no_such_folder, 2, r"nowhere: no such folder"),
    Case("a-file-not-a-folder", a_file_not_a_folder, 2,
         r"000000_10\.png: neither a stereo folder \(not a folder\) nor a sequence \(a single image is not a sequence: "
         r"open the folder that holds the frames\)"),
    Case("dataset-parent-folder", parent_of_training, 2,
         r"not a known stereo folder layout\..* Found: devkit/, training/\. Did you mean .*data_scene_flow/training\?"),
    Case("export-folder-read-only", export_to(lambda ctx: ctx.tmp / "out", patch=refuse_writes), 2,
         r"out/000000_10\.pfm: cannot write in folder .*out: Permission denied",
         check=no_files_in("out")),
    Case("export-folder-not-creatable", export_to(lambda ctx: Path("/proc/depthviewer-out")), 2,
         r"/proc/depthviewer-out: cannot create the output folder: No such file or directory"),
    Case("export-folder-is-a-file", export_to(an_existing_file), 2,
         r"out\.txt: the output folder is a file, not a folder"),
    Case("export-folder-missing", export_to(a_missing_folder), 0, r"exports/run 1/000000_10\.pfm\n",
         check=exported_files_read_back),
    Case("export-disk-full", export_to(lambda ctx: ctx.tmp / "out", "pfm,ply", patch=fill_the_disk), 2,
         r"out/000000_10\.pfm: cannot write the file: the disk is full \(No space left on device\)",
         check=no_files_in("out")),
    # -- sequences through the CLI (a video read frame by frame through the library)
    Case("video-with-no-frames", video_without_frames, 2, r"empty\.avi: the video has no frames"),
    Case("video-truncated-mid-stream", video_cut_mid_stream, InputError,
         r"cut\.avi: frame \d+ cannot be decoded: only frames 0\.\.\d+ of the video decode although its header "
         r"declares 60; the file may be truncated"),
    Case("text-file-named-mp4", text_named_mp4, 2,
         r"clip\.mp4: not a readable video: OpenCV's FFmpeg backend cannot open it"),
    Case("poses-fewer-lines-than-frames", sequence_info(odometry_copy, poses=kitti_poses(3)), 2,
         r"my poses\.txt: the pose file has 3 poses but the sequence has 6 frames"),
    Case("poses-beside-fewer-lines-than-frames", odometry_with_short_poses_beside, 2,
         r"poses_00_frames000000-000005\.txt: the pose file has 4 poses but the sequence has 6 frames"),
    Case("poses-not-numbers", sequence_info(odometry_copy, poses=kitti_poses(6, corrupt=True)), 2,
         r"my poses\.txt: line 2: 'abc' is not a number"),
    Case("tum-timestamps-match-nothing", sequence_info(odometry_copy, poses=tum_hours_later), 2,
         r"groundtruth\.txt: frame 0 at t = 0\.000000 s has no trajectory sample within 0\.05\d* s: the nearest is at "
         r"t = 3600\.000000 s \(6 of 6 frames unmatched"),
    Case("times-fewer-than-frames", sequence_info(image_folder_with_short_times), 2,
         r"times\.txt: the times file has 2 entries but the folder has 6 images"),
    Case("intrinsics-zero-focal-length", sequence_info(odometry_copy, intrinsics=zero_focal_intrinsics), 2,
         r"K\.txt: focal lengths must be positive, got fx=0, fy=718\.86"),
    Case("yaml-not-euroc", euroc_with_sensor_yaml(ROS_CAMERA_INFO), 2,
         r"sensor\.yaml: not an EuRoC camera sensor\.yaml: missing keys T_BS, resolution, intrinsics"),
    Case("yaml-block-list", euroc_with_sensor_yaml("- camera\n- imu\n"), 2,
         r"sensor\.yaml: line 1: not a 'key: value' line: '- camera'"),
    Case("euroc-fisheye-model", euroc_edited("camera_model: pinhole", "camera_model: omni"), 2,
         r"sensor\.yaml: camera model 'omni' with distortion 'radial-tangential' is not supported"),
    Case("euroc-zero-resolution", euroc_edited("resolution: [752, 480]", "resolution: [0, 480]"), 2,
         r"sensor\.yaml: 'resolution' must be two whole numbers of pixels in 1\.\.65535, got 0 x 480"),
    Case("euroc-not-a-rotation", euroc_edited("0.0148655429818, -0.999880929698", "2.0, -0.999880929698"), 2,
         r"sensor\.yaml: 'T_BS' is not a rigid transform"),
    # -- model files through the library (create_backend)
    Case("model-folder-missing", missing_model_folder, InputError, r"expected a Monodepth2 weights folder"),
    Case("checkpoint-text-file", monodepth2_with(lambda ctx: b"hello, these are not weights\n"), InputError,
         r"encoder\.pth: not a PyTorch checkpoint: torch\.save writes a zip archive .* and this file is neither"),
    Case("checkpoint-empty-file", monodepth2_with(lambda ctx: b""), InputError,
         r"encoder\.pth: not a PyTorch checkpoint \(the file is empty\)"),
    Case("checkpoint-missing-keys", monodepth2_with(_without("encoder.layer4.1.bn2.running_var")), InputError,
         r"encoder\.pth: missing keys: encoder\.layer4\.1\.bn2\.running_var$"),
    Case("checkpoint-extra-keys", monodepth2_with(_with_extra), InputError,
         r"encoder\.pth: unexpected keys: decoder_head\.weight$"),
    Case("checkpoint-missing-training-size", monodepth2_with(_without("height")), InputError,
         r"encoder\.pth: entry 'height' must be the training height in pixels, a positive multiple of 32; found "
         r"missing"),
    Case("checkpoint-second-file-missing", monodepth2_without_depth_file, InputError,
         r"depth\.pth: checkpoint not found"),
    Case("checkpoint-torch-save-runs-code", monodepth2_with(_torch_saved_code), InputError,
         r"encoder\.pth: refused to load: the checkpoint holds Python objects other than tensors, and unpickling "
         r"them could run code \(Unsupported global: GLOBAL exec\)", check=marker_absent),
    Case("checkpoint-pickle-runs-code", monodepth2_with(_pickled_code), InputError,
         r"encoder\.pth: refused to load: .* could run code \(Unsupported global: GLOBAL exec\)", check=marker_absent),
    Case("torchscript-text-file", torchscript_file(lambda ctx: b"def forward(x): return x\n"), InputError,
         r"model\.pt: not a TorchScript file \(it is not a zip archive; a Python pickle is refused\)"),
    Case("torchscript-pickle-runs-code", torchscript_file(_pickled_code), InputError,
         r"model\.pt: not a TorchScript file \(it is not a zip archive; a Python pickle is refused\)",
         check=marker_absent),
    Case("torchscript-is-a-checkpoint", torchscript_file(_torch_saved_state), InputError,
         r"model\.pt: not a TorchScript file \(no code/ or constants\.pkl; a torch\.save checkpoint is not a model"),
]


@pytest.fixture
def ctx(tmp_path: Path, kitti2015_dir: Path, middlebury_dir: Path, shared_data: Path,
        monkeypatch: pytest.MonkeyPatch) -> Ctx:
    return Ctx(tmp_path, kitti2015_dir, middlebury_dir, shared_data, monkeypatch)


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Any:
    """One intra-op thread: on a shared 2-core machine extra threads only spin."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 30 and len({case.id for case in CASES}) == len(CASES)
    assert sum(isinstance(case.expected, int) and case.expected == 2 for case in CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input(case: Case, ctx: Ctx, capsys: pytest.CaptureFixture[str]) -> None:
    action, named = case.build(ctx)
    if isinstance(action, list):
        code = main(action)
        out, err = capsys.readouterr()
        assert code == case.expected, f"exit code {code}; stderr: {err}; stdout: {out}"
        if code == 2:
            assert err.startswith("depthviewer: error: ") and err.count("\n") == 1, err
            assert str(named) in err, f"the message does not name {named}: {err}"
            assert re.search(case.message, err), f"{case.message!r} not in: {err}"
            assert "Traceback" not in err
        else:
            assert err == "", err
            assert re.search(case.message, out), f"{case.message!r} not in: {out}"
    else:
        assert isinstance(case.expected, type)
        with pytest.raises(DepthViewerError) as raised:
            action()
        error = raised.value
        assert type(error) is case.expected, f"{type(error).__name__} instead of {case.expected.__name__}: {error}"
        assert str(named) in str(error), f"the message does not name {named}: {error}"
        assert re.search(case.message, str(error)), f"{case.message!r} not in: {error}"
    if case.check is not None:
        case.check(ctx)

    ctx.monkeypatch.undo()  # the simulated failures end here: the next command must find a working system
    assert main(["info", str(ctx.kitti)]) == 0, "the CLI no longer works on the good data"
    assert "layout: kitti2015" in capsys.readouterr().out


def test_converted_images_give_the_metrics_of_the_original(ctx: Ctx, capsys: pytest.CaptureFixture[str]) -> None:
    """16-bit (x 257) and RGBA copies of the pair are read as the same 8-bit RGB: eval gives the same numbers."""
    outputs = []
    for name, convert in (("original", None), ("sixteen", _sixteen_bit), ("rgba", _rgba)):
        assert main(["eval", str(kitti_small(ctx, name=name, convert=convert)), "--json"]) == 0
        outputs.append(re.sub(r'"(device|analysis_device)": "[^"]*"', "", capsys.readouterr().out))
    assert outputs[0] == outputs[1] == outputs[2]
