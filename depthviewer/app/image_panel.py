"""An image panel: an RGB image or a scalar map with a colour map and colour bar, in a pannable view."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

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
    """One titled view; `set_rgb` shows a colour image, `set_scalar` a map through a colour map with a bar."""

    def __init__(self, title: str, tooltip: str = "", colormap: str | None = None, unit: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.unit = unit
        self.setToolTip(tooltip)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(NO_VALUE_BACKGROUND)
        self.graphics.setToolTip(tooltip)
        layout.addWidget(self.graphics)
        self.label = self.graphics.addLabel(title, row=0, col=0, colspan=2, size="10pt", color="#e8e8e8")
        self.view: pg.ViewBox = self.graphics.addViewBox(row=1, col=0, lockAspect=True, invertY=True)
        self.view.setMenuEnabled(False)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image_item)
        self.colorbar: pg.ColorBarItem | None = None
        if colormap is not None:
            cmap = pg.colormap.get(colormap)
            self.colorbar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=cmap, interactive=False,
                                            label=unit, width=14)
            self.colorbar.setImageItem(self.image_item)
            self.graphics.addItem(self.colorbar, row=1, col=1)
        self._data: np.ndarray | None = None

    @property
    def data(self) -> np.ndarray | None:
        """The array shown, as given (RGB uint8 or float map)."""
        return self._data

    def set_rgb(self, rgb: np.ndarray) -> None:
        """Show an (H, W, 3) image, uint8 or float in [0, 1]."""
        self._data = rgb
        self.image_item.setImage(rgb, autoLevels=False, levels=(0, 255) if rgb.dtype == np.uint8 else (0.0, 1.0))

    def set_scalar(self, values: np.ndarray, levels: tuple[float, float] | None = None) -> None:
        """Show an (H, W) float map; NaN pixels are left transparent. Levels default to the 1-99th percentile."""
        self._data = values
        low, high = levels if levels is not None else robust_levels(values)
        self.image_item.setImage(values.astype(np.float32, copy=False), autoLevels=False, levels=(low, high))
        if self.colorbar is not None:
            self.colorbar.setLevels((low, high))

    def clear(self) -> None:
        self._data = None
        self.image_item.clear()



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
