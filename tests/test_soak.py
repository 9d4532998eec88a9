"""Soak: scrub a 2,000-frame video back and forth for minutes; memory stays within the cache budget plus a
fixed margin and no thread or file handle leaks. Not in the default run: `pytest -m soak` or `bench/soak.py`."""

from __future__ import annotations

import os
import threading
import time

import cv2
import numpy as np
import pytest

from depthviewer.io.video import VideoSource

FRAMES = 2000
BUDGET_BYTES = 64 * 2**20
MARGIN_BYTES = 150 * 2**20


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def write_video(path, frames: int = FRAMES, size=(320, 240)) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, size)
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    for i in range(frames):
        frame = np.roll(base, i, axis=1)
        cv2.putText(frame, str(i), (10, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (255, 255, 255), 2)
        writer.write(frame)
    writer.release()


def soak(path, seconds: float) -> dict[str, float]:
    """Scrub forward and back (sweeps, random jumps) for `seconds`; returns the measurements."""
    source = VideoSource(path, cache_bytes=BUDGET_BYTES)
    rng = np.random.default_rng(1)
    source.read(0)
    baseline_rss, baseline_fds, baseline_threads = _rss_bytes(), _open_files(), threading.active_count()
    peak_rss, reads, start = baseline_rss, 0, time.time()
    while time.time() - start < seconds:
        sweep = range(0, source.frame_count, 7) if reads % 2 == 0 else range(source.frame_count - 1, 0, -11)
        for index in list(sweep) + list(rng.integers(0, source.frame_count, 50)):
            frame = source.read(int(index))
            assert frame.shape == (240, 320, 3)
            reads += 1
            if reads % 100 == 0:
                peak_rss = max(peak_rss, _rss_bytes())
                assert source.cached_bytes <= BUDGET_BYTES
            if time.time() - start > seconds:
                break
    source.close()
    return {"reads": reads, "growth": peak_rss - baseline_rss, "fds": _open_files() - baseline_fds,
            "threads": threading.active_count() - baseline_threads}


@pytest.mark.soak
def test_scrubbing_a_long_video_stays_within_budget(tmp_path):
    path = tmp_path / "long.avi"
    write_video(path)
    seconds = float(os.environ.get("DEPTHVIEWER_SOAK_SECONDS", "180"))
    result = soak(path, seconds)
    assert result["reads"] > 1000
    assert result["growth"] < BUDGET_BYTES + MARGIN_BYTES, result
    assert result["fds"] <= 0 and result["threads"] <= 0, result
