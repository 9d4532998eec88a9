"""Frame-exact random access to a video file (OpenCV's FFmpeg backend) with a byte-bounded cache of decoded frames.

Why not just `CAP_PROP_POS_FRAMES`: on some codecs a seek lands on the keyframe before the target, and container
headers may declare more frames than a damaged file holds. So every seek is verified by reading the position
back, the frame is reached by decoding forward from a position that is known, and the frame count is corrected
the first time a read runs into the real end.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

from depthviewer.errors import InputError

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".avi", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".wmv"})
DEFAULT_CACHE_BYTES = 512 * 2**20

# Decoding a few frames forward is cheaper than a seek, which decodes from a keyframe anyway.
_FORWARD_DECODE_LIMIT = 32
# Some decoders return an odd-sized frame a row or column short of the size the container declares.
_SIZE_TOLERANCE_PX = 2


class FrameCache:
    """Least-recently-used store of decoded frames whose total size never exceeds `budget_bytes`.

    A frame larger than the whole budget is not stored. Stored arrays are made read-only.
    """

    def __init__(self, budget_bytes: int) -> None:
        self._frames: OrderedDict[int, np.ndarray] = OrderedDict()
        self._nbytes = 0
        self._budget = 0
        self.budget_bytes = budget_bytes

    @property
    def budget_bytes(self) -> int:
        return self._budget

    @budget_bytes.setter
    def budget_bytes(self, value: int) -> None:
        if value < 0:
            raise ValueError(f"cache budget must be >= 0 bytes, got {value}")
        self._budget = int(value)
        self._evict(0)

    @property
    def nbytes(self) -> int:
        """Bytes held now (sum of the stored arrays' nbytes)."""
        return self._nbytes

    def __len__(self) -> int:
        return len(self._frames)

    def __contains__(self, key: int) -> bool:
        return key in self._frames

    def get(self, key: int) -> np.ndarray | None:
        frame = self._frames.get(key)
        if frame is not None:
            self._frames.move_to_end(key)
        return frame

    def put(self, key: int, frame: np.ndarray) -> None:
        if key in self._frames:
            self._nbytes -= self._frames.pop(key).nbytes
        if frame.nbytes > self._budget:
            return
        self._evict(frame.nbytes)
        frame.setflags(write=False)
        self._frames[key] = frame
        self._nbytes += frame.nbytes

    def clear(self) -> None:
        self._frames.clear()
        self._nbytes = 0

    def _evict(self, incoming: int) -> None:
        while self._frames and self._nbytes + incoming > self._budget:
            _, old = self._frames.popitem(last=False)
            self._nbytes -= old.nbytes


def _fourcc(value: float) -> str:
    code = int(value) if math.isfinite(value) and value > 0 else 0
    text = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))
    return text.strip() if code and text.isprintable() else ""


