"""Test-time refinement: a stereo backend's disparities optimised on the Monodepth objective of this one pair.

The seed's training loss (REFERENCE.md; Godard et al. 2017, "MD1's total") is minimised by gradient descent
directly over the per-pixel left and right disparities, coarse to fine:

    L = sum over v in {left, right} of  masked_mean(pe_v, valid_v)
        + smoothness_weight / 2^level * smoothness_v + lr_weight * masked_mean(lr_v, valid_lr_v)

with pe the alpha-weighted SSIM + L1 map of `depthviewer.compute.losses`, masked to pixels whose source falls
inside the other image; smoothness in Monodepth2's scale-free form (d / mean(d), published weight 1e-3) by
default, because disparities here are in pixels and Monodepth's own form (weight 0.1) assumed disparities as a
fraction of the image width; LR in pixels, weight 1.0 (so, on SGBM's output, LR is most of the loss). At a coarse
level the images are area-downsampled by 2^level and the level's correction is upsampled and added to the
full-resolution estimate, so the initial backend's fine detail is kept and the coarse levels only move it smoothly.
"""

from __future__ import annotations

import ast
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from depthviewer.backends.base import build_params, check_pair
from depthviewer.compute.device import device_label, resolve_device
from depthviewer.compute.losses import (
    lr_consistency_map,
    lr_consistency_map_right,
    masked_mean,
    photometric_parts,
    smoothness_loss,
)
from depthviewer.compute.metrics import interpolate_background
from depthviewer.compute.warping import warp_left_to_right, warp_right_to_left
from depthviewer.errors import BackendError
from depthviewer.types import StereoPrediction

# progress(iteration, total, loss) -> False to cancel; called from the worker thread.
Progress = Callable[[int, int, float], "bool | None"]


@dataclass(frozen=True)
class RefineParams:
    """Refinement parameters; the loss weights default to the published ones (REFERENCE.md).

    - initial: the stereo backend that gives the starting disparities (any registered stereo backend);
      initial_params: its parameters as "key=value, key=value" (e.g. "num_disparities=96, block_size=3").
    - iterations: Adam steps per level; learning_rate: Adam's step, in full-resolution pixels.
    - scales: pyramid levels, coarse to fine (1 = full resolution only; 3 = 1/4, 1/2, 1).
    The defaults are the mildest setting measured (tests/backends/test_refine.py, soak): on the shared KITTI 2015
    and Middlebury-Q frames they change D1 and EPE by a few hundredths; more steps, a larger step or coarse levels
    lower the loss further and make both frames worse, most at occlusions, where Monodepth's LR term is wrong.
    - alpha: SSIM weight of the photometric error (0.85).
    - smoothness_weight, normalise_smoothness: edge-aware smoothness on d / mean(d) with weight 1e-3 (Monodepth2's
      form, divided by 2^level); with normalise_smoothness False, on d in pixels (choose the weight yourself:
      Monodepth's 0.1 assumed disparities as a fraction of the image width).
    - lr_weight: left-right consistency weight, on pixels (1.0).
    - report_every: iterations between progress reports (each report evaluates the full-resolution objective).
    """

    initial: str = "sgbm"
    initial_params: str = ""
    iterations: int = 30
    learning_rate: float = 0.02
    scales: int = 1
    alpha: float = 0.85
    smoothness_weight: float = 1e-3
    normalise_smoothness: bool = True
    lr_weight: float = 1.0
    report_every: int = 5

    def __post_init__(self) -> None:
        from depthviewer.backends import backend_names  # the registry imports this module lazily

        stereo = [name for name in backend_names("stereo") if name != "refine"]
        if self.initial not in stereo:
            raise BackendError(f"refine: initial must be one of {stereo}, got {self.initial!r}")
        self.initial_overrides()  # a malformed string fails here, not on the first frame
        if self.iterations < 0 or self.scales < 1 or self.report_every < 1:
            raise BackendError("refine: iterations must be >= 0, scales and report_every >= 1")
        if not self.learning_rate > 0 or not 0 <= self.alpha <= 1:
            raise BackendError("refine: learning_rate must be > 0 and alpha in [0, 1]")
        if min(self.smoothness_weight, self.lr_weight) < 0:
            raise BackendError("refine: smoothness_weight and lr_weight must be >= 0")

    def initial_overrides(self) -> dict[str, object]:
        """`initial_params` parsed: "a=1, b=x" -> {"a": 1, "b": "x"} (Python literals, else strings)."""
        overrides: dict[str, object] = {}
        for item in filter(None, (part.strip() for part in self.initial_params.split(","))):
            key, sep, text = (s.strip() for s in item.partition("="))
            if not sep or not key.isidentifier():
                raise BackendError(f"refine: initial_params must read 'key=value, ...', got {item!r}")
            try:
                overrides[key] = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                overrides[key] = text
        return overrides


