"""The one error type the project raises for problems a user can fix."""

from __future__ import annotations

from pathlib import Path


class DepthViewerError(Exception):
    """A user-facing problem: bad input, missing calibration, an unusable backend.

    The message names the file (when there is one) and says what is wrong, so the CLI can print it
    and the app can show it without a traceback.
    """

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.reason = message
        super().__init__(f"{self.path}: {message}" if self.path is not None else message)


class InputError(DepthViewerError):
    """A file or folder the user opened cannot be read as what it should be."""


class CalibrationError(DepthViewerError):
    """Calibration is missing, incomplete or physically impossible."""


class BackendError(DepthViewerError):
    """A depth backend could not be created or failed on a frame."""