def fit_to_size(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """Crop or pad (replicating the last row/column) an (h, w, C) frame to (height, width, C)."""
    frame = frame[:height, :width]
    pad_h, pad_w = height - frame.shape[0], width - frame.shape[1]
    if pad_h or pad_w:
        frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return frame


class VideoSource:
    """The frames of one video file as (H, W, 3) uint8 RGB, by index, in any order.

    Thread-safe: one lock guards the capture and the cache, so a worker may read frames while the GUI asks for
    the frame count. `frame_count` may shrink once: when a read shows the file holds fewer frames than its
    header declares (a truncated download), that read raises InputError and the count becomes the real one.
    With `side_by_side=True` each frame is a left|right stereo pair split at half width (`read_pair`).
    """

    def __init__(self, path: str | Path, *, side_by_side: bool = False,
                 cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.path = Path(path)
        self.side_by_side = side_by_side
        self._lock = threading.RLock()
        self._cache = FrameCache(cache_bytes)
        self._cap: cv2.VideoCapture | None = None
        self._next: int | None = None  # index of the frame the next cap.read() returns, when known
        self._end: int | None = None  # first index known not to decode
        self._checkpoints = [0]  # indices where a seek was verified to land exactly
        self.seeks = 0  # count of seeks issued, for tests and diagnostics

        if self.path.is_dir():
            raise InputError("not a readable video (it is a folder)", self.path)
        if not self.path.exists():
            raise InputError("not a readable video (no such file)", self.path)
        if self.path.stat().st_size == 0:
            raise InputError("not a readable video (the file is empty)", self.path)
        cap = self._open()
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps: float | None = float(fps) if math.isfinite(fps) and fps > 0 else None
        self.codec = _fourcc(cap.get(cv2.CAP_PROP_FOURCC))
        declared = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self.declared_frame_count = int(round(declared)) if math.isfinite(declared) and declared > 0 else 0
        if self.declared_frame_count == 0:
            self.declared_frame_count = self._count_by_decoding()
        if self.declared_frame_count == 0:
            self.close()
            raise InputError("the video has no frames", self.path)
        self._height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self._width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self._adopt_size_of_first_frame()
        if side_by_side and self._width % 2:
            self.close()
            raise InputError(f"a side-by-side stereo video needs an even width to split into left|right "
                             f"halves; this one is {self._width} pixels wide", self.path)

    # --- public --------------------------------------------------------------------------------------------

    # The counts are read without the lock: the GUI asks for them while a worker may hold the lock for a long
    # decode, and reading one attribute is atomic.

    @property
    def frame_count(self) -> int:
        """Frames that can be read: the declared count until a read finds the real end, then that end."""
        end = self._end
        return end if end is not None else self.declared_frame_count

    def __len__(self) -> int:
        return self.frame_count

    @property
    def truncated(self) -> bool:
        """True once a read has shown that the file holds fewer frames than it declares."""
        end = self._end
        return end is not None and end < self.declared_frame_count

    @property
    def frame_size(self) -> tuple[int, int]:
        """(width, height) of a decoded frame; with side_by_side, of both halves together."""
        return self._width, self._height

    @property
    def view_size(self) -> tuple[int, int]:
        """(width, height) of one served view: the left half with side_by_side, else the whole frame."""
        return (self._width // 2 if self.side_by_side else self._width), self._height

    @property
    def cache_bytes(self) -> int:
        """The cache's byte budget; setting it evicts least-recently-used frames down to the new budget."""
        return self._cache.budget_bytes

    @cache_bytes.setter
    def cache_bytes(self, value: int) -> None:
        with self._lock:
            self._cache.budget_bytes = value

    @property
    def cached_bytes(self) -> int:
        return self._cache.nbytes

    def timestamp_s(self, index: int) -> float | None:
        """index / fps (None when the container gives no frame rate)."""
        return index / self.fps if self.fps else None

    def read(self, index: int) -> np.ndarray:
        """Frame `index` as (H, W, 3) uint8 RGB (a fresh copy: the caller may modify it).

        IndexError outside 0..declared count - 1; InputError for a frame the file does not really hold.
        """
        with self._lock:
            return self._frame(index).copy()

    def read_pair(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(left, right) halves of a side-by-side frame, each (H, W/2, 3) uint8 RGB."""
        if not self.side_by_side:
            raise ValueError("read_pair needs a VideoSource opened with side_by_side=True")
        with self._lock:
            frame = self._frame(index)
        half = self._width // 2
        return np.ascontiguousarray(frame[:, :half]), np.ascontiguousarray(frame[:, half:])

    def close(self) -> None:
        with self._lock:
            if self._cap is not None:
                self._cap.release()
                self._cap = None
            self._cache.clear()
            self._next = None

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- capture -------------------------------------------------------------------------------------------

    def _open(self) -> cv2.VideoCapture:
        if self._cap is not None:
            self._cap.release()
        cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            self._cap = None
            raise InputError("not a readable video: OpenCV's FFmpeg backend cannot open it (unknown format or "
                             "codec, or a damaged file, e.g. an MP4 cut off before its index)", self.path)
        self._cap = cap
        self._next = 0
        return cap

    def _capture(self) -> cv2.VideoCapture:
        if self._cap is None:
            raise ValueError(f"the video {self.path} is closed")
        return self._cap

    def _count_by_decoding(self) -> int:
        """Frame count of a container that does not declare one: grab every frame once, then rewind."""
        cap = self._capture()
        count = 0
        while cap.grab():
            count += 1
        self._open()
        return count

    def _adopt_size_of_first_frame(self) -> None:
        ok, bgr = self._capture().read()
        if not ok or bgr is None:
            self.close()
            raise InputError("no frame of the video can be decoded (damaged file, or a codec this OpenCV build "
                             "lacks)", self.path)
        self._next = 1
        h, w = bgr.shape[:2]
        near = abs(h - self._height) <= _SIZE_TOLERANCE_PX and abs(w - self._width) <= _SIZE_TOLERANCE_PX
        if not near:
            # The header is wrong (or describes the stream before rotation metadata is applied): trust the pixels.
            self._height, self._width = h, w
        self._cache.put(0, self._to_rgb(bgr, 0))

    def _rewind(self) -> int:
        self._open()
        return 0

    def _seek(self, target: int) -> int | None:
        """Seek, then ask where it landed: the index the next read returns, or None when that is unknown."""
        cap = self._capture()
        self.seeks += 1
        cap.set(cv2.CAP_PROP_POS_FRAMES, float(target))
        pos = cap.get(cv2.CAP_PROP_POS_FRAMES)
        self._next = None
        if not math.isfinite(pos) or pos != int(pos) or not 0 <= pos <= target:
            return None
        landed = int(pos)
        self._next = landed
        if landed == target and target not in self._checkpoints:
            bisect.insort(self._checkpoints, target)
        return landed

    def _start_for(self, index: int, may_seek: bool) -> tuple[int, bool]:
        """Put the capture at a known position <= index; (that position, whether it came from a seek)."""
        if self._next is not None and self._next <= index and (not may_seek
                                                               or index - self._next <= _FORWARD_DECODE_LIMIT):
            return self._next, False
        if may_seek:
            landed = self._seek(index)
            if landed is not None:
                return landed, True
            checkpoint = self._checkpoints[bisect.bisect_right(self._checkpoints, index) - 1]
            if checkpoint > 0 and self._seek(checkpoint) == checkpoint:
                return checkpoint, True
        return self._rewind(), False

    def _decode_at(self, index: int, may_seek: bool) -> np.ndarray | None:
        """Decode frame `index`, or None when the file ends before it (then `_end` is set if that is certain)."""
        start, seeked = self._start_for(index, may_seek)
        cap = self._capture()  # after _start_for: a rewind replaces the capture
        for position in range(start, index):
            if not cap.grab():
                return self._ran_out(position, seeked)
        ok, bgr = cap.read()
        if not ok or bgr is None:
            return self._ran_out(index, seeked)
        self._next = index + 1
        return self._to_rgb(bgr, index)

    def _ran_out(self, position: int, seeked: bool) -> None:
        self._next = None
        # After a seek a failed read may be the seek's fault; only a sequential decode proves where the end is.
        if not seeked:
            self._end = position if self._end is None else min(self._end, position)

    def _frame(self, index: int) -> np.ndarray:
        """The decoded frame (read-only, possibly the cached array itself); call with the lock held."""
        if not 0 <= index < self.declared_frame_count:
            raise IndexError(f"frame index {index} out of range 0..{self.declared_frame_count - 1}")
        if self._end is not None and index >= self._end:
            raise self._past_end(index)
        frame = self._cache.get(index)
        if frame is not None:
            return frame
        frame = self._decode_at(index, may_seek=True)
        if frame is None and self._end is None:
            frame = self._decode_at(index, may_seek=False)
        if frame is None:
            raise self._past_end(index)
        self._cache.put(index, frame)
        return frame

    def _past_end(self, index: int) -> InputError:
        return InputError(f"frame {index} cannot be decoded: only frames 0..{self._end - 1} of the video decode "
                          f"although its header declares {self.declared_frame_count}; the file may be truncated",
                          self.path)

    def _to_rgb(self, image: np.ndarray, index: int) -> np.ndarray:
        if image.ndim == 2:
            rgb = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
        elif image.shape[2] == 4:
            rgb = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
        else:
            rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        h, w = rgb.shape[:2]
        if (h, w) != (self._height, self._width):
            if abs(h - self._height) > _SIZE_TOLERANCE_PX or abs(w - self._width) > _SIZE_TOLERANCE_PX:
                raise InputError(f"frame {index} is {w}x{h} but the video's frames are "
                                 f"{self._width}x{self._height}", self.path)
            rgb = fit_to_size(rgb, self._height, self._width)
        return np.ascontiguousarray(rgb)
