"""An image panel: an RGB image or a scalar map with a colour map and colour bar, in a pannable view;
and the linker that keeps every panel at the same centre and zoom."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QStackedLayout, QVBoxLayout, QWidget

COLORMAPS = ("magma", "inferno", "viridis", "plasma", "turbo", "cividis", "CET-D1")

# Pixels with no value (NaN) are drawn transparent, so this background marks them.
NO_VALUE_BACKGROUND = (88, 88, 96)


def robust_levels(values: np.ndarray, low_pct: float = 1.0, high_pct: float = 99.0) -> tuple[float, float]:
    """Percentile range of the finite values, so a few outliers don't wash out the map."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = np.percentile(finite, [low_pct, high_pct])
    if not high > low:
        high = low + 1e-6
    return float(low), float(high)


class ImagePanel(QWidget):
    """One grid cell: a header to choose the map, its colour map and range, and a pannable view with a crosshair.

    `set_rgb` shows a colour image, `set_scalar` a float map through the colour map with a colour bar.
    Signals give image coordinates (x = column, y = row) of the mouse.
    """

    content_requested = Signal(str)  # the user picked another map for this cell
    hovered = Signal(float, float)
    clicked = Signal(float, float)
    levels_changed = Signal()

    def __init__(self, choices: list[tuple[str, str]], key: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.key = key
        self.kind = "rgb"
        self.unit = ""
        self._data: np.ndarray | None = None
        self._levels: tuple[float, float] = (0.0, 1.0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)

        header = QHBoxLayout()
        header.setContentsMargins(2, 2, 2, 2)
        self.content = QComboBox()
        for choice_key, title in choices:
            self.content.addItem(title, choice_key)
        self.content.setCurrentIndex(max(self.content.findData(key), 0))
        self.content.currentIndexChanged.connect(lambda _: self.content_requested.emit(self.content.currentData()))
        self.colormap_box = QComboBox()
        self.colormap_box.addItems(list(COLORMAPS))
        self.colormap_box.setToolTip("Colour map")
        self.colormap_box.currentTextChanged.connect(self.set_colormap)
        self.fix_range = QCheckBox("fix range")
        self.fix_range.setToolTip("Keep the current colour range while scrubbing (otherwise it adapts to each frame)")
        header.addWidget(self.content, 1)
        header.addWidget(self.colormap_box)
        header.addWidget(self.fix_range)
        layout.addLayout(header)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(NO_VALUE_BACKGROUND)
        self.missing = QLabel()
        self.missing.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.missing.setWordWrap(True)
        self.missing.setStyleSheet("color: #ddd; background: rgb%s;" % (NO_VALUE_BACKGROUND,))
        body = QWidget()
        self._body = QStackedLayout(body)
        self._body.addWidget(self.graphics)
        self._body.addWidget(self.missing)
        layout.addWidget(body, 1)
        self.view: pg.ViewBox = self.graphics.addViewBox(row=0, col=0, lockAspect=True, invertY=True)
        self.view.setMenuEnabled(False)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image_item)
        # The bar is a legend only: the image's lookup table and levels are set here, so an RGB image is
        # never passed through a colour map.
        self.colorbar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=pg.colormap.get("magma"), interactive=False,
                                        width=14)
        self._lut: np.ndarray | None = None
        self.graphics.addItem(self.colorbar, row=0, col=1)
        pen = pg.mkPen((255, 255, 0, 160), width=1, style=Qt.PenStyle.DashLine)
        self.crosshair = (pg.InfiniteLine(angle=90, pen=pen, movable=False),
                          pg.InfiniteLine(angle=0, pen=pen, movable=False))
        for line in self.crosshair:
            line.setZValue(10)
            line.hide()
            self.view.addItem(line, ignoreBounds=True)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.graphics.scene().sigMouseClicked.connect(self._on_mouse_clicked)

    @property
    def data(self) -> np.ndarray | None:
        """The array shown, as given (RGB uint8 or float map)."""
        return self._data

    @property
    def levels(self) -> tuple[float, float]:
        return self._levels

    def configure(self, key: str, title: str, tooltip: str, kind: str, colormap: str, unit: str) -> None:
        """Switch the cell to another map (called by the grid when the user picks one)."""
        self.key = key
        self.kind = kind
        self.unit = unit
        self.setToolTip(f"{title}: {tooltip}")
        self.graphics.setToolTip(tooltip)
        self.content.blockSignals(True)
        self.content.setCurrentIndex(max(self.content.findData(key), 0))
        self.content.blockSignals(False)
        scalar = kind == "scalar"
        self.colormap_box.setVisible(scalar)
        self.fix_range.setVisible(scalar)
        self.fix_range.setChecked(False)
        self.colorbar.setVisible(scalar)
        self.colorbar.axis.setLabel(unit)
        self.colormap_box.blockSignals(True)
        self.colormap_box.setCurrentText(colormap)
        self.colormap_box.blockSignals(False)
        self.set_colormap(colormap)
        self.clear()

    def set_colormap(self, name: str) -> None:
        cmap = pg.colormap.get(name)
        self.colorbar.setColorMap(cmap)
        self._lut = cmap.getLookupTable(nPts=256)
        if self.kind == "scalar" and self._data is not None:
            self.image_item.setLookupTable(self._lut)

    def set_rgb(self, rgb: np.ndarray) -> None:
        """Show an (H, W, 3) image, uint8 or float in [0, 1]."""
        self._data = rgb
        self._body.setCurrentWidget(self.graphics)
        self.image_item.setLookupTable(None)
        self.image_item.setImage(rgb, autoLevels=False, levels=(0, 255) if rgb.dtype == np.uint8 else (0.0, 1.0))

    def set_scalar(self, values: np.ndarray, levels: tuple[float, float]) -> None:
        """Show an (H, W) float map; NaN pixels are left transparent. With "fix range" on, `levels` is ignored."""
        self._data = values
        self._body.setCurrentWidget(self.graphics)
        if not self.fix_range.isChecked():
            self._levels = levels
        self.image_item.setLookupTable(self._lut)
        self.image_item.setImage(values.astype(np.float32, copy=False), autoLevels=False, levels=self._levels)
        self.colorbar.setLevels(self._levels)

    def show_missing(self, reason: str) -> None:
        """This frame has no such map: say so in the cell instead of an empty view."""
        self.clear()
        self.missing.setText(reason)
        self._body.setCurrentWidget(self.missing)

    def clear(self) -> None:
        self._data = None
        self.image_item.clear()

    def set_crosshair(self, x: float | None, y: float | None) -> None:
        visible = x is not None and y is not None
        for line, value in zip(self.crosshair, (x, y)):
            line.setVisible(visible)
            if visible:
                line.setValue(value)

    def _image_point(self, scene_pos) -> tuple[float, float] | None:
        if self._data is None or not self.view.sceneBoundingRect().contains(scene_pos):
            return None
        point = self.view.mapSceneToView(scene_pos)
        height, width = self._data.shape[:2]
        if 0 <= point.x() < width and 0 <= point.y() < height:
            return point.x(), point.y()
        return None

    def _on_mouse_moved(self, scene_pos) -> None:
        point = self._image_point(scene_pos)
        if point is not None:
            self.hovered.emit(*point)

    def _on_mouse_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or event.double():
            return
        point = self._image_point(event.scenePos())
        if point is not None:
            self.clicked.emit(*point)


