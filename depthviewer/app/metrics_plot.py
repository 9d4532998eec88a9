"""Per-frame losses and metrics over the whole sequence, filled in as frames are computed; click to jump."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget


class MetricsPlot(QWidget):
    """One metric against the frame index; `frame_clicked` gives the index of the clicked point."""

    frame_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        row = QHBoxLayout()
        row.addWidget(QLabel("metric"))
        self.metric = QComboBox()
        self.metric.currentTextChanged.connect(lambda _: self._redraw())
        row.addWidget(self.metric, 1)
        layout.addLayout(row)
        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "frame")
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        for side in ("bottom", "left"):  # "photometric (x0.001)" with 47 on the axis reads worse than 0.047
            self.plot.getAxis(side).enableAutoSIPrefix(False)
        layout.addWidget(self.plot, 1)
        self.line = self.plot.plot([], [], pen=pg.mkPen((200, 200, 200), width=1))
        self.points = pg.ScatterPlotItem(size=8, brush=pg.mkBrush(255, 200, 0), pen=None)
        self.points.sigClicked.connect(self._on_clicked)
        self.plot.addItem(self.points)
        self.cursor = pg.InfiniteLine(pos=0, angle=90, pen=pg.mkPen((0, 220, 220), width=1))
        self.plot.addItem(self.cursor)
        self.values: dict[int, dict[str, float]] = {}

    def clear(self) -> None:
        self.values.clear()
        self.metric.clear()
        self._redraw()

    def add(self, index: int, metrics: dict[str, float]) -> None:
        """Record a computed frame's metrics (any new metric name joins the choices)."""
        self.values[index] = dict(metrics)
        for key in metrics:
            if self.metric.findText(key) < 0:
                self.metric.addItem(key)
        self._redraw()

    def set_frame_count(self, count: int) -> None:
        self.plot.setXRange(-0.5, max(count - 1, 0) + 0.5, padding=0.02)

    def set_current(self, index: int) -> None:
        self.cursor.setValue(index)

    def series(self, key: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        key = key or self.metric.currentText()
        pairs = sorted((i, m[key]) for i, m in self.values.items() if key in m and math.isfinite(m[key]))
        if not pairs:
            return np.zeros(0, int), np.zeros(0)
        frames, values = zip(*pairs)
        return np.asarray(frames), np.asarray(values, dtype=float)

    def _redraw(self) -> None:
        frames, values = self.series()
        self.line.setData(frames, values)
        self.points.setData([{"pos": (f, v), "data": int(f)} for f, v in zip(frames, values)])
        self.plot.setLabel("left", self.metric.currentText())
        if len(values):
            low, high = float(values.min()), float(values.max())
            pad = max((high - low) * 0.1, abs(high) * 0.1, 1e-6)
            self.plot.setYRange(low - pad, high + pad, padding=0)

    def _on_clicked(self, _item, points, *_) -> None:
        if len(points):
            self.frame_clicked.emit(int(points[0].data()))
