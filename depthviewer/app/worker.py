"""The worker thread: creates backends, runs them and the analysis off the GUI thread, newest request only.

Heavy modules (torch, the backends' models) are imported and loaded here, in the worker, on first use, so
the window appears at once.
"""

from __future__ import annotations

import atexit
import traceback
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from depthviewer.errors import DepthViewerError

if TYPE_CHECKING:
    from depthviewer.pipeline import FrameResult


@dataclass(frozen=True)
class BackendSpec:
    """Which backend with which parameters: the worker creates each once and keeps it (models load once)."""

    name: str
    params: tuple[tuple[str, object], ...] = ()

    @property
    def label(self) -> str:
        return self.name + (f" ({', '.join(f'{k}={v}' for k, v in self.params)})" if self.params else "")


@dataclass(frozen=True)
class WorkerOutput:
    """What the GUI needs for a frame: the staged result and its point cloud (None without calibration)."""

    result: FrameResult
    points_m: np.ndarray | None
    colours_rgb: np.ndarray | None
    source_token: int = 0


class FrameWorker(QObject):
    """Lives in its own QThread. Each request carries a generation number; requests older than the newest
    one the GUI has issued are skipped without computing, and the GUI drops any stale answer that slips through.
    The worker never touches a widget: it emits numpy arrays."""

    finished = Signal(int, int, object)  # generation, frame index, WorkerOutput
    failed = Signal(int, int, str)  # generation, frame index, message
    curve_ready = Signal(object)  # CostCurve
    backend_ready = Signal(str, str)  # backend label, its device
    device_ready = Signal(str)  # where the analysis runs

    def __init__(self) -> None:
        super().__init__()
        self._latest_generation = 0
        self.frames_computed = 0
        self._backends: dict[BackendSpec, object] = {}
        self._device = None

    def note_generation(self, generation: int) -> None:
        """Called from the GUI thread: the newest generation issued (a plain int store is atomic in CPython)."""
        self._latest_generation = generation

    def _analysis_device(self):
        if self._device is None:
            from depthviewer.compute.device import default_device, device_label

            self._device = default_device()
            self.device_ready.emit(device_label(self._device))
        return self._device

    def backend(self, spec: BackendSpec):
        """The backend for `spec`, created on first use and kept."""
        if spec not in self._backends:
            from depthviewer.backends import create_backend

            self._backends[spec] = create_backend(spec.name, **dict(spec.params))
            self.backend_ready.emit(spec.label, self._backends[spec].device)
        return self._backends[spec]

    @Slot(int, int, object, object, int)
    def compute(self, generation: int, index: int, source, spec: BackendSpec, source_token: int) -> None:
        if generation < self._latest_generation:
            return
        try:
            from depthviewer.pipeline import point_cloud, process_frame

            device = self._analysis_device()
            result = process_frame(source, index, self.backend(spec), device=device)
            points = colours = None
            if result.analysis.depth_m is not None:
                points, colours = point_cloud(result)
        except DepthViewerError as exc:
            self.failed.emit(generation, index, str(exc))
            return
        except Exception as exc:  # a backend bug must not kill the worker thread; show it and go on
            traceback.print_exc()
            self.failed.emit(generation, index, f"{type(exc).__name__}: {exc}")
            return
        self.frames_computed += 1
        self.finished.emit(generation, index, WorkerOutput(result, points, colours, source_token))

    @Slot(object, object, int, int, object)
    def compute_curve(self, left_rgb, right_rgb, x: int, y: int, disparities) -> None:
        from depthviewer.compute.cost_curve import stereo_cost_curve

        try:
            curve = stereo_cost_curve(left_rgb, right_rgb, x, y, disparities)
        except ValueError:
            return  # a click that raced a frame change of another size: nothing to show
        self.curve_ready.emit(curve)


class WorkerThread(QObject):
    """Owns the QThread and the worker; `request` is safe to call from the GUI thread at any rate."""

    _request = Signal(int, int, object, object, int)
    _request_curve = Signal(object, object, int, int, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("depthviewer-worker")
        self.worker = FrameWorker()
        self.worker.moveToThread(self.thread)
        self._request.connect(self.worker.compute)
        self._request_curve.connect(self.worker.compute_curve)
        self.generation = 0
        self.thread.start()
        # A QThread destroyed while running aborts the process: stop it however the interpreter exits.
        ref = weakref.ref(self)
        atexit.register(lambda: ref() is not None and ref().stop())

    def request(self, index: int, source, spec: BackendSpec, source_token: int = 0) -> int:
        """Ask for frame `index` computed with the backend `spec`; returns the request's generation."""
        self.invalidate()
        self._request.emit(self.generation, index, source, spec, source_token)
        return self.generation

    def invalidate(self) -> None:
        """Make every request issued so far stale (a cached frame is shown instead)."""
        self.generation += 1
        self.worker.note_generation(self.generation)

    def request_curve(self, left_rgb, right_rgb, x: int, y: int, disparities) -> None:
        """Ask for the cost curve of pixel (x, y); answered by `worker.curve_ready`."""
        self._request_curve.emit(left_rgb, right_rgb, x, y, disparities)

    def stop(self, timeout_ms: int = 5000) -> None:
        """Stop after the current frame; called when the window closes (idempotent)."""
        self.worker.note_generation(1 << 62)  # everything still queued becomes stale
        try:
            self.thread.quit()
            self.thread.wait(timeout_ms)
        except RuntimeError:  # the C++ thread object is already gone
            pass
