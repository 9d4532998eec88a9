"""The side dock that picks the depth backend, its parameters and model file, and an optional B for A/B."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from depthviewer.app.worker import BackendSpec

NONE = "(none)"


def parameter_fields(params_type: type | None) -> list[dataclasses.Field]:
    """The editable parameters of a backend: the fields of its frozen parameter dataclass."""
    if params_type is None or not dataclasses.is_dataclass(params_type):
        return []
    return list(dataclasses.fields(params_type))


def _editor(field: dataclasses.Field) -> tuple[QWidget, Callable[[], object], Callable[[object], None]]:
    """A widget for one parameter, with its getter and setter."""
    default = field.default
    if isinstance(default, bool):
        box = QCheckBox()
        box.setChecked(default)
        return box, box.isChecked, lambda v: box.setChecked(bool(v))
    if isinstance(default, int):
        box = QSpinBox()
        box.setRange(-1_000_000, 1_000_000)
        box.setValue(default)
        return box, box.value, lambda v: box.setValue(int(v))
    if isinstance(default, float):
        box = QDoubleSpinBox()
        box.setDecimals(4)
        box.setRange(-1e6, 1e6)
        box.setValue(default)
        return box, box.value, lambda v: box.setValue(float(v))
    line = QLineEdit(str(default))
    return line, line.text, lambda v: line.setText(str(v))


class BackendPanel(QWidget):
    """Emits `changed(spec_a, spec_b)` when the user applies; spec_b is None without A/B comparison.

    `catalogue` maps backend name -> (kind, parameter dataclass or None, needs a model file, takes a device).
    """

    changed = Signal(object, object)
    sequence_changed = Signal(str, str)  # depth method, pose method

    def __init__(self, catalogue: dict[str, tuple[str, type | None, bool, bool]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.catalogue = catalogue
        layout = QVBoxLayout(self)
        self.backend = QComboBox()
        self.backend.addItems(list(catalogue))
        self.backend.currentTextChanged.connect(self._rebuild)
        layout.addWidget(QLabel("Backend (A)"))
        layout.addWidget(self.backend)
        self.kind = QLabel()
        layout.addWidget(self.kind)
        model_row = QHBoxLayout()
        self.model = QLineEdit()
        self.model.setPlaceholderText("model file or Monodepth2 folder")
        browse = QPushButton("…")
        browse.clicked.connect(self._browse)
        model_row.addWidget(self.model, 1)
        model_row.addWidget(browse)
        self.model_widgets = (self.model, browse)
        layout.addLayout(model_row)
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda", "mps"])
        self.device.setToolTip("Where a torch backend runs (auto: CUDA, then MPS, else the CPU); sgbm runs on the CPU")
        layout.addWidget(self.device)
        self.form = QFormLayout()
        layout.addLayout(self.form)
        self.compare = QComboBox()
        self.compare.addItems([NONE, *catalogue])
        self.compare.setToolTip("A second backend (default parameters) computed on the same frame: its disparity "
                                "and photometric error minus A's appear as panels (A−B)")
        layout.addWidget(QLabel("Compare with (B)"))
        layout.addWidget(self.compare)
        layout.addWidget(QLabel("Sequences: depth and ego-motion"))
        self.depth_method = QComboBox()
        self.depth_method.addItems(["auto", "stereo", "plane-sweep", "network"])
        self.depth_method.setToolTip("auto: the stereo partner where there is one, else backend A if it is a "
                                     "network, else plane-sweep over the neighbouring frames")
        self.pose_method = QComboBox()
        self.pose_method.addItems(["auto", "file", "estimated", "network"])
        self.pose_method.setToolTip("auto: the poses file, else estimated from the images (essential matrix, "
                                    "scale from PnP on metric depth); network: a Monodepth2 pose net (backend A)")
        sequence_row = QHBoxLayout()
        sequence_row.addWidget(self.depth_method)
        sequence_row.addWidget(self.pose_method)
        layout.addLayout(sequence_row)
        apply = QPushButton("Apply")
        apply.clicked.connect(self.apply)
        layout.addWidget(apply)
        layout.addStretch(1)
        self._editors: dict[str, tuple[Callable[[], object], Callable[[object], None], object]] = {}
        self._rebuild(self.backend.currentText())

    def _rebuild(self, name: str) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self._editors.clear()
        kind, params_type, needs_model, takes_device = self.catalogue.get(name, ("", None, False, False))
        self.kind.setText(f"kind: {kind}")
        self.device.setEnabled(takes_device)
        for widget in self.model_widgets:
            widget.setVisible(needs_model)
        for field in parameter_fields(params_type):
            widget, get, put = _editor(field)
            self.form.addRow(field.name, widget)
            self._editors[field.name] = (get, put, field.default)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Model file", "", "Models (*.pt2 *.pt *.ts *.onnx *.pth);;All (*)")
        if path:
            self.model.setText(path)

    def spec(self) -> BackendSpec:
        """Backend A as chosen: only parameters that differ from the defaults are named."""
        name = self.backend.currentText()
        params = [(key, get()) for key, (get, _, default) in self._editors.items() if get() != default]
        if self.catalogue[name][2] and self.model.text():
            params.insert(0, ("model", self.model.text()))
        if self.catalogue[name][3] and self.device.currentText() != "auto":
            params.append(("device", self.device.currentText()))
        return BackendSpec(name, tuple(params))

    def spec_b(self) -> BackendSpec | None:
        name = self.compare.currentText()
        return None if name == NONE else BackendSpec(name)

    def set_spec(self, spec: BackendSpec) -> None:
        if spec.name not in self.catalogue:
            return
        self.backend.setCurrentText(spec.name)
        for key, value in spec.params:
            if key == "model":
                self.model.setText(str(value))
            elif key == "device":
                self.device.setCurrentText(str(value))
            elif key in self._editors:
                self._editors[key][1](value)

    def apply(self) -> None:
        self.changed.emit(self.spec(), self.spec_b())
        self.sequence_changed.emit(self.depth_method.currentText(), self.pose_method.currentText())
