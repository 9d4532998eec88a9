"""Everything the window writes to disk: the point cloud, frame ranges in the background, screenshots."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QBuffer, QIODevice, QObject
from PySide6.QtWidgets import QFileDialog, QProgressBar, QPushButton

from depthviewer.app.export_job import SEQUENCE_FORMATS, ExportDialog, ExportJob
from depthviewer.app.worker import keep_until_finished
from depthviewer.errors import DepthViewerError
from depthviewer.io.atomic import atomic_write
from depthviewer.io.ply import write_ply


class ExportController(QObject):
    """Owns the export job and its progress bar and cancel button in the window's status bar."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.export_job: ExportJob | None = None
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(240)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_export)
        for widget in (self.progress, self.cancel_button):
            widget.hide()
            window.statusBar().addPermanentWidget(widget)

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Cancel a running export and wait for it (the window is closing); files are atomic either way."""
        if self.export_job is not None and self.export_job.thread.isRunning():
            self.export_job.cancel()
            if not self.export_job.thread.wait(timeout_ms):
                keep_until_finished(self.export_job, self.export_job.thread)

    def choose_point_cloud(self) -> None:
        if self.window.current is None:
            return
        default = f"{Path(self.window.current.result.frame.name).stem}.ply"
        path, _ = QFileDialog.getSaveFileName(self.window, "Export point cloud", default, "PLY (*.ply)")
        if path:
            self.export_point_cloud(path)

    def export_point_cloud(self, path: str | Path) -> Path | None:
        """Write the current frame's full point cloud as binary PLY; returns the path, or None on failure."""
        if self.window.current is None or self.window.current.points_m is None:
            self.window.show_error("Nothing to export: the current frame has no point cloud (no calibration?).")
            return None
        from depthviewer.pipeline import CAMERA_FRAME_NOTE

        frame = self.window.current.result.frame
        try:
            write_ply(Path(path), self.window.current.points_m, self.window.current.colours_rgb,
                      comments=[CAMERA_FRAME_NOTE, f"source: {frame.left_path}",
                                f"backend: {self.window.backend.label}"])
        except (DepthViewerError, OSError) as exc:
            self.window.show_error(f"Export failed: {exc}")
            return None
        count = len(self.window.current.points_m)
        self.window.statusBar().showMessage(self.window.status_text(f"exported {count} points to {path}"))
        return Path(path)

    def choose_frames(self) -> None:
        if self.window.source is None:
            return
        stereo = self.window.mode == "stereo"
        has_calibration = self.window.source.calibration_for(0) is not None if stereo else True
        dialog = ExportDialog(len(self.window.source), max(self.window.timeline.index, 0), has_calibration,
                              self.window, allowed=None if stereo else SEQUENCE_FORMATS)
        if not dialog.exec():
            return
        out_dir = Path(dialog.folder.text())
        if dialog.screenshot.isChecked():
            name = self.window.current.result.frame.name if self.window.current is not None else "panels"
            self.save_screenshot(out_dir / f"{Path(name).stem}_panels.png")
        if dialog.formats():
            self.start_export(out_dir, dialog.indices(), dialog.formats())

    def start_export(self, out_dir: Path, indices: list[int], formats: list[str]) -> ExportJob | None:
        """Compute and write `indices` in `formats` in the background, with progress and cancel."""
        if self.window.source is None or (self.export_job is not None and self.export_job.thread.isRunning()):
            return None
        options = None if self.window.mode == "stereo" else self.window.sequence_options
        job = ExportJob(self.window.source, indices, self.window.backend, formats, Path(out_dir), options)
        job.progress.connect(self._on_export_progress)
        job.done.connect(self._on_export_done)
        self.export_job = job
        self.progress.setRange(0, len(indices))
        self.progress.setValue(0)
        self.progress.show()
        self.cancel_button.show()
        job.start()
        return job

    def cancel_export(self) -> None:
        if self.export_job is not None:
            self.export_job.cancel()

    def _on_export_progress(self, done: int, total: int, last: str) -> None:
        self.progress.setValue(done)
        self.window.statusBar().showMessage(f"exporting {done}/{total}: {last}")

    def _on_export_done(self, status: str, message: str) -> None:
        self.progress.hide()
        self.cancel_button.hide()
        if status == "failed":
            self.window.show_error(message)
        self.window.statusBar().showMessage(message)

    def choose_screenshot(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.window, "Save screenshot", "panels.png", "PNG (*.png)")
        if path:
            self.save_screenshot(Path(path))

    def save_screenshot(self, path: Path) -> Path | None:
        """Write the panel grid as it looks now to a PNG (atomically)."""
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        self.window.grid.grab().save(buffer, "PNG")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(path) as handle:
                handle.write(bytes(buffer.data()))
        except (DepthViewerError, OSError) as exc:
            self.window.show_error(f"Screenshot failed: {exc}")
            return None
        return path