def refinement_objective(
    left: Tensor,
    right: Tensor,
    disparity_left_px: Tensor,
    disparity_right_px: Tensor,
    alpha: float = 0.85,
    smoothness_weight: float = 1e-3,
    lr_weight: float = 1.0,
    normalise_smoothness: bool = True,
) -> Tensor:
    """Monodepth's total loss for one stereo pair, both views: appearance + smoothness + LR consistency.

    Args:
        left, right: (B, 3, H, W) images in [0, 1].
        disparity_left_px, disparity_right_px: (B, 1, H, W) disparities in pixels, no NaN.

    Returns:
        (B,) the loss of each pair; the appearance and LR terms are means over valid pixels only.
    """
    reconstructed_left, valid_left = warp_right_to_left(right, disparity_left_px)
    reconstructed_right, valid_right = warp_left_to_right(left, disparity_right_px)
    appearance = (masked_mean(photometric_parts(left, reconstructed_left, alpha)[0], valid_left)
                  + masked_mean(photometric_parts(right, reconstructed_right, alpha)[0], valid_right))
    smoothness = (smoothness_loss(disparity_left_px, left, normalise_smoothness)
                  + smoothness_loss(disparity_right_px, right, normalise_smoothness))
    consistency = (masked_mean(*lr_consistency_map(disparity_left_px, disparity_right_px))
                   + masked_mean(*lr_consistency_map_right(disparity_left_px, disparity_right_px)))
    return appearance + smoothness_weight * smoothness + lr_weight * consistency


