"""Open a folder of rectified stereo pairs in a dataset's own layout and load its frames one by one.

Layouts, recognised from the folder's content (the folder may be a dataset's `training` or `testing` folder):
- kitti2015: `image_2/` + `image_3/` (equal file names), GT `disp_occ_0/` (else `disp_noc_0/`), calibration
  `calib_cam_to_cam/NNNNNN.txt` per frame or one `calib_cam_to_cam*.txt` beside (P_rect_02/P_rect_03).
- kitti2012: `colored_0/` + `colored_1/`, GT `disp_occ/` (else `disp_noc/`), calibration `calib/NNNNNN.txt`
  or one `calib*.txt` beside (P2/P3).
- middlebury2014: a scene folder `im0.png` + `im1.png`, optional `calib.txt`, GT `disp0GT.pfm` (MiddEval3) or
  `disp0.pfm` (2014 full download), `mask0nocc.png`; or a folder holding only such scenes (MiddEval3 `trainingQ/`).
- plain: `left/` + `right/` (equal file names), optional `calib.txt` in any format read_calibration_file reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from depthviewer.errors import CalibrationError, InputError
from depthviewer.io.calibration import (
    calibration_format,
    middlebury_image_size,
    read_calibration_file,
    read_kitti_cam_to_cam,
    read_kitti_projections,
    read_middlebury_calib,
)
from depthviewer.io.images import pixel_format, read_image_unchanged, read_rgb, to_rgb
from depthviewer.io.kitti_png import read_kitti_disparity
from depthviewer.io.pfm import read_pfm
from depthviewer.types import StereoCalibration, StereoFrame

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".webp"})

LAYOUTS = {
    "kitti2015": "image_2/ and image_3/ with equal file names; optional disp_occ_0/ or disp_noc_0/, "
                 "calib_cam_to_cam/ or one calib_cam_to_cam*.txt",
    "kitti2012": "colored_0/ and colored_1/ with equal file names; optional disp_occ/ or disp_noc/, "
                 "calib/ or one calib*.txt",
    "middlebury2014": "im0.png and im1.png (one scene), or a folder whose sub-folders are all scenes; "
                      "optional calib.txt, disp0GT.pfm or disp0.pfm, mask0nocc.png",
    "plain": "left/ and right/ with equal file names; optional calib.txt",
}

CALIBRATION_OPTIONS = "give it with --calib FILE, or --focal-px and --baseline-m"

_MAX_NAMED = 5


def natural_sort_key(name: str) -> tuple[tuple[Any, ...], str]:
    """Sort key that orders embedded numbers by value: `frame_2` before `frame_10`."""
    parts = re.split(r"(\d+)", name)
    # Even positions are text, odd positions digits, so tuples of any two names compare element by element.
    # The name itself breaks ties ("A" vs "a") so the order never depends on the listing order.
    return tuple(int(part) if i % 2 else part.lower() for i, part in enumerate(parts)), name


@dataclass(frozen=True)
class _Frame:
    """Where one frame's files are; nothing is read until StereoFolder.load."""

    name: str
    left: Path
    right: Path
    gt: Path | None = None
    nonoccluded: Path | None = None
    calib: Path | None = None


def _is_visible_file(path: Path) -> bool:
    # Names starting with "." include macOS "._x.png" resource forks, which are not images.
    return not path.name.startswith(".") and path.is_file()


def _images_in(folder: Path) -> dict[str, Path]:
    return {p.name: p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and _is_visible_file(p)}


def _named(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_NAMED])
    return shown + (f" (+{len(names) - _MAX_NAMED} more)" if len(names) > _MAX_NAMED else "")


def _pairs(root: Path, left_dir: Path, right_dir: Path) -> list[tuple[str, Path, Path]]:
    """(name, left, right) for files of equal name in both folders, naturally sorted; InputError otherwise."""
    lefts, rights = _images_in(left_dir), _images_in(right_dir)
    if not lefts and not rights:
        raise InputError(f"no images in {left_dir.name}/ and {right_dir.name}/", root)
    only_left = sorted(set(lefts) - set(rights), key=natural_sort_key)
    only_right = sorted(set(rights) - set(lefts), key=natural_sort_key)
    if only_left or only_right:
        parts = [f"only in {d.name}/: {_named(names)}" for d, names in ((left_dir, only_left), (right_dir, only_right))
                 if names]
        raise InputError("left and right images do not match by file name; " + "; ".join(parts), root)
    # The file name, extension included, is the frame name: unique even where `a.png` and `a.jpg` both exist.
    return [(n, lefts[n], rights[n]) for n in sorted(lefts, key=natural_sort_key)]


