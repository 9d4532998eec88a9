"""Runs the soak test on demand: `.venv/bin/python bench/soak.py [SECONDS]` (default 180)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.test_soak import BUDGET_BYTES, soak, write_video  # noqa: E402


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 180.0
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "long.avi"
        write_video(path)
        result = soak(path, seconds)
    print(f"{result['reads']} random and sweeping reads of a 2,000-frame video in {seconds:.0f} s; "
          f"memory growth {result['growth'] / 2**20:.0f} MiB (cache budget {BUDGET_BYTES / 2**20:.0f} MiB), "
          f"file handles {result['fds']:+d}, threads {result['threads']:+d}")


if __name__ == "__main__":
    main()
