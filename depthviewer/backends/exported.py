"""Users' exported whole models: torch.export programs, TorchScript files and ONNX files, under one contract.

The contract, the same for all three:
- input: float32 N x 3 x H x W, RGB in [0, 1], at the frame's own size (no resizing, no normalisation:
  a model that needs either does it inside);
- output: one tensor N x 1 x H x W, either depth in metres or disparity in pixels;
- which of the two: the user's `model_output` argument when given, else what the file declares
  (torch.export: `{"output": "depth"}` in an extra file `depthviewer.json`; TorchScript: a string attribute
  `output`; ONNX: the metadata property `output`), else disparity.
- disparity becomes depth as depth_m = disparity_to_depth_factor / disparity_px, the factor being
  fx_px * baseline_m of the camera the model was trained for; a disparity model without that factor is
  refused at construction (BackendError saying what to pass) rather than shown with a made-up scale.
Pixels where the output is not finite or (for disparity) not positive become NaN.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from depthviewer.backends.checkpoints import (
    check_image,
    first_line,
    require_file,
    vet_export_archive,
    vet_torchscript_archive,
)
from depthviewer.compute.device import default_device, device_label, resolve_device
from depthviewer.errors import BackendError, InputError
from depthviewer.types import DepthPrediction

OUTPUT_KINDS = ("depth", "disparity")
EXPORT_EXTRA_FILE = "depthviewer.json"
ONNX_INSTALL = "pip install onnxruntime (or onnxruntime-gpu for CUDA), or pip install 'depthviewer[onnx]'"


def _positive(value: object) -> bool:
    try:
        return bool(np.isfinite(float(value)) and float(value) > 0)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


class ExportedModelBackend:
    """The shared contract; subclasses only load a file and run one batch through it."""

    name: ClassVar[str] = "exported"
    kind: ClassVar[str] = "monocular"
    model_hint: ClassVar[str] = "a model file"

    def __init__(self, model: str | Path | None = None, *, device: str | torch.device | None = None,
                 model_output: str | None = None, disparity_to_depth_factor: float | None = None) -> None:
        if model is None:
            raise BackendError(f"backend {self.name} needs --model PATH: {self.model_hint}")
        if model_output not in (None, *OUTPUT_KINDS):
            raise BackendError(f"{self.name}: model_output must be 'depth' or 'disparity', got {model_output!r}")
        if disparity_to_depth_factor is not None and not _positive(disparity_to_depth_factor):
            raise BackendError(f"{self.name}: disparity_to_depth_factor (fx_px * baseline_m) must be a positive "
                               f"number, got {disparity_to_depth_factor!r}")
        self.model_path = require_file(model, "model file")
        declared = self._load(self.model_path, device)
        self.output_kind, self.output_source = self._output_kind(declared, model_output)
        self.disparity_to_depth_factor = None if disparity_to_depth_factor is None else float(disparity_to_depth_factor)
        if self.output_kind == "disparity" and self.disparity_to_depth_factor is None:
            raise BackendError(
                f"{self.name}: the model outputs disparity in pixels ({self.output_source}); depth needs the "
                "camera: pass disparity_to_depth_factor = fx_px * baseline_m (--set disparity_to_depth_factor=...), "
                "or model_output='depth' if it outputs depth in metres", self.model_path)
        how = ("depth in metres as the model gives it" if self.output_kind == "depth"
               else f"depth = {self.disparity_to_depth_factor:g} / disparity (fx_px * baseline_m)")
        self.scale_note = f"{self.name} model, output {self.output_kind} ({self.output_source}); {how}."

    def _output_kind(self, declared: str | None, model_output: str | None) -> tuple[str, str]:
        """(kind, where it came from): the user's choice, else the file's declaration, else disparity."""
        if declared is not None and declared not in OUTPUT_KINDS:
            raise InputError(f"declares output {declared!r}; expected 'depth' or 'disparity'", self.model_path)
        if model_output is not None:
            differs = declared is not None and declared != model_output
            return model_output, "model_output argument" + (f" (the file says {declared!r})" if differs else "")
        if declared is not None:
            return declared, "declared in the file"
        return "disparity", "not declared: taken as disparity"

    def _load(self, path: Path, device: str | torch.device | None) -> str | None:
        """Load the model for good; return the output kind the file declares, if any."""
        raise NotImplementedError

    def _run(self, batch: np.ndarray) -> Any:
        """(1, 3, H, W) float32 -> the model's raw output (a numpy array or a tensor)."""
        raise NotImplementedError

    @property
    def device(self) -> str:
        raise NotImplementedError

    def predict_depth(self, image_rgb: np.ndarray) -> DepthPrediction:
        """Depth (H, W) float32 in metres for an (H, W, 3) uint8 image, NaN where the model gives none."""
        check_image(image_rgb)
        start = time.perf_counter()
        height, width = image_rgb.shape[:2]
        batch = np.ascontiguousarray((image_rgb.astype(np.float32) / 255.0).transpose(2, 0, 1)[None])
        try:
            output = self._run(batch)
        except Exception as exc:  # noqa: BLE001 - the runtimes raise their own types for a model/input mismatch
            raise BackendError(f"{self.name}: the model failed on a 1 x 3 x {height} x {width} input "
                               f"(the contract: N x 3 x H x W RGB in [0, 1] at the frame's size): "
                               f"{first_line(exc)}",
                               self.model_path) from exc
        if isinstance(output, torch.Tensor):
            output = output.detach().float().cpu().numpy()
        if not isinstance(output, np.ndarray) or output.shape != (1, 1, height, width):
            found = output.shape if isinstance(output, np.ndarray) else type(output).__name__
            raise BackendError(f"{self.name}: expected one output of shape (1, 1, {height}, {width}), got {found}",
                               self.model_path)
        values = output[0, 0].astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.output_kind == "depth":
                depth = np.where(np.isfinite(values) & (values > 0), values, np.nan)
            else:
                depth = np.where(np.isfinite(values) & (values > 0), self.disparity_to_depth_factor / values, np.nan)
        return DepthPrediction(depth_m=depth.astype(np.float32), backend=self.name, device=self.device,
                               metric=True, seconds=time.perf_counter() - start)


