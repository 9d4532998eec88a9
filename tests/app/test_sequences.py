"""The app on a monocular sequence: Monodepth2's maps, the pose-scale warning, the depth cost inspector."""

from __future__ import annotations

import numpy as np

from tests.app.conftest import wait_for_frame


def test_odometry_sequence_shows_the_monocular_maps(qtbot, window, shared_data):
    assert window.open_path(shared_data / "kitti_odometry_00_seq")
    assert window.mode == "sequence"
    wait_for_frame(qtbot, window, 0, timeout=120_000)
    keys = window.grid.layout_keys()
    assert keys[:5] == ["target", "depth", "recon_previous", "min_reprojection", "automask"]
    assert window.grid.cell("target").data.shape == (376, 1241, 3)
    depth = window.grid.cell("depth").data
    assert 5 < np.nanmedian(depth) < 30
    automask = window.grid.cell("automask").data
    assert set(np.unique(automask[np.isfinite(automask)])) <= {0.0, 1.0} and 0.5 < np.nanmean(automask) < 1.0
    assert window.grid.cell("recon_previous").data is None  # frame 0 has no previous frame
    cell = window.grid.cell("recon_previous")
    cell.content.setCurrentIndex(cell.content.findData("recon_next"))
    assert cell.data.shape == (376, 1241, 3) and np.isfinite(cell.data).mean() > 0.5
    # The shared poses file is ~0.77x the images' motion: the window says so.
    assert window.info_banner.isVisible() and "best translation scale" in window.info_banner.text()
    assert "poses file" in window.statusBar().currentMessage()
    assert window.point_cloud.point_count > 10_000


def test_estimated_poses_clear_the_warning_and_the_depth_inspector_works(qtbot, window, shared_data):
    window.open_path(shared_data / "kitti_odometry_00_seq")
    wait_for_frame(qtbot, window, 0, timeout=120_000)
    window.set_sequence_options("auto", "estimated")
    qtbot.waitUntil(lambda: window.current is not None and window.current.result.pose_scale is not None
                    and abs(window.current.result.pose_scale - 1) < 0.05, timeout=120_000)
    assert not window.info_banner.isVisible()
    depth = window.current.result.depth.depth_m
    ys, xs = np.nonzero(np.isfinite(depth[150:250, 400:800]))
    x, y = int(xs[0]) + 400, int(ys[0]) + 150
    window.grid.cell("depth").clicked.emit(x + 0.5, y + 0.5)
    qtbot.waitUntil(lambda: window.inspector.curve is not None, timeout=30_000)
    text = window.inspector.text
    assert f"pixel ({x}, {y})" in text and " m" in text and "photometric minimum" in text
    assert set(window.inspector.curve.per_source) == {"next", "stereo"}


def test_point_clouds_of_several_frames_accumulate_with_the_poses(qtbot, window, shared_data):
    # EuRoC: every frame has a rectified stereo partner (fast depth) and a ground-truth pose.
    window.open_path(shared_data / "euroc_V1_01_easy_micro")
    wait_for_frame(qtbot, window, 0, timeout=120_000)
    window.timeline.set_index(1)
    wait_for_frame(qtbot, window, 1, timeout=120_000)
    view = window.point_cloud
    single = view._cloud[0].shape[0]
    view.accumulate.setValue(1)
    merged, _ = view._cloud
    frame0 = window.cache.get(window._cache_key(0))
    depth0 = frame0.points_m[:, 2]
    in_range = ((depth0 >= view.min_depth.value()) & (depth0 < view.max_depth.value())).sum()
    assert merged.shape[0] == single + in_range
    # Frame 0's points, moved into frame 1's camera with the poses, land where frame 1 sees the scene:
    # the two clouds' medians agree within a few centimetres (the MAV barely moves in 50 ms).
    moved = merged[single:]
    assert np.linalg.norm(np.median(moved, axis=0) - np.median(merged[:single], axis=0)) < 0.1


def test_both_bundled_samples_are_offered(qtbot, window):
    file_menu = window.menuBar().actions()[0].menu()
    samples = next(a.menu() for a in file_menu.actions() if a.text() == "Open &sample")
    names = [a.text() for a in samples.actions()]
    assert names == ["KITTI 2015 stereo pair", "KITTI odometry sequence (6 frames, poses)"]
    samples.actions()[1].trigger()
    assert window.mode == "sequence" and len(window.source) == 6


def test_a_video_opened_with_its_poses_and_intrinsics(qtbot, window, shared_data, tmp_path):
    import cv2

    from depthviewer.app.open_dialog import OpenSequenceDialog

    odometry = shared_data / "kitti_odometry_00_seq"
    video = tmp_path / "drive.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (1241, 376))
    for i in range(3):
        writer.write(cv2.imread(str(odometry / "image_0" / f"{i:06d}.png")))
    writer.release()
    dialog = OpenSequenceDialog(window)
    qtbot.addWidget(dialog)
    dialog.path.setText(str(video))
    dialog.poses.setText(str(odometry / "poses_00_frames000000-000005.txt"))
    dialog.intrinsics.setText(str(odometry / "calib_compiled_seq00.txt"))
    assert window.open_path(dialog.path.text(), **dialog.arguments())
    assert window.mode == "sequence" and window.source.has_poses and len(window.source) == 3
    assert "video" in window.windowTitle() and "3 frames, 10.00 fps" in window.windowTitle()
    assert window.timeline.fps.value() == 10.0  # playback follows the video's rate
