"""Opening whatever a user points at: a stereo folder when it is one, else a sequence (video or layout)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from depthviewer.errors import InputError
from depthviewer.io.sequences import detect_layout, open_sequence
from depthviewer.io.stereo_folder import StereoFolder, open_stereo_folder
from depthviewer.types import StereoCalibration


def is_stereo(source) -> bool:
    return isinstance(source, StereoFolder)


def open_with(path: Path, open_stereo: Callable[[], object], open_sequence_: Callable[[], object]):
    """Try `open_stereo()`, then `open_sequence_()`, reporting the error that matters.

    An error inside a recognised stereo folder (a bad image, a broken calibration) or inside a recognised sequence
    (a short poses file, a truncated video) is reported as it is, naming its file; only a path that is neither
    gets both reasons.
    """
    try:
        return open_stereo()
    except InputError as stereo_error:
        if not path.exists() or stereo_error.path is None or stereo_error.path.resolve() != path.resolve():
            raise
        try:
            return open_sequence_()
        except InputError as sequence_error:
            if detect_layout(path) is not None:
                raise
            raise InputError(f"neither a stereo folder ({stereo_error.reason}) nor a sequence "
                             f"({sequence_error.reason})", path) from sequence_error


def open_any(path: str | Path, *, calibration: StereoCalibration | None = None, poses=None, intrinsics=None,
             side_by_side: bool = False):
    """A StereoFolder for KITTI 2015/2012, Middlebury and left/right folders; else a sequence source."""
    path = Path(path)
    return open_with(path, lambda: open_stereo_folder(path, calibration=calibration),
                     lambda: open_sequence(path, poses=poses, intrinsics=intrinsics, side_by_side=side_by_side))
