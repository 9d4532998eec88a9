"""OpenCV SGBM against torch-sgm on the shared KITTI 2015 and Middlebury frames: time, ratio, accuracy, device.

Each pair is matched by every backend N times, the backends taking turns so that both see the same machine load;
the median time is compared with SGBM's on the same pair in the same run. Accuracy is depthviewer's metric at full
density: D1-all (KITTI 2015, devkit background fill) and bad-2 (Middlebury, all GT pixels).
Run with `.venv/bin/python bench/stereo_backends.py [--repeat N] [--threads T] [--torch-threads T] [--device D]`.
torch gets one thread by default: on a 2-core machine shared with other work, its OpenMP threads meet at a barrier
after every one of the ~20k small kernels of SGM's path loops and were measured 5-10x slower with two threads.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from depthviewer.backends import create_backend  # noqa: E402
from depthviewer.compute.metrics import kitti_disparity_metrics, middlebury_metrics  # noqa: E402
from depthviewer.io.pfm import read_pfm  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


def _rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"cannot read {path}")
    return np.ascontiguousarray(image[..., ::-1])


def _pairs() -> list[dict]:
    """The shared frames, each with its GT, metric, and the per-dataset disparity range both backends use."""
    kitti, middlebury = DATA / "kitti2015_stereo", DATA / "middlebury2014_motorcycle_Q"
    gt_kitti = cv2.imread(str(kitti / "disp_occ_0" / "000000_10.png"), cv2.IMREAD_UNCHANGED).astype(np.float32) / 256
    gt_kitti[gt_kitti == 0] = np.nan
    gt_middlebury = read_pfm(middlebury / "disp0GT.pfm")
    gt_middlebury[~np.isfinite(gt_middlebury)] = np.nan
    return [
        {"name": "KITTI 2015 000000_10", "left": _rgb(kitti / "image_2" / "000000_10.png"),
         "right": _rgb(kitti / "image_3" / "000000_10.png"), "gt": gt_kitti, "metric": "D1-all",
         "score": lambda d, g: kitti_disparity_metrics(d, g)["d1_all"],
         "params": {"sgbm": {}, "torch-sgm": {}}},
        {"name": "Middlebury Motorcycle Q", "left": _rgb(middlebury / "im0.png"),
         "right": _rgb(middlebury / "im1.png"), "gt": gt_middlebury, "metric": "bad-2",
         "score": lambda d, g: middlebury_metrics(d, g)["bad2"],
         "params": {"sgbm": {"num_disparities": 96, "block_size": 3}, "torch-sgm": {"num_disparities": 96}}},
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for OpenCV")
    parser.add_argument("--torch-threads", type=int, default=1, help="CPU threads for torch")
    parser.add_argument("--device", default=None, help="torch-sgm device (default: CUDA, else MPS, else CPU)")
    args = parser.parse_args()
    torch.set_num_threads(args.torch_threads)
    cv2.setNumThreads(args.threads)
    print(f"{args.repeat} repeats; CPU threads: OpenCV {args.threads}, torch {args.torch_threads}; "
          f"torch {torch.__version__}, OpenCV {cv2.__version__}")
    print(f"{'pair':26s} {'backend':10s} {'device':28s} {'median s':>9s} {'vs sgbm':>8s} {'metric':>8s} {'%':>6s}")
    for pair in _pairs():
        backends = {"sgbm": create_backend("sgbm", **pair["params"]["sgbm"]),
                    "torch-sgm": create_backend("torch-sgm", device=args.device, **pair["params"]["torch-sgm"])}
        times: dict[str, list[float]] = {name: [] for name in backends}
        scores = {}
        for name, backend in backends.items():  # warm-up, and the accuracy
            prediction = backend.predict(pair["left"], pair["right"])
            scores[name] = pair["score"](prediction.disparity_left_px, pair["gt"])
        for _ in range(args.repeat):
            for name, backend in backends.items():
                start = time.perf_counter()
                backend.predict(pair["left"], pair["right"])  # returns numpy: the device work is finished
                times[name].append(time.perf_counter() - start)
        baseline = statistics.median(times["sgbm"])
        for name, backend in backends.items():
            seconds = statistics.median(times[name])
            print(f"{pair['name']:26s} {name:10s} {backend.device:28s} {seconds:9.3f} {seconds / baseline:7.2f}x "
                  f"{pair['metric']:>8s} {scores[name]:6.2f}")


if __name__ == "__main__":
    main()
