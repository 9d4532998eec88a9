"""Choice of the torch device that computation runs on."""

from __future__ import annotations

import torch


def default_device() -> torch.device:
    """The fastest device torch offers here: CUDA, then Apple's MPS, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def device_label(device: torch.device) -> str:
    """A short human label, e.g. 'cuda (NVIDIA H100)' or 'cpu'."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def resolve_device(device: str | torch.device | None, backend: str = "") -> torch.device:
    """The device a user asked for ("auto"/None, "cpu", "cuda", "cuda:1", "mps"), checked to exist here.

    BackendError (prefixed with `backend` when given) for an unknown name or a device this machine lacks.
    """
    from depthviewer.errors import BackendError

    prefix = f"{backend}: " if backend else ""
    if device is None or device in ("", "auto"):
        return default_device()
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise BackendError(f"{prefix}unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise BackendError(f"{prefix}device {device!r} asked for, but torch sees no CUDA GPU here "
                           f"(torch {torch.__version__})")
    if resolved.type == "cuda" and resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise BackendError(f"{prefix}device {device!r} asked for, but there are {torch.cuda.device_count()} "
                           "CUDA GPU(s)")
    if resolved.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise BackendError(f"{prefix}device {device!r} asked for, but Apple's MPS is not available here")
    return resolved
