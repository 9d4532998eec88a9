"""Tests for VideoSource on videos written in tmp_path: frame-exact seeks, the cache budget, odd sizes,
truncated and empty files, side-by-side stereo, and concurrent reads."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
import pytest

from depthviewer.errors import InputError
from depthviewer.io.images import read_rgb
from depthviewer.io.video import DEFAULT_CACHE_BYTES, FrameCache, VideoSource, fit_to_size

WIDTH, HEIGHT = 96, 64
FRAME_BYTES = WIDTH * HEIGHT * 3
ODOMETRY = "kitti_odometry_00_seq"


def coded_frame(index: int, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """A BGR frame with `index` drawn as 10 binary blocks (robust to lossy codecs) over a varying background."""
    frame = np.zeros((height, width, 3), np.uint8)
    frame[40:] = (index * 37 % 256, index * 11 % 256, 128)
    for bit in range(10):
        if (index >> bit) & 1:
            frame[8:24, 8 * bit + 8:8 * bit + 16] = 255
    return frame


def drawn_index(rgb: np.ndarray) -> int:
    return sum(int(rgb[16, 8 * bit + 12].mean() > 127) << bit for bit in range(10))


def write_video(path: Path, frames: Iterable[np.ndarray], fourcc: str, fps: float = 25.0,
                api: int = cv2.CAP_FFMPEG) -> Path:
    frames = list(frames)
    height, width = frames[0].shape[:2] if frames else (HEIGHT, WIDTH)
    writer = cv2.VideoWriter(str(path), api, cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened(), f"cannot write {path} with {fourcc}"
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def decode_all(path: Path) -> list[np.ndarray]:
    """Every frame by plain sequential decoding, RGB: the reference random access must reproduce."""
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


@pytest.fixture(scope="module")
def long_video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[np.ndarray]]:
    path = write_video(tmp_path_factory.mktemp("video") / "long.mp4", (coded_frame(i) for i in range(300)), "mp4v")
    return path, decode_all(path)


class _WrappedCapture:
    """A real capture whose behaviour a test changes by overriding methods (codec quirks OpenCV hides here)."""

    real = cv2.VideoCapture

    def __init__(self, *args: object) -> None:
        self._cap = self.real(*args)

    def __getattr__(self, name: str) -> object:
        return getattr(self._cap, name)


class TestRandomAccess:
    @pytest.mark.parametrize("fourcc,suffix", [("MJPG", ".avi"), ("mp4v", ".mp4"), ("mp4v", ".mkv")])
    def test_random_seeks_return_exactly_the_frame(self, tmp_path: Path, fourcc: str, suffix: str) -> None:
        path = write_video(tmp_path / f"v{suffix}", (coded_frame(i) for i in range(80)), fourcc)
        reference = decode_all(path)
        with VideoSource(path, cache_bytes=0) as video:
            assert len(video) == 80 and video.fps == pytest.approx(25.0) and video.frame_size == (WIDTH, HEIGHT)
            order = list(range(80))
            random.Random(1).shuffle(order)
            for index in order[:40] + [79, 0, 78, 1]:
                frame = video.read(index)
                assert drawn_index(frame) == index
                np.testing.assert_array_equal(frame, reference[index])

    def test_sequential_reads_do_not_seek(self, long_video: tuple[Path, list[np.ndarray]]) -> None:
        path, reference = long_video
        with VideoSource(path) as video:
            for index in range(60):
                np.testing.assert_array_equal(video.read(index), reference[index])
            assert video.seeks == 0
            video.read(200)  # far ahead: one seek, then sequential again
            for index in range(201, 211):
                assert drawn_index(video.read(index)) == index
            assert video.seeks == 1

    def test_seek_landing_on_a_keyframe_is_decoded_forward(self, long_video, monkeypatch) -> None:
        path, reference = long_video

        class KeyframeSeek(_WrappedCapture):
            def set(self, prop: int, value: float) -> bool:
                if prop == cv2.CAP_PROP_POS_FRAMES:
                    value -= value % 12  # lands on the keyframe before, and says so
                return self._cap.set(prop, value)

        monkeypatch.setattr(cv2, "VideoCapture", KeyframeSeek)
        with VideoSource(path, cache_bytes=0) as video:
            for index in (250, 131, 7, 299, 100, 101, 55):
                np.testing.assert_array_equal(video.read(index), reference[index])

    def test_seek_with_unknown_landing_falls_back_to_decoding(self, long_video, monkeypatch) -> None:
        path, reference = long_video

        class NoPosition(_WrappedCapture):
            def get(self, prop: int) -> float:
                return -1.0 if prop == cv2.CAP_PROP_POS_FRAMES else self._cap.get(prop)

        monkeypatch.setattr(cv2, "VideoCapture", NoPosition)
        with VideoSource(path, cache_bytes=0) as video:
            for index in (120, 40, 121):
                np.testing.assert_array_equal(video.read(index), reference[index])

    def test_real_frames(self, tmp_path: Path, shared_data: Path) -> None:
        originals = [read_rgb(shared_data / ODOMETRY / "image_0" / f"{i:06d}.png")[:, :1240] for i in range(6)]
        path = write_video(tmp_path / "kitti.mp4", (cv2.cvtColor(f, cv2.COLOR_RGB2BGR) for f in originals), "mp4v",
                           fps=10.0)
        with VideoSource(path) as video:
            assert len(video) == 6 and video.frame_size == (1240, 376) and video.fps == pytest.approx(10.0)
            for index in (4, 1, 5, 0, 3, 2):
                frame = video.read(index)
                errors = [np.abs(frame.astype(int) - o).mean() for o in originals]
                assert int(np.argmin(errors)) == index and errors[index] < 8.0

    def test_out_of_range_is_an_index_error(self, long_video) -> None:
        with VideoSource(long_video[0]) as video, pytest.raises(IndexError):
            video.read(300)

    def test_returned_frames_are_copies(self, long_video) -> None:
        with VideoSource(long_video[0]) as video:
            video.read(3)[:] = 0
            assert drawn_index(video.read(3)) == 3


class TestCache:
    def test_budget_is_never_exceeded(self, long_video) -> None:
        path, reference = long_video
        budget = 10 * FRAME_BYTES + FRAME_BYTES // 2
        with VideoSource(path, cache_bytes=budget) as video:
            rng = random.Random(0)
            for _ in range(150):
                index = rng.randrange(300)
                np.testing.assert_array_equal(video.read(index), reference[index])
                assert video.cached_bytes <= budget
            assert video.cached_bytes == 10 * FRAME_BYTES
            video.cache_bytes = 3 * FRAME_BYTES
            assert video.cached_bytes == 3 * FRAME_BYTES

    def test_least_recently_used_is_evicted(self, long_video) -> None:
        with VideoSource(long_video[0], cache_bytes=2 * FRAME_BYTES) as video:
            video.read(100)
            video.read(200)
            video.read(100)  # hit: 100 is now the most recent
            video.read(250)  # evicts 200
            seeks = video.seeks
            video.read(100)
            assert video.seeks == seeks
            video.read(200)
            assert video.seeks == seeks + 1

    def test_default_budget(self, long_video) -> None:
        with VideoSource(long_video[0]) as video:
            assert video.cache_bytes == DEFAULT_CACHE_BYTES == 512 * 2**20

    def test_frame_cache_unit(self) -> None:
        cache = FrameCache(100)
        cache.put(1, np.zeros(60, np.uint8))
        cache.put(2, np.zeros(60, np.uint8))  # evicts 1
        assert 1 not in cache and 2 in cache and cache.nbytes == 60
        cache.put(3, np.zeros(101, np.uint8))  # larger than the budget: not stored
        assert 3 not in cache and cache.nbytes == 60
        assert not cache.get(2).flags.writeable
        with pytest.raises(ValueError):
            FrameCache(-1)


class TestOddSizes:
    def test_odd_height_video(self, tmp_path: Path) -> None:
        frames = [coded_frame(i, 97, 65) for i in range(5)]
        path = write_video(tmp_path / "odd.avi", frames, "MJPG", api=cv2.CAP_OPENCV_MJPEG)
        with VideoSource(path) as video:
            assert video.frame_size == (97, 65)
            assert video.read(4).shape == (65, 97, 3) and drawn_index(video.read(4)) == 4

    def test_frame_one_row_short_is_padded(self, tmp_path: Path, monkeypatch) -> None:
        frames = [coded_frame(i, 96, 65) for i in range(5)]
        path = write_video(tmp_path / "odd.avi", frames, "MJPG", api=cv2.CAP_OPENCV_MJPEG)
        reference = decode_all(path)

        class RowShort(_WrappedCapture):
            def read(self) -> tuple[bool, np.ndarray | None]:
                ok, frame = self._cap.read()
                return ok, (frame[:-1] if ok else frame)

        monkeypatch.setattr(cv2, "VideoCapture", RowShort)
        with VideoSource(path) as video:
            assert video.frame_size == (96, 65)
            frame = video.read(3)
            assert frame.shape == (65, 96, 3)
            np.testing.assert_array_equal(frame[-1], frame[-2])
            np.testing.assert_array_equal(frame[:-1], reference[3][:-1])

    def test_fit_to_size(self) -> None:
        frame = np.arange(2 * 3 * 1, dtype=np.uint8).reshape(2, 3, 1)
        padded = fit_to_size(frame, 3, 4)
        assert padded.shape == (3, 4, 1)
        np.testing.assert_array_equal(padded[2, :3, 0], frame[1, :, 0])
        np.testing.assert_array_equal(padded[:2, 3, 0], frame[:, 2, 0])
        assert fit_to_size(frame, 1, 2).shape == (1, 2, 1)


class TestBrokenFiles:
    def test_truncated_video_corrects_its_frame_count(self, tmp_path: Path) -> None:
        full = write_video(tmp_path / "full.avi", (coded_frame(i) for i in range(60)), "MJPG")
        data = full.read_bytes()
        cut = tmp_path / "cut.avi"
        cut.write_bytes(data[:len(data) // 2])
        reference = decode_all(cut)
        real = len(reference)
        assert 0 < real < 60
        with VideoSource(cut) as video:
            assert len(video) == 60 and not video.truncated  # the header's claim, until a read shows otherwise
            with pytest.raises(InputError, match="frame 55 cannot be decoded") as info:
                video.read(55)
            assert info.value.path == cut
            assert len(video) == real and video.truncated and video.declared_frame_count == 60
            np.testing.assert_array_equal(video.read(real - 1), reference[real - 1])
            with pytest.raises(InputError, match=f"frame {real} cannot be decoded"):
                video.read(real)

    def test_truncated_end_found_by_sequential_reads(self, tmp_path: Path) -> None:
        full = write_video(tmp_path / "full.mkv", (coded_frame(i) for i in range(40)), "mp4v")
        data = full.read_bytes()
        cut = tmp_path / "cut.mkv"
        cut.write_bytes(data[:len(data) // 2])
        real = len(decode_all(cut))
        with VideoSource(cut) as video:
            for index in range(real):
                assert drawn_index(video.read(index)) == index
            with pytest.raises(InputError, match=f"frame {real} cannot"):
                video.read(real)
            assert len(video) == real

    def test_truncated_mp4_without_index_is_unreadable(self, tmp_path: Path) -> None:
        full = write_video(tmp_path / "full.mp4", (coded_frame(i) for i in range(20)), "mp4v")
        cut = tmp_path / "cut.mp4"
        cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
        with pytest.raises(InputError, match="not a readable video"):
            VideoSource(cut)

    @pytest.mark.parametrize("suffix,fourcc", [(".avi", "MJPG"), (".mp4", "mp4v")])
    def test_zero_frames(self, tmp_path: Path, suffix: str, fourcc: str) -> None:
        path = write_video(tmp_path / f"zero{suffix}", [], fourcc)
        with pytest.raises(InputError, match="no frames|not a readable video") as info:
            VideoSource(path)
        assert info.value.path == path

    def test_not_a_video(self, tmp_path: Path) -> None:
        (tmp_path / "empty.mp4").write_bytes(b"")
        (tmp_path / "text.mp4").write_text("hello\n" * 100)
        with pytest.raises(InputError, match="the file is empty"):
            VideoSource(tmp_path / "empty.mp4")
        with pytest.raises(InputError, match="not a readable video"):
            VideoSource(tmp_path / "text.mp4")
        with pytest.raises(InputError, match="no such file"):
            VideoSource(tmp_path / "missing.mp4")
        with pytest.raises(InputError, match="it is a folder"):
            VideoSource(tmp_path)


class TestSideBySide:
    def test_split_real_stereo_pair(self, tmp_path: Path, shared_data: Path) -> None:
        left = read_rgb(shared_data / ODOMETRY / "image_0" / "000000.png")[:, :1240]
        right = read_rgb(shared_data / ODOMETRY / "image_1" / "000000.png")[:, :1240]
        pair = cv2.cvtColor(np.concatenate([left, right], axis=1), cv2.COLOR_RGB2BGR)
        path = write_video(tmp_path / "sbs.avi", [pair, pair], "MJPG")
        with VideoSource(path, side_by_side=True) as video:
            assert video.frame_size == (2480, 376) and video.view_size == (1240, 376)
            got_left, got_right = video.read_pair(1)
            assert got_left.shape == got_right.shape == (376, 1240, 3)
            assert got_left.flags.c_contiguous and got_right.flags.c_contiguous
            assert np.abs(got_left.astype(int) - left).mean() < 6
            assert np.abs(got_right.astype(int) - right).mean() < 6
            assert np.abs(got_left.astype(int) - right).mean() > 10  # the halves are not swapped

    def test_odd_width_is_refused(self, tmp_path: Path) -> None:
        path = write_video(tmp_path / "odd.avi", [coded_frame(0, 65, 48)], "MJPG", api=cv2.CAP_OPENCV_MJPEG)
        with pytest.raises(InputError, match="even width .* 65 pixels wide"):
            VideoSource(path, side_by_side=True)

    def test_read_pair_needs_side_by_side(self, long_video) -> None:
        with VideoSource(long_video[0]) as video, pytest.raises(ValueError):
            video.read_pair(0)


def test_concurrent_reads(long_video) -> None:
    path, reference = long_video
    video = VideoSource(path, cache_bytes=5 * FRAME_BYTES)
    failures: list[str] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(40):
            index = rng.randrange(300)
            if not np.array_equal(video.read(index), reference[index]):
                failures.append(f"frame {index}")

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(3)]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        assert len(video) == 300 and video.cached_bytes <= 5 * FRAME_BYTES
    for thread in threads:
        thread.join()
    video.close()
    assert not failures
