"""Faults while the app runs: a backend that fails or runs out of memory mid-sequence, closing while busy."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import numpy as np

from depthviewer.app.worker import BackendSpec, describe_failure
from tests.app.conftest import wait_for_frame


class FlakyBackend:
    """Wraps a real backend and fails on chosen calls, as a backend with a bug or a full GPU would."""

    def __init__(self, real, fail_on: dict[int, BaseException]) -> None:
        self.real, self.fail_on, self.calls = real, fail_on, 0
        self.name, self.kind = real.name, real.kind

    @property
    def device(self) -> str:
        return self.real.device

    def predict(self, left, right):
        self.calls += 1
        if self.calls in self.fail_on:
            raise self.fail_on[self.calls]
        return self.real.predict(left, right)


def _install(window, fail_on):
    from depthviewer.backends import create_backend

    flaky = FlakyBackend(create_backend("sgbm"), fail_on)
    window.worker.worker._backends[BackendSpec("sgbm")] = flaky
    return flaky


def test_a_failing_frame_is_reported_and_the_next_one_works(qtbot, window, three_frame_folder):
    _install(window, {2: RuntimeError("kernel exploded")})
    window.open_path(three_frame_folder)
    wait_for_frame(qtbot, window, 0)
    first = window.grid.cell("left").data.copy()
    window.timeline.set_index(1)
    qtbot.waitUntil(lambda: window.error_banner.isVisible(), timeout=30_000)
    assert "frame_2.png failed" in window.error_banner.text() and "kernel exploded" in window.error_banner.text()
    assert "(failed)" in window.timeline.label.text()
    assert window.current_index == 0 and np.array_equal(window.grid.cell("left").data, first)  # last good frame
    window.timeline.set_index(2)
    wait_for_frame(qtbot, window, 2)
    assert not window.error_banner.isVisible()


def test_out_of_memory_gets_advice(qtbot, window, three_frame_folder):
    _install(window, {1: RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")})
    window.open_path(three_frame_folder)
    qtbot.waitUntil(lambda: window.error_banner.isVisible(), timeout=30_000)
    assert "out of memory" in window.error_banner.text() and "CPU" in window.error_banner.text()
    window.timeline.set_index(1)
    wait_for_frame(qtbot, window, 1)
    assert describe_failure(MemoryError()).startswith("out of memory")


def test_closing_while_the_worker_runs_exits_within_a_second(tmp_path, shared_data):
    """A real app process: close the window while a slow plane-sweep frame computes; the process must end
    within about a second of the close, not when the computation does."""
    script = tmp_path / "run.py"
    marker = tmp_path / "closed_at"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication
        from depthviewer.app import run_app
        from depthviewer.app.main_window import MainWindow

        app = QApplication([])
        def window():
            return next(w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow))
        def close():
            open({str(marker)!r}, "w").write(repr(time.time()))
            window().close()
        # Frame 2 has no stereo partner: a plane sweep, many seconds on this CPU.
        QTimer.singleShot(1000, lambda: window().timeline.set_index(2))
        QTimer.singleShot(6000, close)
        sys.exit(run_app({str(shared_data / "kitti_odometry_00_seq")!r}))
    """))
    start = time.time()
    process = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                             env={**os.environ})
    ended = time.time()
    assert process.returncode == 0, process.stderr[-2000:]
    closed_at = float(marker.read_text())
    assert ended - closed_at < 2.0, f"exited {ended - closed_at:.1f} s after the close"
    assert closed_at - start > 5.0


def test_refine_shows_its_loss_going_down_and_can_be_stopped(qtbot, window, three_frame_folder):
    window.set_backends(BackendSpec("refine", (("iterations", 400), ("report_every", 2))))
    window.open_path(three_frame_folder)
    losses = []
    window.worker.worker.progress.connect(lambda gen, i, n, loss: losses.append((i, n, loss)))
    qtbot.waitUntil(lambda: window.frame_progress.isVisible() and len(losses) >= 3, timeout=120_000)
    assert "loss" in window.statusBar().currentMessage() and window.stop_button.isVisible()
    assert losses[-1][2] < losses[0][2]  # the Monodepth objective falls
    window.stop_button.click()
    wait_for_frame(qtbot, window, 0, timeout=60_000)
    assert losses[-1][0] < 400  # stopped early, with the estimate it had
    assert not window.frame_progress.isVisible()
    assert window.grid.cell("disparity").data is not None
