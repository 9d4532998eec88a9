"""The grid of panels: which map each cell shows, linked zoom and crosshair, and the point cloud cell."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QApplication, QGridLayout, QWidget

from depthviewer.app.image_panel import ImagePanel, ViewLinker
from depthviewer.app.panels import POINT_CLOUD, PanelSpec
from depthviewer.app.point_cloud import PointCloudView


class PanelGrid(QWidget):
    """Cells in rows of `columns`; each image cell shows the map its header names, all at one centre and zoom."""

    hovered = Signal(float, float)
    clicked = Signal(float, float)
    layout_changed = Signal()

    def __init__(self, specs: tuple[PanelSpec, ...], layout_keys: list[str], point_cloud: PointCloudView,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.point_cloud = point_cloud
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(4)
        self.columns = 3
        self.cells: list[ImagePanel] = []
        self.linker = ViewLinker()
        self._output = None
        self._fitted_size: tuple[int, int] | None = None
        self.set_specs(specs, layout_keys)

    # Layout ---------------------------------------------------------------------------------------------
    def set_specs(self, specs: tuple[PanelSpec, ...], layout_keys: list[str]) -> None:
        """Use another set of maps (stereo or monocular) and lay out the cells named by `layout_keys`."""
        self.specs = {spec.key: spec for spec in specs}
        keys = [k for k in layout_keys if k in self.specs or k == POINT_CLOUD] or [specs[0].key]
        for cell in self.cells:
            self.grid.removeWidget(cell)
            cell.hide()  # at once: deleteLater waits for the event loop
            cell.setParent(None)
            cell.deleteLater()
        self.cells = []
        self.linker = ViewLinker()
        choices = [(spec.key, spec.title) for spec in specs]
        self._order: list[str] = []
        for key in keys:
            if key == POINT_CLOUD:
                self._order.append(POINT_CLOUD)
                continue
            cell = ImagePanel(choices, key)
            cell.content_requested.connect(lambda new_key, c=cell: self._switch(c, new_key))
            cell.hovered.connect(self._on_hovered)
            cell.clicked.connect(self.clicked)
            self._configure(cell, key)
            self.linker.add(cell.view)
            self.cells.append(cell)
            self._order.append(key)
        self._fitted_size = None
        self._arrange()

    def layout_keys(self) -> list[str]:
        """The map of each cell in order, with POINT_CLOUD where the point cloud sits (saved in the settings)."""
        keys, cells = [], iter(self.cells)
        for key in self._order:
            keys.append(POINT_CLOUD if key == POINT_CLOUD else next(cells).key)
        return keys

    def set_columns(self, columns: int) -> None:
        if columns != self.columns:
            self.columns = columns
            self._arrange()

    def _arrange(self) -> None:
        widgets, cells = [], iter(self.cells)
        for key in self._order:
            widgets.append(self.point_cloud if key == POINT_CLOUD else next(cells))
        for widget in widgets:
            self.grid.removeWidget(widget)
        for i, widget in enumerate(widgets):
            self.grid.addWidget(widget, i // self.columns, i % self.columns)
            widget.show()
        self.point_cloud.setVisible(POINT_CLOUD in self._order)
        rows = (len(widgets) + self.columns - 1) // self.columns
        for r in range(max(rows, self.grid.rowCount())):
            self.grid.setRowStretch(r, 1 if r < rows else 0)
        for c in range(max(self.columns, self.grid.columnCount())):
            self.grid.setColumnStretch(c, 1 if c < self.columns else 0)
        self._fitted_size = None
        self.layout_changed.emit()

    def _configure(self, cell: ImagePanel, key: str) -> None:
        spec = self.specs[key]
        cell.configure(key, spec.title, spec.tooltip, spec.kind, spec.colormap, spec.unit)

    def _switch(self, cell: ImagePanel, key: str) -> None:
        self._configure(cell, key)
        if self._output is not None:
            self._fill(cell, self._output)
        self.layout_changed.emit()

    # Content --------------------------------------------------------------------------------------------
    def show_output(self, output, size_hw: tuple[int, int]) -> None:
        """Fill every cell from a computed frame; fit the views when the image size changes."""
        self._output = output
        if self._fitted_size != size_hw:
            height, width = size_hw
            self.set_columns(2 if width > 2 * height else 3)
            QApplication.processEvents()  # the views take their new sizes before fitting
            self.linker.fit(width, height)
            self._fitted_size = size_hw
        for cell in self.cells:
            self._fill(cell, output)

    def _fill(self, cell: ImagePanel, output) -> None:
        spec = self.specs[cell.key]
        values = spec.extract(output)
        if values is None:
            cell.show_missing(f"{spec.title}: not available for this frame" + (
                f" ({spec.missing_reason})" if spec.missing_reason else ""))
        elif spec.kind == "rgb":
            cell.set_rgb(values)
        else:
            cell.set_scalar(values, spec.auto_levels(values))

    def cell(self, key: str) -> ImagePanel | None:
        """The first cell showing map `key`."""
        return next((c for c in self.cells if c.key == key), None)

    def _on_hovered(self, x: float, y: float) -> None:
        for cell in self.cells:
            cell.set_crosshair(np.floor(x) + 0.5, np.floor(y) + 0.5)
        self.hovered.emit(x, y)