class _TorchModelBackend(ExportedModelBackend):
    """A torch callable run under inference mode on a torch device."""

    _module: Any
    _device: torch.device

    @staticmethod
    def default_device_label() -> str:
        """The device a backend built with no `device` argument would run on, without loading a model."""
        return device_label(default_device())

    @property
    def device(self) -> str:
        return device_label(self._device)

    def _run(self, batch: np.ndarray) -> Any:
        with torch.inference_mode():
            return self._module(torch.from_numpy(batch).to(self._device))


class TorchExportBackend(_TorchModelBackend):
    """A `torch.export` program saved with `torch.export.save` (.pt2); vetted before loading (checkpoints.py)."""

    name = "torch-export"
    model_hint = "a .pt2 file saved with torch.export.save"

    def _load(self, path: Path, device: str | torch.device | None) -> str | None:
        self._device = resolve_device(device, self.name)
        vetted = vet_export_archive(path)
        extra = {EXPORT_EXTRA_FILE: ""}
        try:
            program = torch.export.load(vetted, extra_files=extra)
            if self._device.type != "cpu":
                from torch.export.passes import move_to_device_pass

                program = move_to_device_pass(program, self._device)
            self._module = program.module()
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"cannot load the exported program: {first_line(exc)}", path) from None
        if not extra[EXPORT_EXTRA_FILE]:
            return None
        try:
            info = json.loads(extra[EXPORT_EXTRA_FILE])
            return str(info["output"])
        except (ValueError, TypeError, KeyError):
            raise InputError(f'{EXPORT_EXTRA_FILE} must be JSON like {{"output": "depth"}}', path) from None


class TorchScriptBackend(_TorchModelBackend):
    """A TorchScript module (.pt / .ts) saved with `torch.jit.save`; its code runs, so trust its author."""

    name = "torchscript"
    model_hint = "a TorchScript file saved with torch.jit.script(model).save(path)"

    def _load(self, path: Path, device: str | torch.device | None) -> str | None:
        self._device = resolve_device(device, self.name)
        vetted = vet_torchscript_archive(path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated, still what users have
                self._module = torch.jit.load(vetted, map_location=self._device).eval()
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"cannot load the TorchScript module: {first_line(exc)}", path) from None
        declared = getattr(self._module, "output", None)
        return declared if isinstance(declared, str) else None


def import_onnxruntime() -> Any:
    """The onnxruntime module; BackendError with the install command when it is not installed."""
    try:
        import onnxruntime
    except ImportError:
        raise BackendError(f"backend onnx needs onnxruntime, an optional extra: {ONNX_INSTALL}") from None
    return onnxruntime


class OnnxBackend(ExportedModelBackend):
    """An ONNX file run by onnxruntime, with its CUDA execution provider when present."""

    name = "onnx"
    model_hint = "an .onnx file (needs onnxruntime)"

    @staticmethod
    def default_device_label() -> str:
        """The device a backend built with no `device` argument would run on, without loading a model."""
        try:
            ort = import_onnxruntime()
        except BackendError:
            return f"unavailable ({ONNX_INSTALL.split(' (')[0]})"
        return "cuda" if "CUDAExecutionProvider" in ort.get_available_providers() else "cpu"

    @property
    def device(self) -> str:
        return self._device_label

    def _providers(self, ort: Any, device: str | torch.device | None) -> list[Any]:
        available = ort.get_available_providers()
        try:
            wanted = torch.device(device) if device is not None else None
        except (RuntimeError, TypeError):
            wanted = None
            device = f"{device!r} (unknown)"
        if device is not None and (wanted is None or wanted.type not in ("cpu", "cuda")):
            raise BackendError(f"onnx: device must be cpu or cuda, got {device}")
        if wanted is not None and wanted.type == "cuda" and "CUDAExecutionProvider" not in available:
            raise BackendError("onnx: CUDA asked for, but this onnxruntime has no CUDA provider "
                               "(pip install onnxruntime-gpu)")
        if (wanted is None or wanted.type == "cuda") and "CUDAExecutionProvider" in available:
            return [("CUDAExecutionProvider", {"device_id": (wanted.index or 0) if wanted else 0}),
                    "CPUExecutionProvider"]
        return ["CPUExecutionProvider"]

    def _load(self, path: Path, device: str | torch.device | None) -> str | None:
        ort = import_onnxruntime()
        providers = self._providers(ort, device)
        try:
            self._session = ort.InferenceSession(str(path), providers=providers)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types for a bad file
            raise InputError(f"not a loadable ONNX model: {first_line(exc)}", path) from None
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            shapes = [tuple(i.shape) for i in inputs]
            raise InputError(f"expected one input N x 3 x H x W, the model has {shapes}", path)
        self._input_name = inputs[0].name
        self._device_label = "cuda" if self._session.get_providers()[0] == "CUDAExecutionProvider" else "cpu"
        return self._session.get_modelmeta().custom_metadata_map.get("output")

    def _run(self, batch: np.ndarray) -> Any:
        return self._session.run(None, {self._input_name: batch})[0]
