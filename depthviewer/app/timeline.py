"""The timeline: slider, frame number, play/pause at a chosen rate, and the keys that step through frames."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QPushButton, QSlider, QSpinBox, QWidget


class Timeline(QWidget):
    """Emits `index_changed` whenever the current frame changes, by slider, number entry, keys or playback."""

    index_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.play_button = QPushButton("▶")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Play / pause (Space)")
        self.play_button.setFixedWidth(36)
        self.play_button.toggled.connect(self._on_play_toggled)
        self.fps = QDoubleSpinBox()
        self.fps.setRange(0.5, 120.0)
        self.fps.setValue(10.0)
        self.fps.setSuffix(" fps")
        self.fps.setToolTip("Playback rate; frames not yet computed are shown when ready")
        self.fps.valueChanged.connect(self._update_interval)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.number = QSpinBox()
        self.number.setToolTip("Frame number (1-based)")
        self.number.setKeyboardTracking(False)
        self.label = QLabel("no folder")
        self.label.setMinimumWidth(260)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.play_button, self.fps, self.number):
            layout.addWidget(widget)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.label)
        self.slider.valueChanged.connect(self._on_slider)
        self.number.valueChanged.connect(lambda n: self.slider.setValue(n - 1))
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._advance)
        self._update_interval()
        self.set_count(0)

    @property
    def index(self) -> int:
        return self.slider.value()

    @property
    def count(self) -> int:
        return self._count

    def set_count(self, count: int) -> None:
        """A new source with `count` frames; the current frame becomes 0 without emitting."""
        self._count = count
        for widget in (self.slider, self.number):
            widget.blockSignals(True)
        self.slider.setRange(0, max(count - 1, 0))
        self.slider.setValue(0)
        self.number.setRange(1 if count else 0, max(count, 1))
        self.number.setValue(1 if count else 0)
        for widget in (self.slider, self.number):
            widget.blockSignals(False)
        enabled = count > 1
        for widget in (self.slider, self.number, self.play_button, self.fps):
            widget.setEnabled(enabled)
        if not enabled:
            self.play_button.setChecked(False)

    def set_index(self, index: int) -> None:
        self.slider.setValue(max(0, min(index, self.slider.maximum())))

    def step(self, delta: int) -> None:
        self.set_index(self.index + delta)

    def first(self) -> None:
        self.set_index(0)

    def last(self) -> None:
        self.set_index(self.slider.maximum())

    def _on_slider(self, value: int) -> None:
        self.number.blockSignals(True)
        self.number.setValue(value + 1)
        self.number.blockSignals(False)
        self.index_changed.emit(value)

    def _update_interval(self) -> None:
        self.timer.setInterval(int(round(1000.0 / self.fps.value())))

    def _on_play_toggled(self, playing: bool) -> None:
        self.play_button.setText("⏸" if playing else "▶")
        if playing:
            self.timer.start()
        else:
            self.timer.stop()

    def _advance(self) -> None:
        if self.index >= self.slider.maximum():
            self.set_index(0)  # loop
        else:
            self.step(1)
