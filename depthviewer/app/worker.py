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
    from depthviewer.sequence_pipeline import SequenceResult


_RUNNING: set = set()


def keep_until_finished(owner: QObject, thread: QThread) -> None:
    """Keep `owner` (and so its QThread) alive until the thread ends: a QThread destroyed while it runs aborts
    the process, and the window that owned it may be gone before a long computation returns."""
    _RUNNING.add((owner, thread))
    thread.finished.connect(lambda: _RUNNING.discard((owner, thread)))


@atexit.register
def _wait_for_running_threads(timeout_ms: int = 60_000) -> None:
    """At interpreter exit, let threads whose window is gone finish what they compute (the app itself exits
    without waiting, see run_app): tearing Python down under a running torch call prints errors or crashes."""
    for _, thread in list(_RUNNING):
        try:
            thread.wait(timeout_ms)
        except RuntimeError:
            pass


def describe_failure(exc: BaseException) -> str:
    """A message for an unexpected failure; running out of (GPU) memory gets advice instead of a type name."""
    text = str(exc)
    if isinstance(exc, MemoryError) or "out of memory" in text.lower():
        return (f"out of memory ({text.splitlines()[0] if text else type(exc).__name__}); try a smaller "
                "num_disparities or image, or the CPU (Backend dock)")
    return f"{type(exc).__name__}: {text}"


@dataclass(frozen=True)
class BackendSpec:
    """Which backend with which parameters: the worker creates each once and keeps it (models load once)."""

    name: str
    params: tuple[tuple[str, object], ...] = ()

    @property
    def label(self) -> str:
        return self.name + (f" ({', '.join(f'{k}={v}' for k, v in self.params)})" if self.params else "")


@dataclass(frozen=True)
class FrameRequest:
    """One frame to compute: stereo when `options` is None, else a sequence frame with those options."""

    index: int
    source: object
    spec: BackendSpec
    spec_b: BackendSpec | None = None
    options: object | None = None  # SequenceOptions
    source_token: int = 0


@dataclass(frozen=True)
class WorkerOutput:
    """What the GUI needs for a frame: the staged result and its point cloud (None without calibration)."""

    result: FrameResult | SequenceResult
    points_m: np.ndarray | None
    colours_rgb: np.ndarray | None
    source_token: int = 0
    comparison: FrameResult | None = None  # backend B on the same frame, for the A−B panels


