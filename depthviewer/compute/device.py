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
