"""Open a monocular sequence (a video, a folder of frames, or a dataset's own layout) and load its frames.

Layouts, recognised from the content (the first that fits wins):
- video: a video file OpenCV's FFmpeg backend reads (.mp4, .avi, .mkv, .mov, ...); frame i is at i / fps s.
- euroc: EuRoC MAV `mav0/cam0/{data/, data.csv, sensor.yaml}` and cam1 (the folder holding mav0, or mav0).
  The frames served are undistorted and rectified; poses from `state_groundtruth_estimate0/data.csv` or a
  TUM `groundtruth*.txt` beside mav0.
- kitti_raw: a drive folder `YYYY_MM_DD_drive_NNNN_sync/` with `image_02/data/` (and image_03), timestamps,
  `calib_cam_to_cam.txt` above or beside, GT `proj_depth/groundtruth/image_02/`; no poses (OXTS not read).
- kitti_odometry: `sequences/NN/` with `image_0/` (+ image_1) or `image_2/` (+ image_3), `calib.txt`,
  `times.txt`, poses `../../poses/NN.txt` (or one `calib*.txt`, `times*.txt`, `poses*.txt` beside).
- scannet: a SensReader export `color/N.jpg`, `pose/N.txt`, `intrinsic/`, `depth/N.png` (mm).
- images: a folder of frames in natural order (`frame_2` before `frame_10`), optional `times.txt`.

Poses and intrinsics given to open_sequence override a layout's own (and are the only ones a video or an
image folder has). Every pose is T_world_cam of the served camera: 4x4 float64, camera-to-world, OpenCV axes.

The video and image-folder sources are here; the shared base and the KITTI and ScanNet layouts are in
sequence_layouts.py, EuRoC in euroc.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from depthviewer.errors import CalibrationError, InputError
from depthviewer.io.calibration import read_kitti_cam_to_cam, read_kitti_projections
from depthviewer.io.euroc import EurocSequence
from depthviewer.io.poses import read_pose_file, read_times_file
from depthviewer.io.sequence_layouts import (
    INTRINSICS_OPTION,
    POSES_OPTION,
    KittiOdometrySequence,
    KittiRawSequence,
    ScanNetSequence,
    SequenceBase,
    check_intrinsics,
    fps_from_times,
    images_in,
    is_kitti_numbered,
    projection_matrix,
    raw_drive_camera,
    read_matrix_file,
)
from depthviewer.io.stereo_folder import IMAGE_SUFFIXES, natural_sort_key
from depthviewer.io.video import DEFAULT_CACHE_BYTES, VIDEO_SUFFIXES, VideoSource
from depthviewer.types import SequenceFrame, StereoCalibration

LAYOUTS = {
    "video": "a video file readable by OpenCV's FFmpeg backend (.mp4, .avi, .mkv, .mov, ...)",
    "euroc": "mav0/cam0/data/*.png with mav0/cam0/data.csv and sensor.yaml (and cam1/), given as the folder "
             "holding mav0 or as mav0",
    "kitti_raw": "a drive folder with image_02/data/*.png (image_03/data, image_02/timestamps.txt), "
                 "calib_cam_to_cam.txt in the date folder above or beside",
    "kitti_odometry": "image_0/ or image_2/ with NNNNNN.png (image_1/ or image_3/), calib.txt, times.txt; "
                      "poses ../../poses/NN.txt or one poses*.txt beside",
    "scannet": "color/N.jpg with pose/N.txt or intrinsic/intrinsic_color.txt (depth/N.png optional)",
    "images": "a folder of image files (natural order), optional times.txt",
}

INTRINSICS_FORMATS = ("a 3x3 matrix (or 4x4, top-left 3x3 used) as 9 or 16 numbers",
                      "KITTI calib.txt lines 'P0:' (P1 too gives the stereo baseline) or calib_cam_to_cam 'P_rect_00:'")


@runtime_checkable
class SequenceSource(Protocol):
    """What the app and the CLI know of a sequence: frame names, what exists, and `load`.

    `poses_note` / `intrinsics_note` say where poses and K come from, or what is missing and how to give it.
    `fps` is None when the layout has no frame times. `len()` of a video may shrink once, when a read finds
    that the file is truncated.
    """

    root: Path
    layout: str
    fps: float | None
    poses_note: str
    intrinsics_note: str

    @property
    def names(self) -> list[str]: ...

    def __len__(self) -> int: ...

    @property
    def has_poses(self) -> bool: ...

    @property
    def has_stereo(self) -> bool: ...

    @property
    def has_gt_depth(self) -> bool: ...

    def pose(self, index: int) -> np.ndarray | None: ...

    def timestamp_s(self, index: int) -> float | None: ...

    def load(self, index: int) -> SequenceFrame: ...

    def describe(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


class VideoSequence(SequenceBase):
    """A video file; frame i's time is i / fps. Poses and intrinsics only from the user."""

    layout = "video"

    def __init__(self, path: Path, *, side_by_side: bool = False, cache_bytes: int) -> None:
        self.video = VideoSource(path, side_by_side=side_by_side, cache_bytes=cache_bytes)
        count = self.video.declared_frame_count
        width = len(str(count - 1))
        fps = self.video.fps
        super().__init__(path, [], names=[f"{i:0{max(width, 6)}d}" for i in range(count)],
                         rights=[None] * count, times=[i / fps if fps else None for i in range(count)], fps=fps)
        self.poses_note = f"missing: a video has no poses; {POSES_OPTION}"
        self.intrinsics_note = f"missing: a video has no intrinsics; {INTRINSICS_OPTION}"

    def __len__(self) -> int:
        return self.video.frame_count

    @property
    def has_stereo(self) -> bool:
        return self.video.side_by_side

    def _read_views(self, index: int) -> tuple[np.ndarray, np.ndarray | None]:
        if self.video.side_by_side:
            return self.video.read_pair(index)
        return self.video.read(index), None

    def _path(self, index: int) -> Path | None:
        return self.root

    def image_size(self) -> tuple[int, int]:
        return self.video.view_size

    def _details(self) -> dict[str, Any]:
        return {"video": {"codec": self.video.codec, "declared_frames": self.video.declared_frame_count,
                          "truncated": self.video.truncated, "side_by_side": self.video.side_by_side,
                          "cache_bytes": self.video.cache_bytes}}

    def close(self) -> None:
        self.video.close()