def _file_or_none(path: Path | None) -> Path | None:
    return path if path is not None and path.is_file() else None


def _is_middlebury_scene(folder: Path) -> bool:
    return (folder / "im0.png").is_file() and (folder / "im1.png").is_file()


def _subfolders(root: Path) -> list[Path]:
    subs = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return sorted(subs, key=lambda p: natural_sort_key(p.name))


def _middlebury_scenes(root: Path) -> list[Path]:
    """The scene sub-folders of a collection (MiddEval3 `trainingQ/`), or [] unless every sub-folder is a scene.

    Requiring all of them keeps a parent folder that merely contains one scene (and other things) from
    being taken for a collection.
    """
    subs = _subfolders(root)
    return subs if subs and all(_is_middlebury_scene(p) for p in subs) else []


def _detect_layout(root: Path) -> str | None:
    if (root / "image_2").is_dir() and (root / "image_3").is_dir():
        return "kitti2015"
    if (root / "colored_0").is_dir() and (root / "colored_1").is_dir():
        return "kitti2012"
    if _is_middlebury_scene(root) or _middlebury_scenes(root):
        return "middlebury2014"
    if (root / "left").is_dir() and (root / "right").is_dir():
        return "plain"
    return None


def _unknown_layout(root: Path) -> InputError:
    entries = sorted((p.name + ("/" if p.is_dir() else "") for p in root.iterdir()), key=natural_sort_key)
    expected = "; ".join(f"{name}: {what}" for name, what in LAYOUTS.items())
    hint = ""
    children = [c for c in ("training", "testing") if (root / c).is_dir() and _detect_layout(root / c)]
    if children:
        hint = f" Did you mean {root / children[0]}?"
    scenes = [p.name for p in _subfolders(root) if _is_middlebury_scene(p)]
    if scenes:
        others = [p.name for p in _subfolders(root) if not _is_middlebury_scene(p)]
        hint += (f" Sub-folders {_named(scenes)} are Middlebury scenes but {_named(others)} are not: "
                 "open one scene, or a folder that holds only scenes.")
    found = _named(entries) if entries else "nothing (the folder is empty)"
    return InputError(f"not a known stereo folder layout. Expected one of: {expected}. Found: {found}.{hint}", root)


def _kitti_calibration(root: Path, names: list[str], per_frame_dir: str, single_glob: str,
                       keys: str) -> tuple[list[Path | None], str]:
    """Calibration file of each frame (per-frame folder first, else one file beside) and a note saying so."""
    folder = root / per_frame_dir
    singles = sorted(p for p in root.glob(single_glob) if _is_visible_file(p))
    single = singles[0] if len(singles) == 1 else None
    # KITTI frame `000123_10.png` (image 10 of scene 123) has the calibration file `000123.txt`.
    per_frame = [_file_or_none(folder / f"{Path(n).stem.split('_')[0]}.txt") if folder.is_dir() else None
                 for n in names]
    files = [p if p is not None else single for p in per_frame]
    missing = sum(p is None for p in files)
    if any(p is not None for p in per_frame):
        note = f"per frame from {per_frame_dir}/NNNNNN.txt ({keys})"
    elif single is not None:
        note = f"from {single.name} ({keys}), for all frames"
    elif len(singles) > 1:
        note = (f"missing: several {single_glob} files in {root} ({_named([p.name for p in singles])}); "
                f"choose one: {CALIBRATION_OPTIONS}")
    else:
        note = f"missing: no {per_frame_dir}/ folder or {single_glob} file in {root}; {CALIBRATION_OPTIONS}"
    if 0 < missing < len(files):
        note += f"; missing for {missing} of {len(files)} frames"
    return files, note


@dataclass(frozen=True)
class _KittiSpec:
    images: tuple[str, str]
    gt_occ: str
    gt_noc: str
    calib_dir: str
    calib_glob: str
    keys: str
    reader: Callable[[Path], StereoCalibration]


_KITTI = {
    "kitti2015": _KittiSpec(("image_2", "image_3"), "disp_occ_0", "disp_noc_0", "calib_cam_to_cam",
                            "calib_cam_to_cam*.txt", "P_rect_02/P_rect_03", read_kitti_cam_to_cam),
    "kitti2012": _KittiSpec(("colored_0", "colored_1"), "disp_occ", "disp_noc", "calib", "calib*.txt",
                            "P2/P3", read_kitti_projections),
}


