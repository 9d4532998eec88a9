"""The Qt desktop app. The only package that imports Qt, pyqtgraph or vispy."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Mesa's software OpenGL (llvmpipe) and Triton each bring their own LLVM; importing Triton after a GL context
# exists crashed the process (seen under Xvfb). The app compiles no kernels, so torch must not import Triton
# here (torch treats the missing module as "no Triton"). Other processes (the CLI, tests of the lower layers
# run alone) are unaffected.
if "triton" not in sys.modules:
    sys.modules["triton"] = None  # type: ignore[assignment]


def run_app(path: Path | None, backend: str | None = None) -> int:
    """Open the main window on `path` (a stereo folder) and run the event loop until it closes."""
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    from depthviewer.app.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("depthviewer")
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)
    window = MainWindow(backend=backend)
    window.show()
    if path is not None:
        window.open_path(path)
    code = app.exec()
    if window.busy_threads():
        # A torch or OpenCV call in flight cannot be interrupted; the window is closed and every file the app
        # writes is written atomically, so nothing is lost by not waiting for it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
