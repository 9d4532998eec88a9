"""The worker thread: runs the backend and the analysis off the GUI thread, newest request only."""

from __future__ import annotations

import traceback
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from depthviewer.backends import StereoBackend
from depthviewer.errors import DepthViewerError
from depthviewer.io.stereo_folder import StereoFolder
from depthviewer.pipeline import FrameResult, point_cloud, process_frame


@dataclass(frozen=True)
class WorkerOutput:
    """What the GUI needs for a frame: the staged result and its point cloud (None without calibration)."""

    result: FrameResult
    points_m: np.ndarray | None
    colours_rgb: np.ndarray | None


class FrameWorker(QObject):
    """Lives in its own QThread. Each request carries a generation number; requests older than the newest
    one the GUI has issued are skipped without computing, and the GUI drops any stale answer that slips through.
    The worker never touches a widget: it emits numpy arrays."""

    finished = Signal(int, int, object)  # generation, frame index, WorkerOutput
    failed = Signal(int, int, str)  # generation, frame index, message
    started_frame = Signal(int, int)  # generation, frame index

    def __init__(self) -> None:
        super().__init__()
        self._latest_generation = 0
        self.frames_computed = 0

    def note_generation(self, generation: int) -> None:
        """Called from the GUI thread: the newest generation issued (a plain int store is atomic in CPython)."""
        self._latest_generation = generation

    @Slot(int, int, object, object, object)
    def compute(self, generation: int, index: int, source: StereoFolder, backend: StereoBackend, device) -> None:
        if generation < self._latest_generation:
            return
        self.started_frame.emit(generation, index)
        try:
            result = process_frame(source, index, backend, device=device)
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
        self.finished.emit(generation, index, WorkerOutput(result, points, colours))


class WorkerThread(QObject):
    """Owns the QThread and the worker; `request` is safe to call from the GUI thread at any rate."""

    _request = Signal(int, int, object, object, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("depthviewer-worker")
        self.worker = FrameWorker()
        self.worker.moveToThread(self.thread)
        self._request.connect(self.worker.compute)
        self.generation = 0
        self.thread.start()

    def request(self, index: int, source: StereoFolder, backend: StereoBackend, device) -> int:
        """Ask for frame `index`; returns the request's generation."""
        self.generation += 1
        self.worker.note_generation(self.generation)
        self._request.emit(self.generation, index, source, backend, device)
        return self.generation

    def stop(self, timeout_ms: int = 5000) -> None:
        """Stop after the current frame; called when the window closes."""
        self.worker.note_generation(1 << 62)  # everything still queued becomes stale
        self.thread.quit()
        self.thread.wait(timeout_ms)
