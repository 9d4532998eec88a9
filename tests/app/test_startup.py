"""The window appears before the heavy modules load: building and showing it needs neither torch nor vispy
(torch loads afterwards, in the worker thread; vispy with the first point cloud)."""

from __future__ import annotations

import subprocess
import sys


def test_opening_the_window_imports_neither_torch_nor_vispy():
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from depthviewer.app.main_window import MainWindow\n"
        "w = MainWindow()\n"
        "w.show()\n"
        "print(sorted(m for m in ('torch', 'vispy') if m in sys.modules))\n"
        "w.close()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
