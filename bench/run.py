"""Per-frame cost of each stage on the bundled KITTI pair, as ratios against a baseline measured in the same run.

Baseline: one plain OpenCV SGBM match of the left view (no padding, no right view), the least a stereo
viewer must do per frame. Run with `make bench` or `.venv/bin/python bench/run.py [--repeat N]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from depthviewer.backends import create_backend  # noqa: E402
from depthviewer.compute.device import default_device, device_label  # noqa: E402
from depthviewer.compute.stereo_analysis import analyse_stereo  # noqa: E402
from depthviewer.io.stereo_folder import open_stereo_folder  # noqa: E402
from depthviewer.pipeline import FrameResult, point_cloud  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "kitti2015_stereo"


def _median_seconds(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    source = open_stereo_folder(SAMPLE)
    frame = source.load(0)
    backend = create_backend("sgbm")
    device = default_device()
    left_bgr = cv2.cvtColor(frame.left_rgb, cv2.COLOR_RGB2BGR)
    right_bgr = cv2.cvtColor(frame.right_rgb, cv2.COLOR_RGB2BGR)
    plain = cv2.StereoSGBM_create(0, 128, 7, 8 * 3 * 49, 32 * 3 * 49, 1, 63, 10, 100, 2, cv2.STEREO_SGBM_MODE_SGBM_3WAY)
    prediction = backend.predict(frame.left_rgb, frame.right_rgb)
    analysis = analyse_stereo(frame, prediction, device=device)
    result = FrameResult(frame, prediction, analysis)

    baseline = _median_seconds(lambda: plain.compute(left_bgr, right_bgr), args.repeat)
    stages = {
        "read frame (2 PNG + GT)": lambda: source.load(0),
        "sgbm backend (both views, padded)": lambda: backend.predict(frame.left_rgb, frame.right_rgb),
        f"analysis on {device_label(device)}": lambda: analyse_stereo(frame, prediction, device=device),
        "point cloud (full resolution)": lambda: point_cloud(result),
    }
    print(f"baseline: plain SGBM left match, {frame.size_hw[1]}x{frame.size_hw[0]}: {baseline * 1e3:.0f} ms (= 1.00)")
    for name, fn in stages.items():
        seconds = _median_seconds(fn, args.repeat)
        print(f"{name:40s} {seconds * 1e3:7.0f} ms  {seconds / baseline:5.2f}x baseline")


if __name__ == "__main__":
    main()
