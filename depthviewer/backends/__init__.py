"""Depth backends behind one protocol per kind, created by name.

The registry names each backend's module without importing it: torch and a backend's model load only when
that backend is used, so listing names (and starting the app) stays fast.
"""

from __future__ import annotations

import importlib
import inspect

from depthviewer.backends.base import MonocularBackend, MultiViewBackend, StereoBackend
from depthviewer.errors import BackendError

# name -> (module, class, kind, needs a model file)
_REGISTRY: dict[str, tuple[str, str, str, bool]] = {
    "sgbm": ("depthviewer.backends.sgbm", "SgbmBackend", "stereo", False),
    "torch-sgm": ("depthviewer.backends.torch_sgm", "TorchSgmBackend", "stereo", False),
    "refine": ("depthviewer.backends.refine", "RefineBackend", "stereo", False),
    "plane-sweep": ("depthviewer.backends.plane_sweep", "PlaneSweepBackend", "multi-view", False),
    "monodepth2": ("depthviewer.backends.monodepth2", "Monodepth2Backend", "monocular", True),
    "torch-export": ("depthviewer.backends.exported", "TorchExportBackend", "monocular", True),
    "torchscript": ("depthviewer.backends.exported", "TorchScriptBackend", "monocular", True),
    "onnx": ("depthviewer.backends.exported", "OnnxBackend", "monocular", True),
}


def backend_names(kind: str | None = None) -> list[str]:
    """Names accepted by `create_backend` (of one kind: "stereo", "monocular", "multi-view"), in display order."""
    return [name for name, entry in _REGISTRY.items() if kind is None or entry[2] == kind]


def backend_kind(name: str) -> str:
    return _entry(name)[2]


def needs_model(name: str) -> bool:
    return _entry(name)[3]


def _entry(name: str) -> tuple[str, str, str, bool]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise BackendError(f"unknown backend {name!r}; available: {', '.join(_REGISTRY)}") from None


def backend_class(name: str) -> type:
    """The class of backend `name` (imports its module)."""
    module, cls, _, _ = _entry(name)
    return getattr(importlib.import_module(module), cls)


def create_backend(name: str, **params: object):
    """Build the backend called `name` with optional parameters; BackendError for an unknown name."""
    return backend_class(name)(**params)


def backend_info(name: str) -> tuple[str, str]:
    """(kind, device) of backend `name` without loading a model: for `depthviewer backends`."""
    factory = backend_class(name)
    label = getattr(factory, "default_device_label", None)
    if label is not None:
        return backend_kind(name), label()
    return backend_kind(name), factory().device


def accepts_device(name: str) -> bool:
    """Whether backend `name` runs on torch and takes a `device=` argument (sgbm runs where OpenCV runs)."""
    return "device" in inspect.signature(backend_class(name).__init__).parameters


def backend_catalogue() -> dict[str, tuple[str, type | None, bool, bool]]:
    """name -> (kind, parameter dataclass or None, needs a model file, takes a device), for the app's dock."""
    return {name: (entry[2], getattr(backend_class(name), "params_type", None), entry[3], accepts_device(name))
            for name, entry in _REGISTRY.items()}


__all__ = ["MonocularBackend", "MultiViewBackend", "StereoBackend", "accepts_device", "backend_catalogue",
           "backend_class",
           "backend_info", "backend_kind", "backend_names", "create_backend", "needs_model"]
