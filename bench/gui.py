"""Responsiveness of the app, in one run, under a real display (xvfb-run is enough; `make bench` does it).

Measures:
- time to first window, against an empty PySide6 window started the same way (baseline);
- slider change to all panels updated, for an uncached and a cached frame, against the pipeline's own time
  for that frame computed directly (baseline);
- the longest event-loop stall while inference runs (a 5 ms timer's largest gap);
- inferences started during a 50-frame slider drag;
- point cloud draw time on the GL context, plain GL points against vispy Markers (baseline), 466k points.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SAMPLE = ROOT / "sample_data" / "kitti2015_stereo"


def _startup_seconds(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    return time.perf_counter() - start


def time_to_first_window() -> tuple[float, float]:
    show = "app.processEvents(); import sys; sys.exit(0)"
    baseline = ("from PySide6.QtWidgets import QApplication, QMainWindow\n"
                f"app = QApplication([]); w = QMainWindow(); w.show(); {show}")
    ours = ("from PySide6.QtWidgets import QApplication\n"
            "from depthviewer.app.main_window import MainWindow\n"
            f"app = QApplication([]); w = MainWindow(); w.show(); {show}")
    _startup_seconds(baseline)  # warm the file cache
    return min(_startup_seconds(baseline) for _ in range(3)), min(_startup_seconds(ours) for _ in range(3))


def make_folder(frames: int) -> Path:
    """A plain stereo folder of `frames` real pairs (the KITTI pair shifted down by a few rows each frame)."""
    root = Path(tempfile.mkdtemp(prefix="depthviewer-bench-"))
    left = cv2.imread(str(SAMPLE / "image_2" / "000000_10.png"))
    right = cv2.imread(str(SAMPLE / "image_3" / "000000_10.png"))
    (root / "left").mkdir()
    (root / "right").mkdir()
    for i in range(frames):
        cv2.imwrite(str(root / "left" / f"{i:04d}.png"), np.roll(left, i, axis=0))
        cv2.imwrite(str(root / "right" / f"{i:04d}.png"), np.roll(right, i, axis=0))
    shutil.copy(SAMPLE / "calib_cam_to_cam_2011_09_26.txt", root / "calib.txt")
    return root


def gui_measurements(folder: Path) -> dict[str, float]:
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from depthviewer.app.main_window import MainWindow
    from depthviewer.backends import create_backend
    from depthviewer.io.stereo_folder import open_stereo_folder
    from depthviewer.pipeline import process_frame

    app = QApplication.instance() or QApplication([])
    window = MainWindow()
    window.resize(1500, 900)
    window.show()

    def wait_for(index: int, timeout_s: float = 60.0) -> None:
        deadline = time.perf_counter() + timeout_s
        while not (window.current is not None and window.current_index == index):
            app.processEvents()
            if time.perf_counter() > deadline:
                raise TimeoutError(f"frame {index} not shown")
            time.sleep(0.001)

    window.open_path(folder)
    wait_for(0)
    source = open_stereo_folder(folder)
    backend = create_backend("sgbm")
    start = time.perf_counter()
    process_frame(source, 1, backend)
    direct = time.perf_counter() - start

    # Event-loop stalls while frames compute: a 5 ms timer's largest gap.
    gaps, clock = [], QElapsedTimer()
    clock.start()
    last = [0]

    def tick() -> None:
        now = clock.elapsed()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(5)
    start = time.perf_counter()
    window.timeline.set_index(1)
    wait_for(1)
    uncached = time.perf_counter() - start
    start = time.perf_counter()
    window.timeline.set_index(0)
    wait_for(0)
    cached = time.perf_counter() - start
    timer.stop()

    before = window.worker.worker.frames_computed
    for i in range(2, 52):
        window.timeline.set_index(i)
        app.processEvents()
    wait_for(51)
    drag_inferences = window.worker.worker.frames_computed - before
    window.close()
    return {"direct": direct, "uncached": uncached, "cached": cached, "stall_ms": max(gaps[1:] or [0]),
            "drag_inferences": drag_inferences}


def draw_times(points: int = 466_000, repeat: int = 5) -> tuple[float, float]:
    from vispy import app as vispy_app
    from vispy import scene

    from depthviewer.app.gl_points import GLPoints

    vispy_app.use_app("pyside6")
    rng = np.random.default_rng(0)
    pos = rng.normal(size=(points, 3)).astype(np.float32) * [5, 20, 2]
    colours = rng.random((points, 3)).astype(np.float32)
    results = []
    for make in (lambda parent: scene.visuals.Markers(parent=parent), lambda parent: GLPoints(parent=parent)):
        canvas = scene.SceneCanvas(size=(800, 600), show=True)
        view = canvas.central_widget.add_view()
        view.camera = scene.TurntableCamera()
        visual = make(view.scene)
        if isinstance(visual, GLPoints):
            visual.set_data(pos, colours, size=2)
        else:
            visual.set_data(pos, face_color=np.c_[colours, np.ones(points)], edge_width=0, size=2)
        canvas.render()  # upload
        times = []
        for _ in range(repeat):
            view.camera.azimuth += 5
            start = time.perf_counter()
            canvas.render()
            times.append(time.perf_counter() - start)
        results.append(float(np.median(times)))
        canvas.close()
    return results[0], results[1]


def main() -> None:
    baseline, ours = time_to_first_window()
    print(f"time to first window: {ours:.2f} s vs empty PySide6 window {baseline:.2f} s ({ours / baseline:.2f}x)")
    folder = make_folder(60)
    try:
        r = gui_measurements(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"slider -> panels, uncached frame: {r['uncached'] * 1e3:.0f} ms ({r['uncached'] / r['direct']:.2f}x the "
          f"pipeline alone, {r['direct'] * 1e3:.0f} ms)")
    print(f"slider -> panels, cached frame:   {r['cached'] * 1e3:.0f} ms ({r['cached'] / r['direct']:.3f}x)")
    print(f"longest event-loop stall while inference runs: {r['stall_ms']:.0f} ms")
    print(f"inferences started during a 50-frame drag: {r['drag_inferences']}")
    markers, points = draw_times()
    print(f"point cloud draw, 466k points: GL points {points * 1e3:.0f} ms vs vispy Markers {markers * 1e3:.0f} ms "
          f"({points / markers:.2f}x)")


if __name__ == "__main__":
    main()
