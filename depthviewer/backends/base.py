"""The one protocol every depth backend implements; the app and the CLI know only this."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from depthviewer.types import DepthPrediction, StereoPrediction


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


@runtime_checkable
class MonocularBackend(Protocol):
    """Predicts depth from one image (a user's network). kind = "monocular".

    `predict` takes an (H, W, 3) uint8 RGB array and returns a DepthPrediction at the same size; `metric` says
    whether its depth is in metres (stereo-trained, or metric by construction) or only up to scale.
    """

    name: str
    kind: str

    @property
    def device(self) -> str: ...

    def predict_depth(self, image_rgb: np.ndarray) -> DepthPrediction: ...


@runtime_checkable
class MultiViewBackend(Protocol):
    """Predicts the depth of a target view from neighbouring views with known relative poses. kind = "multi-view".

    `sources` are (image_rgb, T_source_target 4x4) pairs; K is the 3x3 intrinsic matrix shared by all views.
    """

    name: str
    kind: str

    @property
    def device(self) -> str: ...

    def predict_depth_multiview(
        self, target_rgb: np.ndarray, sources: list[tuple[np.ndarray, np.ndarray]], K: np.ndarray
    ) -> DepthPrediction: ...


def build_params(backend: str, params_type: type, params: object | None, overrides: dict[str, object]):
    """A backend's frozen parameters: `params` (or the defaults) with `overrides`; BackendError names unknown keys."""
    from dataclasses import asdict

    from depthviewer.errors import BackendError

    base = asdict(params or params_type())
    unknown = set(overrides) - set(base)
    if unknown:
        raise BackendError(f"{backend}: unknown parameters {sorted(unknown)}; known: {sorted(base)}")
    return params_type(**{**base, **overrides})
