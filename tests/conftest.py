"""Shared fixtures: the real sample data beside the project root (`../shared/data`)."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
SAMPLE_DATA = PROJECT_ROOT / "sample_data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real sample data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def kitti2015_dir(shared_data: Path) -> Path:
    return shared_data / "kitti2015_stereo"


@pytest.fixture(scope="session")
def middlebury_dir(shared_data: Path) -> Path:
    return shared_data / "middlebury2014_motorcycle_Q"