def refine_disparities(
    left: Tensor,
    right: Tensor,
    disparity_left_px: Tensor,
    disparity_right_px: Tensor,
    params: RefineParams,
    progress: Progress | None = None,
) -> tuple[Tensor, Tensor, list[float]]:
    """Minimise `refinement_objective` over per-pixel disparities, coarse to fine, with Adam.

    Args:
        left, right: (1, 3, H, W) images in [0, 1].
        disparity_left_px, disparity_right_px: (1, 1, H, W) starting disparities, no NaN.
        progress: see `Progress`; returning False stops after the current step.

    Returns:
        The refined (1, 1, H, W) disparities (>= 0) and the full-resolution objective at every report.
    """
    weights = dict(alpha=params.alpha, lr_weight=params.lr_weight, normalise_smoothness=params.normalise_smoothness)
    height, width = left.shape[-2:]
    # No level below 8 px a side: SSIM and the smoothness gradients need a few pixels.
    levels = [lv for lv in range(params.scales - 1, -1, -1) if min(height, width) >> lv >= 8] or [0]
    total = len(levels) * params.iterations
    current = [disparity_left_px.detach().clone(), disparity_right_px.detach().clone()]
    losses: list[float] = []

    def report(iteration: int, loss: Tensor | None) -> bool:
        if loss is None:
            with torch.no_grad():
                loss = refinement_objective(left, right, *current, smoothness_weight=params.smoothness_weight,
                                            **weights).sum()
        losses.append(float(loss))
        return progress is None or progress(iteration, total, losses[-1]) is not False

    if not report(0, None):
        return current[0], current[1], losses
    done = 0
    for level in levels:
        factor = 2**level
        size = (max(1, height // factor), max(1, width // factor))
        images = [F.interpolate(im, size=size, mode="area") if level else im for im in (left, right)]
        starts = [F.interpolate(d, size=size, mode="area") / factor if level else d for d in current]
        base = [d.clone() for d in current]
        variables = [s.clone().requires_grad_(True) for s in starts]
        optimiser = torch.optim.Adam(variables, lr=params.learning_rate / factor)  # same step in full-res px
        smoothness_weight = params.smoothness_weight / factor  # Monodepth2's 1 / 2^scale

        def compose() -> None:
            with torch.no_grad():
                for i in range(2):
                    step = variables[i] - starts[i]
                    if level:
                        step = F.interpolate(step * factor, size=(height, width), mode="bilinear",
                                             align_corners=False)
                    current[i] = (base[i] + step).clamp(min=0)

        for _ in range(params.iterations):
            optimiser.zero_grad(set_to_none=True)
            loss = refinement_objective(*images, *variables, smoothness_weight=smoothness_weight, **weights).sum()
            loss.backward()
            optimiser.step()
            with torch.no_grad():
                for v in variables:
                    v.clamp_(min=0)
            done += 1
            if done % params.report_every == 0 or done == total:
                compose()
                # At full resolution the step's own loss is the objective (of the estimate before the step).
                if not report(done, None if level or done == total else loss.detach()):
                    return current[0], current[1], losses
        compose()
    return current[0], current[1], losses


class RefineBackend:
    """A stereo backend refined by test-time optimisation of Monodepth's loss; gives both disparities, dense.

    After each `predict`, `last_losses` holds the full-resolution objective at iteration 0 and at every report,
    and `last_initial` the starting backend's own prediction (NaN where it had no estimate).
    """

    name = "refine"
    kind = "stereo"
    params_type = RefineParams

    def __init__(
        self, params: RefineParams | None = None, device: str | torch.device | None = None, **overrides: object
    ) -> None:
        self.params = build_params("refine", RefineParams, params, overrides)
        self._device = resolve_device(device, "refine")
        self._initial = self._make_initial()
        self.last_losses: list[float] = []
        self.last_initial: StereoPrediction | None = None

    def _make_initial(self):
        from depthviewer.backends import backend_class

        factory = backend_class(self.params.initial)
        overrides = self.params.initial_overrides()
        if "device" in inspect.signature(factory).parameters:
            overrides.setdefault("device", self._device)
        return factory(**overrides)  # its own BackendError names a bad parameter

    @property
    def device(self) -> str:
        return device_label(self._device)

    def predict(self, left_rgb: np.ndarray, right_rgb: np.ndarray, progress: Progress | None = None
                ) -> StereoPrediction:
        check_pair(left_rgb, right_rgb)
        start = time.perf_counter()
        initial = self._initial.predict(left_rgb, right_rgb)
        self.last_initial = initial
        left, right = (self._image(im) for im in (left_rgb, right_rgb))
        disparity_left = self._filled(initial.disparity_left_px)
        if initial.disparity_right_px is not None:
            disparity_right = self._filled(initial.disparity_right_px)
        else:  # a backend with a left view only: the right view's start is the left one seen from the right
            disparity_right = warp_left_to_right(disparity_left, disparity_left)[0]
        try:
            refined_left, refined_right, self.last_losses = refine_disparities(
                left, right, disparity_left, disparity_right, self.params, progress)
        except RuntimeError as exc:  # out of memory, a device that lacks an operation
            raise BackendError(f"refine failed on a {left_rgb.shape[1]}x{left_rgb.shape[0]} pair: {exc}") from exc
        maps = [d[0, 0].cpu().numpy().astype(np.float32) for d in (refined_left, refined_right)]
        return StereoPrediction(
            disparity_left_px=maps[0],
            disparity_right_px=maps[1],
            backend=self.name,
            device=self.device,
            seconds=time.perf_counter() - start,
        )

    def _image(self, rgb: np.ndarray) -> Tensor:
        """(1, 3, H, W) float32 in [0, 1] on the device."""
        image = torch.from_numpy(np.ascontiguousarray(rgb)).to(self._device)
        return image.permute(2, 0, 1).unsqueeze(0).float() / 255.0

    def _filled(self, disparity_px: np.ndarray) -> Tensor:
        """(1, 1, H, W) float32 on the device: the KITTI devkit's background fill, then the median for what is left."""
        filled = interpolate_background(np.asarray(disparity_px, dtype=np.float32))
        known = np.isfinite(filled)
        if not known.all():
            filled = np.where(known, filled, np.median(filled[known]) if known.any() else 1.0).astype(np.float32)
        return torch.from_numpy(np.ascontiguousarray(filled)).to(self._device).view(1, 1, *filled.shape)
