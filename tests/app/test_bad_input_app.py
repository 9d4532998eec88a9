"""The bad-input corpus through the app: each broken input is opened in the window; the window must say what is
wrong, naming the file, and then open and compute the bundled sample as if nothing had happened."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.app.conftest import SAMPLE, wait_for_frame
from tests.test_bad_input import CASES, Ctx

# The CLI cases that are about opening or reading a path (not about CLI options or output folders).
APP_CASES = [case for case in CASES if case.expected == 2 and case.id not in {
    "export-folder-read-only", "export-folder-is-a-file", "disk-full-during-export", "bad-frames-option",
    "unknown-backend", "bad-backend-parameter"}]


def _open_arguments(argv: list[str]) -> tuple[str, dict] | None:
    """The path and the sequence options of a CLI call; None for calls the app has no equivalent of."""
    if argv[0] not in ("info", "eval", "export") or any(a in argv for a in ("--calib", "--focal-px", "--set",
                                                                             "--backend", "--out")):
        return None
    options, rest = {}, argv[2:]
    for flag, key in (("--poses", "poses"), ("--intrinsics", "intrinsics")):
        if flag in rest:
            options[key] = rest[rest.index(flag) + 1]
    return argv[1], options


@pytest.fixture
def ctx(tmp_path, kitti2015_dir, middlebury_dir, shared_data, monkeypatch):
    return Ctx(tmp_path, kitti2015_dir, middlebury_dir, shared_data, monkeypatch)


@pytest.mark.parametrize("case", APP_CASES, ids=[case.id for case in APP_CASES])
def test_the_app_reports_and_keeps_working(case, ctx, qtbot, window):
    action, named = case.build(ctx)
    if not isinstance(action, list) or (call := _open_arguments(action)) is None:
        pytest.skip("a CLI-only case")
    path, options = call
    opened = window.open_path(path, **options)
    qtbot.waitUntil(lambda: window.error_banner.isVisible(), timeout=120_000)
    text = window.error_banner.text()
    assert Path(str(named)).name in text, f"the message does not name {named}: {text}"
    assert "Traceback" not in text
    if opened:  # the folder opened but its frame failed: the frame is marked, not shown
        assert "(failed)" in window.timeline.label.text()
    assert window.open_path(SAMPLE)
    wait_for_frame(qtbot, window, 0, timeout=120_000)
    assert window.grid.cell("disparity").data is not None and not window.error_banner.isVisible()
