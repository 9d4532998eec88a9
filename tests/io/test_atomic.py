"""Tests for atomic_write: complete files or none, and clear errors for unusable destinations."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

import pytest

from depthviewer.errors import InputError
from depthviewer.io import atomic
from depthviewer.io.atomic import atomic_write


def _entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


class TestAtomicWrite:
    def test_writes_new_file_and_leaves_no_temp(self, tmp_path: Path) -> None:
        target = tmp_path / "out.bin"
        with atomic_write(target) as handle:
            handle.write(b"abc")
            handle.write(b"def")
        assert target.read_bytes() == b"abcdef"
        assert _entries(tmp_path) == ["out.bin"]

    def test_accepts_str_path(self, tmp_path: Path) -> None:
        with atomic_write(str(tmp_path / "s.bin")) as handle:
            handle.write(b"x")
        assert (tmp_path / "s.bin").read_bytes() == b"x"

    def test_temp_file_is_in_the_same_folder_until_the_end(self, tmp_path: Path) -> None:
        target = tmp_path / "out.bin"
        target.write_bytes(b"old")
        with atomic_write(target) as handle:
            handle.write(b"new")
            handle.flush()
            # Mid-write, the old content is still what readers see; the new data is in a hidden sibling.
            assert target.read_bytes() == b"old"
            temps = [p for p in tmp_path.iterdir() if p.name != "out.bin"]
            assert len(temps) == 1 and temps[0].name.startswith(".out.bin.")
        assert target.read_bytes() == b"new"
        assert _entries(tmp_path) == ["out.bin"]

    def test_exception_keeps_old_content_and_removes_temp(self, tmp_path: Path) -> None:
        target = tmp_path / "out.bin"
        target.write_bytes(b"old")
        with pytest.raises(RuntimeError, match="boom"):
            with atomic_write(target) as handle:
                handle.write(b"half")
                raise RuntimeError("boom")
        assert target.read_bytes() == b"old"
        assert _entries(tmp_path) == ["out.bin"]

    def test_exception_on_new_file_creates_nothing(self, tmp_path: Path) -> None:
        with pytest.raises(KeyboardInterrupt):
            with atomic_write(tmp_path / "new.bin") as handle:
                handle.write(b"half")
                raise KeyboardInterrupt
        assert _entries(tmp_path) == []

    def test_data_is_fsynced_before_the_rename(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        calls: list[str] = []
        real_fsync, real_replace = os.fsync, os.replace
        monkeypatch.setattr(atomic.os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
        monkeypatch.setattr(atomic.os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b))[1])
        with atomic_write(tmp_path / "out.bin") as handle:
            handle.write(b"x")
        assert calls == ["fsync", "replace"]

    def test_write_error_becomes_input_error_and_removes_temp(self, tmp_path: Path) -> None:
        target = tmp_path / "full.bin"
        with pytest.raises(InputError) as info:
            with atomic_write(target):
                raise OSError(errno.ENOSPC, "No space left on device")
        assert str(target) in str(info.value)
        assert "No space left" in str(info.value)
        assert _entries(tmp_path) == []

    @pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
    def test_new_file_gets_umask_permissions_not_private_temp_ones(self, tmp_path: Path) -> None:
        old = os.umask(0o022)
        try:
            with atomic_write(tmp_path / "perm.bin") as handle:
                handle.write(b"x")
        finally:
            os.umask(old)
        assert (tmp_path / "perm.bin").stat().st_mode & 0o777 == 0o644

    def test_missing_folder(self, tmp_path: Path) -> None:
        target = tmp_path / "nope" / "out.bin"
        with pytest.raises(InputError) as info:
            with atomic_write(target):
                pass
        assert str(target) in str(info.value)
        assert "does not exist" in str(info.value)

    def test_target_is_a_folder(self, tmp_path: Path) -> None:
        (tmp_path / "dir").mkdir()
        with pytest.raises(InputError, match="folder") as info:
            with atomic_write(tmp_path / "dir"):
                pass
        assert info.value.path == tmp_path / "dir"

    def test_unwritable_folder_reported_with_reason(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        # Simulated: tests may run as root, for whom a chmod'ed folder is still writable.
        def refuse(*args: object, **kwargs: object) -> int:
            raise PermissionError(errno.EACCES, "Permission denied")

        monkeypatch.setattr(atomic.os, "open", refuse)
        target = tmp_path / "out.bin"
        with pytest.raises(InputError) as info:
            with atomic_write(target):
                pass
        assert str(target) in str(info.value)
        assert "Permission denied" in str(info.value)

    @pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root ignores folder permissions")
    def test_read_only_folder(self, tmp_path: Path) -> None:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
        try:
            with pytest.raises(InputError) as info:
                with atomic_write(folder / "out.bin"):
                    pass
            assert str(folder / "out.bin") in str(info.value)
        finally:
            folder.chmod(0o755)
