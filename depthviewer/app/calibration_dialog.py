"""Asks the user for a calibration when a folder has none: typed values or a calibration file."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from depthviewer.errors import DepthViewerError
from depthviewer.io.calibration import calibration_from_values, read_calibration_file
from depthviewer.types import StereoCalibration


def _spin(value: float, maximum: float, decimals: int, suffix: str) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(0.0, maximum)
    box.setDecimals(decimals)
    box.setValue(value)
    box.setSuffix(suffix)
    return box


class CalibrationDialog(QDialog):
    """Focal length, principal point, baseline and doffs of the rectified left camera."""

    def __init__(self, image_size_wh: tuple[int, int], note: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Stereo calibration")
        width, height = image_size_wh
        layout = QVBoxLayout(self)
        message = QLabel(note)
        message.setWordWrap(True)
        layout.addWidget(message)
        form = QFormLayout()
        self.focal = _spin(0.0, 1e5, 3, " px")
        self.cx = _spin((width - 1) / 2, 1e5, 3, " px")
        self.cy = _spin((height - 1) / 2, 1e5, 3, " px")
        self.baseline = _spin(0.0, 100.0, 5, " m")
        self.doffs = _spin(0.0, 1e4, 3, " px")
        form.addRow("Focal length fx = fy", self.focal)
        form.addRow("Principal point cx", self.cx)
        form.addRow("Principal point cy", self.cy)
        form.addRow("Baseline", self.baseline)
        form.addRow("Disparity offset (Middlebury doffs)", self.doffs)
        layout.addLayout(form)
        load = QPushButton("Load calibration file…")
        load.clicked.connect(self._load_file)
        layout.addWidget(load)
        self.error = QLabel()
        self.error.setStyleSheet("color: #c33;")
        self.error.setWordWrap(True)
        layout.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.calibration: StereoCalibration | None = None

    def _load_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Calibration file", "", "Calibration (*.txt);;All files (*)")
        if path:
            self.load_file(path)

    def load_file(self, path: str) -> None:
        """Read a calibration file; on success the dialog is accepted with it."""
        try:
            self.calibration = read_calibration_file(path)
        except DepthViewerError as exc:
            self.error.setText(str(exc))
            return
        self.accept()

    def _accept(self) -> None:
        try:
            self.calibration = calibration_from_values(
                self.focal.value(), self.baseline.value(), self.cx.value(), self.cy.value(),
                doffs_px=self.doffs.value(), source="entered by hand",
            )
        except DepthViewerError as exc:
            self.error.setText(str(exc))
            return
        self.accept()
