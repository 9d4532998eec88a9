"""Plane-sweep backend: the protocol, a ray-cast scene with exact depth, and KITTI odometry against stereo depth.

The KITTI case runs at half size (images 2x2-averaged, K halved with the pixel-centre shift) to stay near 10 s
per sweep on two CPU cores.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from depthviewer.backends.base import MultiViewBackend
from depthviewer.backends.plane_sweep import PlaneSweepBackend, PlaneSweepParams, _PeTarget
from depthviewer.compute.losses import photometric_error_map
from depthviewer.compute.metrics import depth_metrics
from depthviewer.compute.temporal import warp_frame_depth
from depthviewer.errors import BackendError
from tests.compute.test_temporal import (
    DEVICES,
    Plane,
    default_scene,
    intrinsics,
    kitti_pnp_poses,
    load_kitti_sequence,
    pose,
    relative,
    render,
    to_uint8,
)

torch.set_num_threads(2)

HEIGHT, WIDTH = 96, 128
KITTI_SOURCES = (1, 5)


@pytest.fixture(scope="module")
def views():
    """Target and two sources beside it: uint8 images, the target's exact depth, K, and the source poses."""
    K = intrinsics(HEIGHT, WIDTH, 100.0)
    T_world = [pose(), pose(yaw_deg=-2, t=(-0.4, 0, 0.3)), pose(yaw_deg=2, t=(0.4, 0.05, 0.3))]
    renders = [render(default_scene(), T, K, HEIGHT, WIDTH) for T in T_world]
    sources = [(to_uint8(renders[k][0]), relative(T_world[k], T_world[0])) for k in (1, 2)]
    return to_uint8(renders[0][0]), renders[0][1], K, sources


class TestProtocolAndParameters:
    def test_follows_the_multi_view_protocol(self):
        backend = PlaneSweepBackend(device="cpu")
        assert isinstance(backend, MultiViewBackend)
        assert (backend.name, backend.kind, backend.device) == ("plane-sweep", "multi-view", "cpu")

    def test_defaults(self):
        p = PlaneSweepParams()
        assert (p.num_planes, p.min_depth_m, p.max_depth_m, p.cost, p.aggregation) == (128, 1.0, 80.0, "pe", "min")

    def test_planes_are_even_in_inverse_depth(self):
        inv = PlaneSweepBackend(device="cpu", num_planes=5, min_depth_m=2.0, max_depth_m=10.0).inverse_depths()
        np.testing.assert_allclose(inv, [0.5, 0.4, 0.3, 0.2, 0.1])

    @pytest.mark.parametrize("bad", [{"num_planes": 2}, {"min_depth_m": 0.0}, {"max_depth_m": 0.5},
                                     {"cost": "census"}, {"aggregation": "median"}, {"uniqueness": 1.0},
                                     {"filter_radius": -1}, {"planes": 10}])
    def test_bad_parameters_are_refused(self, bad):
        with pytest.raises(BackendError):
            PlaneSweepBackend(device="cpu", **bad)

    def test_bad_inputs_are_refused(self, views):
        target, _, K, sources = views
        backend = PlaneSweepBackend(device="cpu")
        with pytest.raises(BackendError, match="source"):
            backend.predict_depth_multiview(target, [], K)
        with pytest.raises(ValueError, match="source 0"):
            backend.predict_depth_multiview(target, [(target[:-1], np.eye(4))], K)


