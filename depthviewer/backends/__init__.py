"""Depth backends behind one protocol, created by name."""

from __future__ import annotations

from collections.abc import Callable

from depthviewer.backends.base import StereoBackend
from depthviewer.backends.sgbm import SgbmBackend
from depthviewer.errors import BackendError

_FACTORIES: dict[str, Callable[..., StereoBackend]] = {"sgbm": SgbmBackend}


def backend_names() -> list[str]:
    """Names accepted by `create_backend`, in display order."""
    return list(_FACTORIES)


def create_backend(name: str, **params: object) -> StereoBackend:
    """Build the backend called `name` with optional parameters; BackendError for an unknown name."""
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise BackendError(f"unknown backend {name!r}; available: {', '.join(_FACTORIES)}") from None
    return factory(**params)


__all__ = ["StereoBackend", "backend_names", "create_backend"]
