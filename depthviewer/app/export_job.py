"""Exporting a range of frames in the background, with progress and cancel, and the dialog that starts it."""

from __future__ import annotations

import traceback
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from depthviewer.app.worker import BackendSpec
from depthviewer.errors import DepthViewerError

# Shown in the dialog; kept in step with depthviewer.exporting's FORMATS and SEQUENCE_FORMATS by a test
# (importing that module here would load torch at start-up).
SEQUENCE_FORMATS = ("ply", "ply-ascii", "npy", "depth-png")
FORMAT_LABELS = {
    "ply": "Point cloud, binary PLY",
    "ply-ascii": "Point cloud, ASCII PLY",
    "npy": "Depth, NPY (float32, m)",
    "disparity-png": "Disparity, KITTI 16-bit PNG",
    "depth-png": "Depth, KITTI 16-bit PNG",
    "pfm": "Disparity, PFM",
    "colour-png": "Disparity, colourised PNG",
}


class ExportJob(QObject):
    """Computes and writes frames one by one in its own thread; `cancel` stops it between files.

    Every file is written atomically, so a cancel or an error leaves only complete files.
    """

    progress = Signal(int, int, str)  # frames done, frames in all, last file written
    done = Signal(str, str)  # status ("finished", "cancelled", "failed"), message

    def __init__(self, source, indices: list[int], spec: BackendSpec, formats: list[str], out_dir: Path,
                 sequence_options=None) -> None:
        super().__init__()
        self.source, self.indices, self.spec = source, list(indices), spec
        self.sequence_options = sequence_options  # None: a stereo folder
        self.formats, self.out_dir = list(formats), Path(out_dir)
        self.cancelled = False
        self.written: list[Path] = []
        self.thread = QThread()
        self.moveToThread(self.thread)
        self.thread.started.connect(self.run)

    def start(self) -> None:
        self.thread.start()

    def cancel(self) -> None:
        self.cancelled = True

    @Slot()
    def run(self) -> None:
        status, message = "finished", ""
        try:
            from depthviewer.backends import create_backend
            from depthviewer.compute.device import default_device

            self.out_dir.mkdir(parents=True, exist_ok=True)
            backend = create_backend(self.spec.name, **dict(self.spec.params))
            device = default_device()
            write = self._frame_writer(backend, device)
            for done, index in enumerate(self.indices):
                if self.cancelled:
                    status = "cancelled"
                    break
                paths = write(index)
                self.written.extend(paths)
                self.progress.emit(done + 1, len(self.indices), str(paths[-1]) if paths else "")
            else:
                message = f"exported {len(self.indices)} frame(s), {len(self.written)} file(s) to {self.out_dir}"
            if status == "cancelled":
                message = f"export cancelled after {len(self.written)} complete file(s) in {self.out_dir}"
        except (DepthViewerError, OSError) as exc:
            status, message = "failed", f"Export failed: {exc}"
        except Exception as exc:  # keep the app alive whatever a backend does
            traceback.print_exc()
            status, message = "failed", f"Export failed: {type(exc).__name__}: {exc}"
        self.done.emit(status, message)
        self.thread.quit()

    def _frame_writer(self, backend, device):
        """index -> files written, for a stereo folder or a sequence."""
        if self.sequence_options is None:
            from depthviewer.exporting import export_frame
            from depthviewer.pipeline import process_frame

            return lambda index: export_frame(process_frame(self.source, index, backend, device=device),
                                              self.out_dir, self.formats, backend_name=self.spec.label)
        from depthviewer.exporting import export_sequence_frame
        from depthviewer.sequence_pipeline import SequenceBackends, process_sequence_frame

        kind = getattr(backend, "kind", "stereo")
        backends = SequenceBackends(stereo=backend if kind == "stereo" else None,
                                    multiview=backend if kind == "multi-view" else None,
                                    network=backend if kind == "monocular" else None)
        return lambda index: export_sequence_frame(
            process_sequence_frame(self.source, index, self.sequence_options, backends, device=device),
            self.out_dir, self.formats)


class ExportDialog(QDialog):
    """Where to, which frames, which formats; and optionally a screenshot of the panel grid."""

    def __init__(self, frame_count: int, current: int, has_calibration: bool, parent: QWidget | None = None,
                 allowed: tuple[str, ...] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export")
        layout = QVBoxLayout(self)
        folder_row = QHBoxLayout()
        self.folder = QLineEdit(str(Path.cwd() / "depthviewer_export"))
        browse = QPushButton("…")
        browse.clicked.connect(self._browse)
        folder_row.addWidget(QLabel("Folder"))
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)
        layout.addLayout(folder_row)
        self.current_only = QRadioButton(f"Current frame ({current + 1})")
        self.all_frames = QRadioButton(f"All {frame_count} frames")
        self.range = QRadioButton("Frames")
        self.current_only.setChecked(True)
        self.first, self.last = QSpinBox(), QSpinBox()
        for box, value in ((self.first, 1), (self.last, frame_count)):
            box.setRange(1, max(frame_count, 1))
            box.setValue(value)
        range_row = QHBoxLayout()
        for widget in (self.range, self.first, QLabel("to"), self.last):
            range_row.addWidget(widget)
        layout.addWidget(self.current_only)
        layout.addWidget(self.all_frames)
        layout.addLayout(range_row)
        grid = QGridLayout()
        self.format_boxes: dict[str, QCheckBox] = {}
        for i, (key, label) in enumerate(FORMAT_LABELS.items()):
            box = QCheckBox(label)
            box.setChecked(key == "ply" and has_calibration or key == "disparity-png" and not has_calibration)
            if key in ("ply", "ply-ascii", "npy", "depth-png") and not has_calibration:
                box.setEnabled(False)
                box.setToolTip("Needs a calibration (Calibration > Set calibration…)")
            if allowed is not None and key not in allowed:
                box.setEnabled(False)
                box.setChecked(False)
                box.setToolTip("A sequence exports depth and point clouds")
            self.format_boxes[key] = box
            grid.addWidget(box, i // 2, i % 2)
        layout.addLayout(grid)
        self.screenshot = QCheckBox("Screenshot of the panel grid (PNG)")
        layout.addWidget(self.screenshot)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._current = current

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Export folder", self.folder.text())
        if path:
            self.folder.setText(path)

    def indices(self) -> list[int]:
        if self.current_only.isChecked():
            return [self._current]
        if self.all_frames.isChecked():
            return list(range(self.last.maximum()))
        first, last = sorted((self.first.value(), self.last.value()))
        return list(range(first - 1, last))

    def formats(self) -> list[str]:
        return [key for key, box in self.format_boxes.items() if box.isChecked() and box.isEnabled()]
