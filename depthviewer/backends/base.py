"""The one protocol every depth backend implements; the app and the CLI know only this."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from depthviewer.types import StereoPrediction


@runtime_checkable
class StereoBackend(Protocol):
    """Predicts left and right disparities for a rectified pair.

    `predict` takes (H, W, 3) uint8 RGB arrays of equal size and returns disparities in pixels,
    float32 (H, W), NaN where the backend gives no estimate. It must be safe to call from a worker thread.
    """

    name: str
    kind: str

    @property
    def device(self) -> str: ...

    def predict(self, left_rgb: np.ndarray, right_rgb: np.ndarray) -> StereoPrediction: ...


def check_pair(left_rgb: np.ndarray, right_rgb: np.ndarray) -> None:
    """Raise ValueError unless both images are (H, W, 3) uint8 of the same size."""
    for name, image in (("left", left_rgb), ("right", right_rgb)):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"{name} image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
    if left_rgb.shape != right_rgb.shape:
        raise ValueError(f"left and right images differ in size: {left_rgb.shape} vs {right_rgb.shape}")
