"""Opening whatever a user points at: a stereo folder when it is one, else a sequence (video or layout)."""

from __future__ import annotations

from pathlib import Path

from depthviewer.errors import InputError
from depthviewer.io.sequences import open_sequence
from depthviewer.io.stereo_folder import StereoFolder, open_stereo_folder
from depthviewer.types import StereoCalibration


def is_stereo(source) -> bool:
    return isinstance(source, StereoFolder)


def open_any(path: str | Path, *, calibration: StereoCalibration | None = None, poses=None, intrinsics=None,
             side_by_side: bool = False):
    """A StereoFolder for KITTI 2015/2012, Middlebury and left/right folders; else a sequence source.

    An error inside a recognised stereo folder (a bad image, a broken calibration) is reported as such; only a
    path that is no stereo folder at all is tried as a sequence, and if that fails too both reasons are given.
    """
    path = Path(path)
    try:
        return open_stereo_folder(path, calibration=calibration)
    except InputError as stereo_error:
        if not path.exists() or stereo_error.path is None or stereo_error.path.resolve() != path.resolve():
            raise
        try:
            return open_sequence(path, poses=poses, intrinsics=intrinsics, side_by_side=side_by_side)
        except InputError as sequence_error:
            raise InputError(f"neither a stereo folder ({stereo_error.reason}) nor a sequence "
                             f"({sequence_error.reason})", path) from sequence_error
