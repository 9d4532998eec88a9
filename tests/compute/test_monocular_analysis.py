"""analyse_monocular: Monodepth2's maps and numbers for a target frame, on a ray-cast scene and on KITTI."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from depthviewer.compute.metrics import depth_metrics
from depthviewer.compute.monocular_analysis import analyse_monocular
from depthviewer.errors import CalibrationError, DepthViewerError
from depthviewer.types import DepthPrediction, MonocularAnalysis, RelativePose, SequenceFrame
from tests.compute.test_temporal import (
    DEVICES,
    default_scene,
    intrinsics,
    load_kitti_sequence,
    pose,
    relative,
    render,
    to_uint8,
)

HEIGHT, WIDTH = 72, 96


@pytest.fixture(scope="module")
def sequence():
    """Three views of the scene (previous, target, next) as MD2 trains on: uint8 images, exact depth and poses."""
    K = intrinsics(HEIGHT, WIDTH, 75.0)
    T_world = {"-1": pose(yaw_deg=-2, t=(-0.3, 0, -0.4)), "0": pose(), "+1": pose(yaw_deg=2, t=(0.3, 0.02, 0.4))}
    views = {name: render(default_scene(), T, K, HEIGHT, WIDTH) for name, T in T_world.items()}
    frame = SequenceFrame(name="t", index=1, image_rgb=to_uint8(views["0"][0]), K=K, T_world_cam=T_world["0"])
    depth = views["0"][1].astype(np.float32)
    sources = [(name, to_uint8(views[name][0]), RelativePose(relative(T_world[name], T_world["0"]), "poses file"))
               for name in ("-1", "+1")]
    return frame, depth, sources


def _prediction(depth_m: np.ndarray, metric: bool = True) -> DepthPrediction:
    return DepthPrediction(depth_m=depth_m.astype(np.float32), backend="test", device="cpu", metric=metric)


@pytest.fixture(scope="module")
def analysis(sequence) -> MonocularAnalysis:
    frame, depth, sources = sequence
    return analyse_monocular(frame, _prediction(depth), sources)


class TestOnARayCastScene:
    def test_maps_have_the_frame_size_and_types(self, analysis):
        assert len(analysis.sources) == 2
        for warp in analysis.sources:
            assert warp.reconstruction_rgb.shape == (HEIGHT, WIDTH, 3) and warp.reconstruction_rgb.dtype == np.float32
            assert warp.valid.dtype == np.bool_
            assert warp.photometric_error.dtype == warp.identity_error.dtype == np.float32
            assert np.isnan(warp.photometric_error[~warp.valid]).all()
        assert analysis.min_reprojection.shape == analysis.automask.shape == (HEIGHT, WIDTH)
        assert analysis.winning_source.dtype == np.int64
        assert analysis.gt_error is None  # the frame has no GT depth

    def test_true_depth_and_poses_explain_the_target(self, analysis):
        m = analysis.metrics
        assert m["photometric_min"] < 0.02
        for warp in analysis.sources:
            valid = warp.valid
            # The warped source is far closer to the target than the unwarped one.
            assert np.nanmean(warp.photometric_error) < 0.5 * np.mean(warp.identity_error[valid])
        assert m["automask_fraction"] > 0.9

    def test_minimum_and_winner_agree_with_the_sources(self, analysis):
        errors = np.stack([w.photometric_error for w in analysis.sources])
        seen = ~np.isnan(errors).all(0)
        np.testing.assert_array_equal(analysis.min_reprojection[seen], np.nanmin(errors[:, seen], 0))
        np.testing.assert_array_equal(analysis.winning_source[~seen], -1)
        winners = analysis.winning_source[seen]
        np.testing.assert_array_equal(np.take_along_axis(errors[:, seen], winners[None], 0)[0],
                                      analysis.min_reprojection[seen])
        # Both sources win somewhere: occlusions and borders differ between the previous and the next view.
        assert set(np.unique(winners)) == {0, 1}

    def test_metrics_are_means_of_the_maps(self, analysis):
        m = analysis.metrics
        assert set(m) == {"photometric_min", "photometric_-1", "photometric_+1", "automask_fraction", "smoothness"}
        keep = analysis.automask
        assert m["photometric_min"] == pytest.approx(float(np.mean(analysis.min_reprojection[keep])), rel=1e-5)
        assert m["photometric_-1"] == pytest.approx(float(np.nanmean(analysis.sources[0].photometric_error)),
                                                    rel=1e-5)
        seen = np.isfinite(analysis.min_reprojection)
        assert m["automask_fraction"] == pytest.approx(keep.sum() / seen.sum())
        assert not keep[~seen].any()
        assert m["smoothness"] > 0

    def test_a_wrong_depth_scores_worse(self, sequence, analysis):
        frame, depth, sources = sequence
        wrong = analyse_monocular(frame, _prediction(depth * 1.6), sources)
        assert wrong.metrics["photometric_min"] > 2 * analysis.metrics["photometric_min"]

    def test_static_sequence_is_masked_half_by_md2_noise(self, sequence):
        # Sources identical to the target with the identity pose: a tie everywhere (reprojection module docstring).
        frame, depth, _ = sequence
        same = [("same", frame.image_rgb, RelativePose(np.eye(4), "poses file"))]
        result = analyse_monocular(frame, _prediction(depth), same)
        assert result.metrics["photometric_min"] == 0.0
        assert 0.4 < result.metrics["automask_fraction"] < 0.6


class TestGroundTruth:
    def _with_gt(self, sequence, gt):
        frame, depth, sources = sequence
        return SequenceFrame(name=frame.name, index=frame.index, image_rgb=frame.image_rgb, K=frame.K,
                             gt_depth_m=gt), depth, sources

    def test_exact_depth_scores_zero(self, sequence):
        frame, depth, sources = self._with_gt(sequence, sequence[1])
        result = analyse_monocular(frame, _prediction(depth), sources[:1])
        assert result.metrics["abs_rel"] == pytest.approx(0.0, abs=1e-6) and result.metrics["a1"] == 100.0
        assert np.nanmax(result.gt_error) < 1e-6

    def test_scaled_depth_median_scaling_and_the_error_map(self, sequence):
        frame, depth, sources = self._with_gt(sequence, sequence[1])
        # A mono network's depth, off by 2x: median scaling (the default for metric=False) removes it ...
        mono = analyse_monocular(frame, _prediction(depth * 2, metric=False), sources[:1])
        assert mono.metrics["scale"] == pytest.approx(0.5) and mono.metrics["abs_rel"] < 1e-6
        # ... and without it abs_rel is |2 gt - gt| / gt = 1 on every pixel.
        raw = analyse_monocular(frame, _prediction(depth * 2, metric=False), sources[:1],
                                eigen={"median_scaling": False})
        assert raw.metrics["abs_rel"] == pytest.approx(1.0, rel=1e-5)
        np.testing.assert_allclose(raw.gt_error[np.isfinite(raw.gt_error)], 1.0, rtol=1e-5)

    def test_gt_error_follows_cap_and_crop(self, sequence):
        rng = np.random.default_rng(0)
        gt = sequence[1] * rng.uniform(0.8, 1.2, sequence[1].shape).astype(np.float32)
        frame, depth, sources = self._with_gt(sequence, gt)
        eigen = {"garg_crop": True, "max_depth": 6.0, "median_scaling": False}
        result = analyse_monocular(frame, _prediction(depth), sources[:1], eigen=eigen)
        expected = depth_metrics(depth, gt, max_depth=6.0, garg_crop=True)
        assert result.metrics["abs_rel"] == pytest.approx(expected["abs_rel"])
        assert float(np.nanmean(result.gt_error)) == pytest.approx(expected["abs_rel"], rel=1e-5)
        assert np.isnan(result.gt_error[:10]).all()  # above the Garg crop
        assert np.isnan(result.gt_error[gt >= 6.0]).all()

    def test_unknown_eigen_option_is_refused(self, sequence):
        frame, depth, sources = self._with_gt(sequence, sequence[1])
        with pytest.raises(ValueError, match="garg"):
            analyse_monocular(frame, _prediction(depth), sources, eigen={"garg": True})


class TestInputs:
    def test_missing_intrinsics(self, sequence):
        frame, depth, sources = sequence
        bare = SequenceFrame(name="t", index=0, image_rgb=frame.image_rgb)
        with pytest.raises(CalibrationError, match="intrinsic"):
            analyse_monocular(bare, _prediction(depth), sources)

    def test_size_mismatch_and_no_source(self, sequence):
        frame, depth, sources = sequence
        with pytest.raises(DepthViewerError):
            analyse_monocular(frame, _prediction(depth[:-1]), sources)
        with pytest.raises(DepthViewerError, match="source"):
            analyse_monocular(frame, _prediction(depth), [])

    @pytest.mark.parametrize("device", DEVICES)
    def test_same_result_on_every_device(self, sequence, device):
        frame, depth, sources = sequence
        here = analyse_monocular(frame, _prediction(depth), sources, device=torch.device(device))
        cpu = analyse_monocular(frame, _prediction(depth), sources)
        for key, value in cpu.metrics.items():
            assert here.metrics[key] == pytest.approx(value, rel=1e-4, abs=1e-6)


def test_kitti_frame_with_stereo_depth(shared_data):
    """Frame 0 with its stereo depth and frames 1, 2 (file poses, rescaled by the measured 0.78): MD2's maps."""
    seq = load_kitti_sequence(shared_data)
    frame = SequenceFrame(name="000000", index=0, image_rgb=seq.frames_rgb[0], K=seq.K,
                          T_world_cam=seq.T_world_cam[0])
    sources = []
    for k in (1, 2):
        T = seq.T_source_target(k, 0)
        T[:3, 3] *= 0.78
        sources.append((f"+{k}", seq.frames_rgb[k], RelativePose(T, "poses file, rescaled")))
    result = analyse_monocular(frame, _prediction(seq.depth0_m), sources)
    m = result.metrics
    assert m["photometric_min"] <= min(m["photometric_+1"], m["photometric_+2"])
    assert m["photometric_+1"] < 0.2
    assert 0.6 < m["automask_fraction"] < 1.0  # the static sky and distant scene are masked