def _open_kitti(root: Path, layout: str) -> tuple[list[_Frame], str, Callable[[Path], StereoCalibration]]:
    spec = _KITTI[layout]
    pairs = _pairs(root, root / spec.images[0], root / spec.images[1])
    calib_files, note = _kitti_calibration(root, [n for n, _, _ in pairs], spec.calib_dir, spec.calib_glob, spec.keys)
    frames = []
    for (name, left, right), calib_file in zip(pairs, calib_files):
        occ = _file_or_none(root / spec.gt_occ / left.name)
        noc = _file_or_none(root / spec.gt_noc / left.name)
        # The GT with occluded pixels is the fuller one; the non-occluded GT then serves as the visibility mask.
        frames.append(_Frame(name, left, right, gt=occ or noc, nonoccluded=noc if occ else None, calib=calib_file))
    return frames, note, spec.reader


def _open_middlebury(root: Path) -> tuple[list[_Frame], str]:
    scenes = [root] if _is_middlebury_scene(root) else _middlebury_scenes(root)
    frames = [
        _Frame(scene.name, scene / "im0.png", scene / "im1.png",
               gt=_file_or_none(scene / "disp0GT.pfm") or _file_or_none(scene / "disp0.pfm"),
               nonoccluded=_file_or_none(scene / "mask0nocc.png"),
               calib=_file_or_none(scene / "calib.txt"))
        for scene in scenes
    ]
    missing = sum(f.calib is None for f in frames)
    if missing == 0:
        note = "per scene from calib.txt (Middlebury)"
    elif missing == len(frames):
        where = "the scene folder" if len(frames) == 1 else "any scene folder"
        note = f"missing: no calib.txt in {where}; {CALIBRATION_OPTIONS}"
    else:
        note = f"per scene from calib.txt (Middlebury); missing for {missing} of {len(frames)} scenes"
    return frames, note


def _open_plain(root: Path) -> tuple[list[_Frame], str]:
    calib = _file_or_none(root / "calib.txt")
    pairs = _pairs(root, root / "left", root / "right")
    frames = [_Frame(name, left, right, calib=calib) for name, left, right in pairs]
    if calib is None:
        return frames, f"missing: no calib.txt in {root}; {CALIBRATION_OPTIONS}"
    try:
        return frames, f"from calib.txt ({calibration_format(calib)}), for all frames"
    except CalibrationError as exc:
        return frames, f"calib.txt cannot be used: {exc.reason}; {CALIBRATION_OPTIONS}"


