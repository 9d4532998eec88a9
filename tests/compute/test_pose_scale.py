"""best_translation_scale: the translation factor the images support, on a ray-cast scene and on KITTI."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from depthviewer.compute.pose_scale import best_translation_scale, refine_parabola
from tests.compute.test_temporal import (
    DEVICES,
    default_scene,
    intrinsics,
    kitti_pnp_poses,
    load_kitti_sequence,
    pose,
    relative,
    render,
    to_uint8,
)

# Coarse enough to keep the KITTI cases at ~13 full-size warps each; the parabola does the rest.
KITTI_SCALES = np.linspace(0.6, 1.2, 13)


class TestRefineParabola:
    def test_exact_parabola_gives_its_vertex(self):
        xs = np.linspace(0, 2, 11)
        assert refine_parabola(xs, (xs - 0.83) ** 2 + 1) == pytest.approx(0.83)

    def test_uneven_spacing(self):
        xs = np.array([0.0, 0.5, 0.7, 1.5, 2.0])
        assert refine_parabola(xs, 3 * (xs - 0.66) ** 2) == pytest.approx(0.66)

    def test_minimum_at_an_end_is_that_end(self):
        xs = np.linspace(0, 1, 5)
        assert refine_parabola(xs, xs) == 0.0
        assert refine_parabola(xs, -xs) == 1.0

    def test_nan_cost_never_wins(self):
        xs = np.linspace(0, 1, 5)
        assert refine_parabola(xs, np.array([np.nan, 0.5, 0.2, 0.5, 0.9])) == pytest.approx(0.5)


@pytest.fixture(scope="module")
def scene():
    height, width = 96, 128
    K = intrinsics(height, width, 100.0)
    T_target, T_source = pose(), pose(yaw_deg=2.0, t=(0.3, 0.0, 0.5))
    target, depth, _ = render(default_scene(), T_target, K, height, width)
    source, _, _ = render(default_scene(), T_source, K, height, width)
    return to_uint8(target), to_uint8(source), depth.astype(np.float32), relative(T_source, T_target), K


class TestOnARayCastScene:
    @pytest.mark.parametrize("device", DEVICES)
    def test_true_pose_scores_best_at_one(self, scene, device):
        target, source, depth, T, K = scene
        best, scales, costs = best_translation_scale(target, source, depth, T, K, device=torch.device(device))
        assert best == pytest.approx(1.0, abs=0.02)  # 1.009: occlusions make the cost curve a little lopsided
        assert scales.shape == costs.shape == (41,) and np.all(np.isfinite(costs))

    def test_a_pose_too_long_by_a_quarter_is_corrected(self, scene):
        target, source, depth, T, K = scene
        too_long = T.copy()
        too_long[:3, 3] *= 1.25
        best, _, _ = best_translation_scale(target, source, depth, too_long, K, device=torch.device("cpu"))
        assert best == pytest.approx(0.8, abs=0.02)

    def test_bad_inputs_are_refused(self, scene):
        target, source, depth, T, K = scene
        with pytest.raises(ValueError, match="increasing"):
            best_translation_scale(target, source, depth, T, K, scales=[1.0, 0.5])
        with pytest.raises(ValueError, match="sizes"):
            best_translation_scale(target, source, depth[:-1], T, K)


class TestOnKitti:
    """The data README's measured caveat: the file's translation is ~0.77x too long for these images."""

    def test_file_pose_wants_about_0_77(self, shared_data):
        seq = load_kitti_sequence(shared_data)
        best, _, costs = best_translation_scale(seq.frames_rgb[0], seq.frames_rgb[1], seq.depth0_m,
                                                seq.T_source_target(1, 0), seq.K, scales=KITTI_SCALES,
                                                device=torch.device("cpu"))
        assert 0.74 < best < 0.80
        assert costs[0] > costs.min() and costs[-1] > costs.min()  # a real minimum inside the range

    def test_pnp_pose_from_stereo_depth_needs_no_rescaling(self, shared_data):
        seq = load_kitti_sequence(shared_data)
        best, _, _ = best_translation_scale(seq.frames_rgb[0], seq.frames_rgb[1], seq.depth0_m,
                                            kitti_pnp_poses(shared_data)[1], seq.K, scales=KITTI_SCALES,
                                            device=torch.device("cpu"))
        assert best == pytest.approx(1.0, abs=0.04)