class FrameWorker(QObject):
    """Lives in its own QThread. Each request carries a generation number; requests older than the newest
    one the GUI has issued are skipped without computing, and the GUI drops any stale answer that slips through.
    The worker never touches a widget: it emits numpy arrays."""

    finished = Signal(int, int, object)  # generation, frame index, WorkerOutput
    failed = Signal(int, int, str)  # generation, frame index, message
    curve_ready = Signal(object)  # CostCurve
    backend_ready = Signal(str, str)  # backend label, its device
    device_ready = Signal(str)  # where the analysis runs
    catalogue_ready = Signal(object)  # backend name -> (kind, parameter type, needs a model)
    progress = Signal(int, int, int, float)  # generation, iteration, iterations in all, current loss

    def __init__(self) -> None:
        super().__init__()
        self._latest_generation = 0
        self.frames_computed = 0
        self._backends: dict[BackendSpec, object] = {}
        self._device = None
        self.cancel_requested = False

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

    @Slot(int, object)
    def compute(self, generation: int, request: FrameRequest) -> None:
        if generation < self._latest_generation:
            return
        index = request.index
        self.cancel_requested = False
        try:
            device = self._analysis_device()
            if request.options is None:
                output = self._compute_stereo(request, device, generation)
            else:
                output = self._compute_sequence(request, device)
        except DepthViewerError as exc:
            self.failed.emit(generation, index, str(exc))
            return
        except Exception as exc:  # a backend bug must not kill the worker thread; show it and go on
            traceback.print_exc()
            self.failed.emit(generation, index, describe_failure(exc))
            return
        self.frames_computed += 1
        self.finished.emit(generation, index, output)

    def _compute_stereo(self, request: FrameRequest, device, generation: int) -> WorkerOutput:
        from depthviewer.compute.stereo_analysis import analyse_stereo
        from depthviewer.pipeline import FrameResult, point_cloud, process_frame

        def progress(iteration: int, total: int, loss: float) -> bool:
            """Iterating backends report here; a newer request or Cancel stops them with what they have."""
            self.progress.emit(generation, iteration, total, float(loss))
            return not self.cancel_requested and generation >= self._latest_generation

        result = process_frame(request.source, request.index, self.backend(request.spec), device=device,
                               progress=progress)
        points = colours = None
        if result.analysis.depth_m is not None:
            points, colours = point_cloud(result)
        comparison = None
        if request.spec_b is not None:
            backend_b = self.backend(request.spec_b)
            if getattr(backend_b, "kind", "stereo") == "monocular":
                from depthviewer.pipeline import monocular_as_stereo

                prediction_b = monocular_as_stereo(result.frame, backend_b)
            else:
                prediction_b = backend_b.predict(result.frame.left_rgb, result.frame.right_rgb)
            comparison = FrameResult(result.frame, prediction_b,
                                     analyse_stereo(result.frame, prediction_b, device=device))
        return WorkerOutput(result, points, colours, request.source_token, comparison)

    def _compute_sequence(self, request: FrameRequest, device) -> WorkerOutput:
        from depthviewer.compute.geometry import depth_to_points
        from depthviewer.sequence_pipeline import SequenceBackends, process_sequence_frame

        backend = self.backend(request.spec)
        kind = getattr(backend, "kind", "stereo")
        backends = SequenceBackends(stereo=backend if kind == "stereo" else None,
                                    multiview=backend if kind == "multi-view" else None,
                                    network=backend if kind == "monocular" else None)
        result = process_sequence_frame(request.source, request.index, request.options, backends, device=device)
        points, colours = depth_to_points(result.depth.depth_m, result.frame.K, result.frame.image_rgb)
        return WorkerOutput(result, points, colours, request.source_token)

    @Slot()
    def load_catalogue(self) -> None:
        """Import every backend's module here, off the GUI thread, and report what each needs."""
        from depthviewer.backends import backend_catalogue

        try:
            self.catalogue_ready.emit(backend_catalogue())
        except Exception as exc:  # a backend module that fails to import must not hide the others
            traceback.print_exc()
            self.failed.emit(-1, -1, f"backend registry: {type(exc).__name__}: {exc}")

    @Slot(object)
    def compute_curve(self, make_curve) -> None:
        """Run a cost-curve computation (a closure over the frame's arrays) and emit its result."""
        try:
            curve = make_curve()
        except ValueError:
            return  # a click that raced a frame change of another size: nothing to show
        self.curve_ready.emit(curve)


class WorkerThread(QObject):
    """Owns the QThread and the worker; `request` is safe to call from the GUI thread at any rate."""

    _request = Signal(int, object)
    _request_curve = Signal(object)
    _request_catalogue = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("depthviewer-worker")
        self.worker = FrameWorker()
        self.worker.moveToThread(self.thread)
        self._request.connect(self.worker.compute)
        self._request_curve.connect(self.worker.compute_curve)
        self._request_catalogue.connect(self.worker.load_catalogue)
        self.generation = 0
        self.thread.start()
        # A QThread destroyed while running aborts the process: stop it however the interpreter exits.
        ref = weakref.ref(self)
        atexit.register(lambda: ref() is not None and ref().stop())

    def request(self, request: FrameRequest) -> int:
        """Ask for a frame; returns the request's generation."""
        self.invalidate()
        self._request.emit(self.generation, request)
        return self.generation

    def invalidate(self) -> None:
        """Make every request issued so far stale (a cached frame is shown instead)."""
        self.generation += 1
        self.worker.note_generation(self.generation)

    def request_curve(self, make_curve) -> None:
        """Ask the worker to run `make_curve()` (a cost curve); answered by `worker.curve_ready`."""
        self._request_curve.emit(make_curve)

    def request_catalogue(self) -> None:
        self._request_catalogue.emit()

    def stop(self, timeout_ms: int = 5000) -> None:
        """Stop after the current frame; called when the window closes (idempotent).

        Waits at most `timeout_ms`; a frame still computing then finishes on its own, its result unused.
        """
        self.worker.note_generation(1 << 62)  # everything still queued becomes stale
        try:
            self.thread.quit()
            if not self.thread.wait(timeout_ms):
                self.setParent(None)
                keep_until_finished(self, self.thread)
        except RuntimeError:  # the C++ thread object is already gone
            pass