class TestOnARayCastScene:
    @pytest.mark.parametrize("device", DEVICES)
    def test_depth_matches_the_exact_depth(self, views, device):
        target, depth, K, sources = views
        backend = PlaneSweepBackend(device=device, num_planes=64, min_depth_m=2.0, max_depth_m=20.0)
        prediction = backend.predict_depth_multiview(target, sources, K)
        assert prediction.depth_m.shape == (HEIGHT, WIDTH) and prediction.depth_m.dtype == np.float32
        assert prediction.metric and prediction.backend == "plane-sweep"
        m = depth_metrics(prediction.depth_m, depth)
        assert m["abs_rel"] < 0.04 and m["a1"] > 97.0
        assert np.isfinite(prediction.depth_m).mean() > 0.75
        confidence = prediction.confidence
        assert confidence.shape == (HEIGHT, WIDTH) and 0 <= confidence.min() and confidence.max() <= 1
        assert (confidence[np.isnan(prediction.depth_m)] == 0).all()

    @pytest.mark.parametrize("aggregation,cost", [("mean", "pe"), ("min", "zncc")])
    def test_other_costs_and_aggregations_work_too(self, views, aggregation, cost):
        target, depth, K, sources = views
        backend = PlaneSweepBackend(device="cpu", num_planes=64, min_depth_m=2.0, max_depth_m=20.0,
                                    aggregation=aggregation, cost=cost)
        m = depth_metrics(backend.predict_depth_multiview(target, sources, K).depth_m, depth)
        assert m["abs_rel"] < 0.06

    def test_parabola_refines_between_planes(self):
        # A wall at 8 m, exactly halfway (in inverse depth) between two of 16 planes from 2 to 20 m.
        K = intrinsics(HEIGHT, WIDTH, 100.0)
        wall = [Plane((0, 0, 8), (1, 0, 0), (0, 1, 0), texel_m=0.1, seed=5)]
        T_world = [pose(), pose(t=(-0.5, 0, 0)), pose(t=(0.5, 0, 0))]
        images = [to_uint8(render(wall, T, K, HEIGHT, WIDTH)[0]) for T in T_world]
        backend = PlaneSweepBackend(device="cpu", num_planes=16, min_depth_m=2.0, max_depth_m=20.0,
                                    uniqueness=0.0)
        inv = backend.inverse_depths()
        assert np.min(np.abs(inv - 1 / 8)) == pytest.approx((inv[0] - inv[1]) / 2)
        depth = backend.predict_depth_multiview(images[0], [(images[k], relative(T_world[k], T_world[0]))
                                                            for k in (1, 2)], K).depth_m
        # The nearest plane is 12% off; the parabola brings the median within 2%.
        assert abs(np.nanmedian(depth) / 8 - 1) < 0.02

    def test_photometric_cost_is_monodepth2s(self, views):
        target, _, _, sources = views
        t = torch.from_numpy(target).permute(2, 0, 1)[None].float() / 255
        warped = torch.from_numpy(np.stack([s for s, _ in sources])).permute(0, 3, 1, 2).float() / 255
        expected = photometric_error_map(t.expand(2, -1, -1, -1), warped, alpha=0.7)
        torch.testing.assert_close(_PeTarget(t, alpha=0.7).cost(warped), expected, rtol=0, atol=1e-6)

    def test_pixels_no_source_sees_are_nan(self, views):
        # One source, 0.5 m to the right: the target's left strip is outside it at the true depth.
        target, depth, K, _ = views
        T_source_target = relative(pose(t=(0.5, 0, 0)), pose())
        source = to_uint8(render(default_scene(), pose(t=(0.5, 0, 0)), K, HEIGHT, WIDTH)[0])
        prediction = PlaneSweepBackend(device="cpu", num_planes=64, min_depth_m=2.0, max_depth_m=20.0
                                       ).predict_depth_multiview(target, [(source, T_source_target)], K)
        _, seen = warp_frame_depth(torch.zeros(1, 1, HEIGHT, WIDTH, dtype=torch.float64),
                                   torch.from_numpy(depth)[None, None], torch.from_numpy(T_source_target)[None],
                                   torch.from_numpy(K)[None])
        unseen = ~seen[0, 0].numpy()
        assert unseen.sum() > 300
        assert np.isnan(prediction.depth_m[unseen]).mean() > 0.95


def _half(image: np.ndarray) -> np.ndarray:
    """2x2 block mean: pixel (u', v') of the result covers (2u', 2v')..(2u'+1, 2v'+1), centre (2u'+0.5, 2v'+0.5)."""
    h, w = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
    blocks = image[:h, :w].astype(np.float64).reshape(h // 2, 2, w // 2, 2, *image.shape[2:])
    return blocks.mean(axis=(1, 3))  # a NaN anywhere in a depth block makes the pixel NaN


def _half_K(K: np.ndarray) -> np.ndarray:
    half = K.copy()
    half[:2] /= 2
    half[:2, 2] = (K[:2, 2] - 0.5) / 2
    return half


@pytest.fixture(scope="module")
def kitti_half(shared_data):
    """Half-size KITTI frames, K, the stereo depth of frame 0 on the pixels some source sees, file and PnP poses."""
    seq = load_kitti_sequence(shared_data)
    frames = [np.rint(_half(f)).astype(np.uint8) for f in seq.frames_rgb]
    K = _half_K(seq.K)
    stereo = _half(seq.depth0_m).astype(np.float32)
    pnp = kitti_pnp_poses(shared_data)
    seen = np.zeros(stereo.shape, dtype=bool)
    for k in KITTI_SOURCES:  # seen at the stereo depth with the metric (PnP) poses
        _, valid = warp_frame_depth(torch.zeros(1, 1, *stereo.shape, dtype=torch.float64),
                                    torch.from_numpy(stereo)[None, None], torch.from_numpy(pnp[k])[None],
                                    torch.from_numpy(K)[None])
        seen |= valid[0, 0].numpy()
    file_poses = {k: seq.T_source_target(k, 0) for k in KITTI_SOURCES}
    return frames, K, np.where(seen, stereo, np.nan), file_poses, pnp


def _sweep_against_stereo(kitti_half, which: str) -> tuple[dict[str, float], float]:
    frames, K, stereo, file_poses, pnp = kitti_half
    poses = file_poses if which == "file" else pnp
    prediction = PlaneSweepBackend(device="cpu").predict_depth_multiview(
        frames[0], [(frames[k], poses[k]) for k in KITTI_SOURCES], K)
    density = np.isfinite(prediction.depth_m[np.isfinite(stereo)]).mean()
    return depth_metrics(prediction.depth_m, stereo), float(density)


class TestOnKitti:
    """Frame 0 from frames 1 and 5 against the SGBM stereo depth of frame 0 (no median scaling).

    Measured (half size, defaults): PnP poses abs_rel 0.050, a1 96.5% (density 86% of the seen stereo pixels);
    the file's poses abs_rel 0.42, a1 32%: their translation is 1.28x too long for these images (data README),
    so the depth comes out too far. Frames 1, 3, 5 score the same (0.054, 96.5%) at 1.5x the time.
    """

    def test_with_metric_poses_from_pnp_it_agrees_with_stereo(self, kitti_half):
        metrics, density = _sweep_against_stereo(kitti_half, "pnp")
        assert metrics["abs_rel"] < 0.07 and metrics["a1"] > 94.0
        assert density > 0.75

    def test_with_the_files_poses_the_scale_error_shows(self, kitti_half):
        metrics, _ = _sweep_against_stereo(kitti_half, "file")
        assert metrics["abs_rel"] > 0.25 and metrics["a1"] < 50.0