class StereoFolder:
    """The frames of one stereo folder: names and paths at hand, images read only by `load`."""

    def __init__(self, root: Path, layout: str, frames: list[_Frame], calibration_note: str,
                 reader: Callable[[Path], StereoCalibration], calibration: StereoCalibration | None = None) -> None:
        self.root = root
        self.layout = layout
        self._frames = frames
        self._reader = reader
        self._override = calibration
        self._cache: dict[Path, StereoCalibration] = {}
        self.calibration_note = (f"from {calibration.source or 'the given values'} (overrides the folder's files)"
                                 if calibration is not None else calibration_note)

    @property
    def names(self) -> list[str]:
        """Frame names in natural order: the left image's file name (`000000_10.png`), or the Middlebury scene
        folder's name (`Motorcycle`)."""
        return [f.name for f in self._frames]

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def has_gt(self) -> bool:
        """Whether any frame has ground-truth disparity (KITTI 2015 has it for `_10` frames only)."""
        return any(f.gt is not None for f in self._frames)

    def gt_path(self, index: int) -> Path | None:
        return self._frame(index).gt

    def _frame(self, index: int) -> _Frame:
        if not 0 <= index < len(self._frames):
            raise IndexError(f"frame index {index} out of range 0..{len(self._frames) - 1}")
        return self._frames[index]

    def calibration_for(self, index: int) -> StereoCalibration | None:
        """The frame's calibration: the one given to open_stereo_folder, else the folder's file, else None."""
        frame = self._frame(index)
        if self._override is not None:
            return self._override
        if frame.calib is None:
            return None
        if frame.calib not in self._cache:
            self._cache[frame.calib] = self._reader(frame.calib)
        return self._cache[frame.calib]

    def load(self, index: int) -> StereoFrame:
        """Read the frame's images, GT disparity (float32, NaN where none) and calibration."""
        frame = self._frame(index)
        left, right = read_rgb(frame.left), read_rgb(frame.right)
        if left.shape != right.shape:
            raise InputError(f"left image is {left.shape[1]}x{left.shape[0]} but right image {frame.right} is "
                             f"{right.shape[1]}x{right.shape[0]}: a rectified pair must have one size", frame.left)
        gt = self._read_gt(frame, left.shape[:2])
        calibration = self.calibration_for(index)
        if calibration is not None and self._override is None and self.layout == "middlebury2014":
            self._check_middlebury_size(frame, left.shape[:2])
        return StereoFrame(name=frame.name, index=index, left_rgb=left, right_rgb=right, calibration=calibration,
                           gt_disparity_px=gt, dataset=self.layout, left_path=frame.left, right_path=frame.right)

    def _read_gt(self, frame: _Frame, size_hw: tuple[int, int]) -> np.ndarray | None:
        if frame.gt is None:
            return None
        if frame.gt.suffix.lower() == ".pfm":
            gt = read_pfm(frame.gt)
            if gt.ndim != 2:
                raise InputError("GT disparity must be a single-channel PFM ('Pf'), this one has 3 channels", frame.gt)
            gt = np.where(np.isfinite(gt), gt, np.nan).astype(np.float32)  # Middlebury marks unknown with inf
        else:
            gt = read_kitti_disparity(frame.gt)
        if gt.shape != size_hw:
            raise InputError(f"GT disparity is {gt.shape[1]}x{gt.shape[0]} but the image {frame.left.name} is "
                             f"{size_hw[1]}x{size_hw[0]}", frame.gt)
        return gt

    def _check_middlebury_size(self, frame: _Frame, size_hw: tuple[int, int]) -> None:
        size = middlebury_image_size(frame.calib) if frame.calib is not None else None
        if size is not None and size != (size_hw[1], size_hw[0]):
            raise CalibrationError(f"calib.txt is for {size[0]}x{size[1]} images but {frame.left.name} is "
                                   f"{size_hw[1]}x{size_hw[0]} (full/half/quarter size mixed up?)", frame.calib)

    def nonoccluded_mask(self, index: int) -> np.ndarray | None:
        """Bool (H, W): True where the dataset marks the left pixel as visible in the right view; None if unknown.

        Middlebury: `mask0nocc.png` == 255. KITTI: the pixels with a value in the non-occluded GT (`disp_noc*`).
        """
        frame = self._frame(index)
        if frame.nonoccluded is None:
            return None
        if self.layout == "middlebury2014":
            mask = read_image_unchanged(frame.nonoccluded)
            if mask.dtype != np.uint8 or mask.ndim != 2:
                raise InputError("mask0nocc.png must be an 8-bit single-channel image", frame.nonoccluded)
            return mask == 255
        return np.isfinite(read_kitti_disparity(frame.nonoccluded))

    def describe(self) -> dict[str, Any]:
        """A summary for the CLI's `info`: layout, size and pixel format of frame 0 (reads its left image),
        calibration."""
        left = self._frames[0].left
        stored = read_image_unchanged(left)
        height, width = to_rgb(stored, left).shape[:2]
        summary: dict[str, Any] = {
            "layout": self.layout,
            "root": str(self.root),
            "frames": len(self),
            "image_size": {"width": int(width), "height": int(height)},
            "pixel_format": pixel_format(stored),
            "gt_frames": sum(f.gt is not None for f in self._frames),
            "calibration": None,
            "calibration_note": self.calibration_note,
        }
        try:
            calibration = self.calibration_for(0)
        except CalibrationError as exc:
            summary["calibration_error"] = str(exc)
            return summary
        if calibration is not None:
            summary["calibration"] = {
                "fx_px": calibration.fx_px, "fy_px": calibration.fy_px,
                "cx_px": calibration.cx_px, "cy_px": calibration.cy_px,
                "baseline_m": calibration.baseline_m, "doffs_px": calibration.doffs_px,
                "source": calibration.source,
            }
        return summary


def open_stereo_folder(path: str | Path, calibration: StereoCalibration | None = None) -> StereoFolder:
    """Recognise the folder's layout and list its frames; `calibration` overrides the folder's calibration files.

    Raises InputError for a folder of no known layout (the message lists what each layout expects),
    empty image folders, or left/right folders whose file names do not match.
    """
    root = Path(path)
    if not root.is_dir():
        raise InputError("not a folder" if root.exists() else "no such folder", root)
    try:
        layout = _detect_layout(root)
        if layout is None:
            raise _unknown_layout(root)
        if layout in ("kitti2015", "kitti2012"):
            frames, note, reader = _open_kitti(root, layout)
        elif layout == "middlebury2014":
            (frames, note), reader = _open_middlebury(root), read_middlebury_calib
        else:
            (frames, note), reader = _open_plain(root), read_calibration_file
    except PermissionError as exc:
        raise InputError(f"cannot list the folder ({exc.strerror or exc})", exc.filename or root) from exc
    return StereoFolder(root, layout, frames, note, reader, calibration)