class ImageFolderSequence(SequenceBase):
    """A folder of frames in natural order; times from a `times.txt` beside (one per frame), else the index."""

    layout = "images"

    def __init__(self, root: Path) -> None:
        paths = images_in(root)
        if not paths:
            raise InputError("the folder holds no images", root)
        times_file = root / "times.txt"
        fps = None
        if times_file.is_file():
            times = read_times_file(times_file)
            if len(times) < len(paths):
                raise InputError(f"the times file has {len(times)} entries but the folder has {len(paths)} images",
                                 times_file)
            times = times[:len(paths)]
            fps = fps_from_times(times)
            self._times_note = f"from {times_file.name}"
        else:
            times = np.arange(len(paths), dtype=np.float64)
            self._times_note = "frame index (no times.txt beside the images)"
        super().__init__(root, paths, times=times, fps=fps)

    def _details(self) -> dict[str, Any]:
        return {"timestamps": self._times_note}


def _is_text(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    if b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # a character cut at the end of the block
    return True


def _is_euroc(root: Path) -> bool:
    mav = root / "mav0" if (root / "mav0").is_dir() else root
    cam0 = mav / "cam0"
    return (cam0 / "data").is_dir() and ((cam0 / "data.csv").is_file() or (cam0 / "sensor.yaml").is_file())


def _has_images(folder: Path) -> bool:
    return any(p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not p.name.startswith(".")
               for p in folder.iterdir())


def detect_layout(path: str | Path) -> str | None:
    """The layout name of `path` (see LAYOUTS), or None when it fits none."""
    root = Path(path)
    if root.is_file():
        suffix = root.suffix.lower()
        if suffix in VIDEO_SUFFIXES:
            return "video"
        # FFmpeg would open a text file as "video" (its tty demuxer renders text): only binary files qualify.
        return None if suffix in IMAGE_SUFFIXES or _is_text(root) else "video"
    if not root.is_dir():
        return None
    if _is_euroc(root):
        return "euroc"
    if raw_drive_camera(root) is not None:
        return "kitti_raw"
    if is_kitti_numbered(root / "image_0") or is_kitti_numbered(root / "image_2"):
        return "kitti_odometry"
    if (root / "color").is_dir() and ((root / "pose").is_dir() or (root / "intrinsic").is_dir()):
        return "scannet"
    if _has_images(root):
        return "images"
    return None


def _unknown_layout(root: Path) -> InputError:
    entries = sorted((p.name + ("/" if p.is_dir() else "") for p in root.iterdir() if not p.name.startswith(".")),
                     key=natural_sort_key)
    expected = "; ".join(f"{name}: {what}" for name, what in LAYOUTS.items())
    shown = ", ".join(entries[:8]) + (f" and {len(entries) - 8} more" if len(entries) > 8 else "")
    found = shown if entries else "nothing (the folder is empty)"
    hint = ""
    children = [(p, detect_layout(p)) for p in sorted(root.iterdir(), key=lambda p: natural_sort_key(p.name))
                if p.is_dir() and not p.name.startswith(".")]
    # A dataset layout below is the likely intent; any folder of images would be an `images` sequence.
    known = sorted((p for p in children if p[1] is not None), key=lambda p: p[1] == "images")
    if known:
        hint = f" Did you mean {known[0][0]} ({known[0][1]})?"
    return InputError(f"not a known sequence layout. Expected one of: {expected}. Found: {found}.{hint}", root)


def read_intrinsics(value: np.ndarray | str | Path) -> tuple[np.ndarray, str, StereoCalibration | None]:
    """K (3x3) from an array or a file, a note saying where it came from, and a StereoCalibration when the
    file is a KITTI calibration with both cameras of a pair (for side-by-side videos)."""
    if not isinstance(value, (str, Path)):
        return check_intrinsics(np.asarray(value, dtype=np.float64), "intrinsics"), "given as values", None
    path = Path(value)
    if not path.is_file():
        raise CalibrationError("intrinsics file not found" if not path.exists() else "not a file", path)
    for left, right in (("P0", "P1"), ("P2", "P3"), ("P_rect_00", "P_rect_01"), ("P_rect_02", "P_rect_03")):
        P = projection_matrix(path, left)
        if P is None:
            continue
        K = check_intrinsics(P[:, :3], path)
        stereo = None
        if projection_matrix(path, right) is not None:
            stereo = (read_kitti_cam_to_cam(path, left[-2:], right[-2:]) if left.startswith("P_rect")
                      else read_kitti_projections(path, left, right))
        return K, f"from {path} ({left})", stereo
    try:
        K = check_intrinsics(read_matrix_file(path)[:3, :3], path)
    except CalibrationError as exc:
        raise CalibrationError(f"{exc.reason}; accepted intrinsics files: " + "; ".join(INTRINSICS_FORMATS),
                               path) from None
    return K, f"from {path}", None


def read_poses_argument(value: np.ndarray | str | Path) -> tuple[np.ndarray, np.ndarray | None, str | Path, str]:
    """(poses (N, 4, 4), times (N,) or None, source, description) from a pose file or an (N, 4, 4) array."""
    if isinstance(value, (str, Path)):
        pose_file = read_pose_file(value)
        what = ("KITTI format, one line per frame" if pose_file.format == "kitti"
                else "TUM trajectory, matched to frames by nearest time")
        return pose_file.poses, pose_file.times_s, pose_file.path, what
    poses = np.asarray(value, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[1:] != (4, 4):
        raise ValueError(f"poses must be a file or an (N, 4, 4) array, got shape {poses.shape}")
    return poses, None, "the poses argument", "an array, one pose per frame"


def open_sequence(path: str | Path, *, poses: np.ndarray | str | Path | None = None,
                  intrinsics: np.ndarray | str | Path | None = None, side_by_side: bool = False,
                  cache_bytes: int = DEFAULT_CACHE_BYTES) -> SequenceSource:
    """Recognise the layout of `path` (see LAYOUTS) and list its frames; images are read by `load`.

    `poses`: a KITTI or TUM pose file (format detected from the content) or an (N, 4, 4) array of T_world_cam;
    `intrinsics`: a 3x3 array or a file (3x3 / 4x4 matrix, or KITTI `P0:` lines). Both override the layout's.
    `side_by_side` (video only): each frame is a left|right stereo pair. `cache_bytes`: the video frame cache.
    Raises InputError for a path of no known layout (listing what each expects) or an unreadable file, and
    CalibrationError for unusable calibration.
    """
    root = Path(path)
    if not root.exists():
        raise InputError("no such file or folder", root)
    layout = detect_layout(root)
    if root.is_file() and layout is None:
        if root.suffix.lower() in IMAGE_SUFFIXES:
            raise InputError("a single image is not a sequence: open the folder that holds the frames", root)
        raise InputError("a text file, not a video or a folder of frames (a pose or intrinsics file? give it "
                         "with --poses FILE or --intrinsics FILE)", root)
    if layout is None:
        raise _unknown_layout(root)
    if side_by_side and layout != "video":
        raise InputError(f"side-by-side applies to video files; this is a {layout} layout", root)
    try:
        source = _open_layout(root, layout, side_by_side, cache_bytes)
    except PermissionError as exc:
        raise InputError(f"cannot read it ({exc.strerror or exc})", exc.filename or root) from exc
    try:
        if intrinsics is not None:
            source.use_intrinsics(*read_intrinsics(intrinsics))
        if poses is not None:
            source.use_poses(*read_poses_argument(poses))
    except BaseException:
        source.close()
        raise
    return source


def _open_layout(root: Path, layout: str, side_by_side: bool, cache_bytes: int) -> SequenceBase:
    if layout == "video":
        return VideoSequence(root, side_by_side=side_by_side, cache_bytes=cache_bytes)
    if layout == "euroc":
        return EurocSequence(root)
    if layout == "kitti_raw":
        return KittiRawSequence(root)
    if layout == "kitti_odometry":
        return KittiOdometrySequence(root)
    if layout == "scannet":
        return ScanNetSequence(root)
    return ImageFolderSequence(root)
