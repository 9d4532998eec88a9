"""The layer contract: only depthviewer/app imports Qt, pyqtgraph or vispy; computation knows no I/O or app."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "depthviewer"
GUI_MODULES = ("PySide6", "pyqtgraph", "vispy", "PyQt5", "PyQt6")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py"))


@pytest.mark.parametrize("path", [p for p in _modules(PACKAGE) if "app" not in p.relative_to(PACKAGE).parts],
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_gui_import_outside_the_app(path):
    bad = {name for name in _imports(path) if name.split(".")[0] in GUI_MODULES}
    assert not bad, f"{path} imports {bad}"


@pytest.mark.parametrize("layer,forbidden", [
    ("compute", ("depthviewer.io", "depthviewer.backends", "depthviewer.app", "depthviewer.pipeline")),
    ("io", ("depthviewer.compute", "depthviewer.backends", "depthviewer.app", "depthviewer.pipeline", "torch")),
    ("backends", ("depthviewer.app", "depthviewer.io")),
])
def test_lower_layers_do_not_reach_up(layer, forbidden):
    for path in _modules(PACKAGE / layer):
        bad = {n for n in _imports(path) if any(n == f or n.startswith(f + ".") for f in forbidden)}
        assert not bad, f"{path} imports {bad}"
