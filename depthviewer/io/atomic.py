"""Write a file so that readers see either the old content or the complete new one, never half of it."""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from depthviewer.errors import InputError

# O_BINARY exists only on Windows; without it a b"\n" would be written as b"\r\n" there.
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


# Out of space, or out of the user's quota: both mean the same to the user.
_DISK_FULL = frozenset(code for code in (errno.ENOSPC, getattr(errno, "EDQUOT", None)) if code is not None)


def _reason(exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    return f"the disk is full ({reason})" if exc.errno in _DISK_FULL else reason


def _create_temp(path: Path) -> tuple[int, Path]:
    """Create an empty temp file beside `path`.

    os.open with mode 0o666 lets the OS apply the umask, so the final file gets the same permissions as one
    made by a plain open(); tempfile.mkstemp would leave it readable by its owner only.
    """
    for _ in range(16):
        temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(temp, _OPEN_FLAGS, 0o666), temp
        except FileExistsError:
            continue
    raise InputError("cannot create a temporary file beside it (name collisions)", path)


@contextmanager
def atomic_write(path: str | Path) -> Iterator[BinaryIO]:
    """Yield a binary file object whose content replaces `path` only when the block ends without an error.

    The data goes to a temp file in the same folder (so the final rename stays on one file system), is
    flushed and fsynced, then `os.replace`d over `path`. On any exception the temp file is removed and
    `path` is left as it was. Problems with the destination (missing or read-only folder, `path` is a
    folder, disk full: any OSError, also one raised by a write inside the block) raise InputError naming
    `path`; other exceptions raised inside the block propagate as they are.
    """
    path = Path(path)
    folder = path.parent
    if path.is_dir():
        raise InputError("cannot write a file here: it is a folder", path)
    if not folder.is_dir():
        raise InputError(f"cannot write a file here: the folder {folder} does not exist", path)
    try:
        fd, temp = _create_temp(path)
    except OSError as exc:
        raise InputError(f"cannot write in folder {folder}: {_reason(exc)}", path) from exc

    try:
        handle = os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        _remove(temp)
        raise

    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        # A write that fails (disk full, quota) is a problem of the destination, not a bug.
        _remove(temp)
        raise InputError(f"cannot write the file: {_reason(exc)}", path) from exc
    except BaseException:
        _remove(temp)
        raise

    try:
        os.replace(temp, path)
    except OSError as exc:
        _remove(temp)
        raise InputError(f"cannot replace the file: {_reason(exc)}", path) from exc


def _remove(temp: Path) -> None:
    with suppress(OSError):
        os.unlink(temp)