class ViewLinker:
    """Keeps image views at the same centre and zoom (image pixels per screen pixel), whatever their sizes.

    pyqtgraph's own X/Y links align edges, which with locked aspect and views of different widths
    (a colour bar takes room) shows different regions; linking centre and zoom shows the same pixel everywhere.
    """

    def __init__(self) -> None:
        self.views: list[pg.ViewBox] = []
        self._busy = False

    def add(self, view: pg.ViewBox) -> None:
        self.views.append(view)
        view.sigRangeChanged.connect(lambda changed_view, *_: self.sync_from(changed_view))

    def _show(self, view: pg.ViewBox, centre: tuple[float, float], units_per_px: float) -> None:
        half_w = units_per_px * max(view.width(), 1.0) / 2
        half_h = units_per_px * max(view.height(), 1.0) / 2
        view.setRange(xRange=(centre[0] - half_w, centre[0] + half_w),
                      yRange=(centre[1] - half_h, centre[1] + half_h), padding=0)

    def sync_from(self, source: pg.ViewBox) -> None:
        if self._busy or source.width() <= 0:
            return
        self._busy = True
        try:
            (x0, x1), (y0, y1) = source.viewRange()
            centre = ((x0 + x1) / 2, (y0 + y1) / 2)
            units_per_px = (x1 - x0) / source.width()
            for view in self.views:
                if view is not source:
                    self._show(view, centre, units_per_px)
        finally:
            self._busy = False

    def fit(self, width: int, height: int) -> None:
        """Show a whole width x height image in every view, at one common zoom."""
        units_per_px = max(max(width / max(v.width(), 1.0), height / max(v.height(), 1.0)) for v in self.views)
        self._busy = True
        try:
            for view in self.views:
                self._show(view, (width / 2, height / 2), units_per_px * 1.02)
        finally:
            self._busy = False
