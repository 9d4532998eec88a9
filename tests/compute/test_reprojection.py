"""Monodepth2's minimum reprojection and auto-mask: hand-made cases, MD2's rule, and the static camera."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from depthviewer.compute.losses import photometric_error_map
from depthviewer.compute.reprojection import MD2_NOISE_STD, automask, min_reprojection
from depthviewer.compute.temporal import warp_frame_depth
from tests.compute.test_temporal import DEVICES, default_scene, image_tensor, intrinsics, map_tensor, pose, render

NAN = float("nan")


def _px(*values) -> torch.Tensor:
    """One pixel with S values: (1, S, 1, 1)."""
    return torch.tensor(values, dtype=torch.float32).view(1, -1, 1, 1)


class TestMinReprojection:
    def test_hand_made_pixels(self):
        errors = torch.tensor([[[[0.3, 0.2, 0.5, 0.4]], [[0.1, 0.2, 0.6, NAN]], [[0.2, 0.2, 0.7, 0.1]]]])  # (1,3,1,4)
        valid = torch.tensor([[[[True, True, False, True]], [[True, True, False, True]], [[True, True, False, True]]]])
        best, index = min_reprojection(errors, valid)
        assert best.shape == index.shape == (1, 1, 1, 4) and index.dtype == torch.int64
        torch.testing.assert_close(best[0, 0, 0, [0, 1, 3]], torch.tensor([0.1, 0.2, 0.1]))
        # Pixel 1 is a three-way tie: the lowest index wins. Pixel 2 has no valid source. Pixel 3: NaN never wins.
        assert index[0, 0, 0].tolist() == [1, 0, -1, 2]
        assert torch.isnan(best[0, 0, 0, 2])

    def test_invalid_source_never_wins_even_with_the_lowest_error(self):
        best, index = min_reprojection(_px(0.0, 0.4), torch.tensor([False, True]).view(1, 2, 1, 1))
        assert float(best) == pytest.approx(0.4) and int(index) == 1

    def test_single_source_is_itself(self):
        errors = torch.rand(2, 1, 3, 4)
        best, index = min_reprojection(errors, torch.ones_like(errors, dtype=torch.bool))
        assert torch.equal(best, errors) and (index == 0).all()

    def test_shape_mismatch_is_refused(self):
        with pytest.raises(ValueError, match="valid"):
            min_reprojection(torch.rand(1, 2, 3, 4), torch.ones(1, 3, 3, 4, dtype=torch.bool))


class TestAutomaskHandMade:
    """noise_std=0: the rule without MD2's noise, ties to the identity."""

    @pytest.mark.parametrize("reprojection,identity,keep,winner", [
        ((0.1, 0.3), (0.2, 0.4), True, 2),     # warped source 0 beats every unwarped one
        ((0.3, 0.25), (0.2, 0.4), False, 0),   # unwarped source 0 is best: masked
        ((0.3, 0.15), (0.2, 0.4), True, 3),    # warped source 1 wins
        ((0.2, 0.5), (0.2, 0.4), False, 0),    # exact tie goes to the identity
        ((NAN, 0.5), (0.2, 0.4), False, 0),    # an invalid warp never wins
        ((NAN, NAN), (0.2, 0.4), False, 0),
    ])
    def test_pixels(self, reprojection, identity, keep, winner):
        mask, index = automask(_px(*reprojection), _px(*identity), noise_std=0)
        assert bool(mask) is keep and int(index) == winner

    def test_no_finite_error_gives_minus_one(self):
        mask, index = automask(_px(NAN), _px(NAN), noise_std=0)
        assert not bool(mask) and int(index) == -1

    def test_shapes_and_dtypes(self):
        mask, index = automask(torch.rand(2, 3, 4, 5), torch.rand(2, 2, 4, 5))
        assert mask.shape == index.shape == (2, 1, 4, 5)
        assert mask.dtype == torch.bool and index.dtype == torch.int64
        assert ((index >= 0) & (index < 5)).all()


class TestAutomaskIsMonodepth2:
    def _md2(self, reprojection, identity, generator):
        """Monodepth2 trainer.py, verbatim in torch: noise on identity, cat(identity, reprojection), argmin."""
        identity = identity + torch.randn(identity.shape, generator=generator) * 0.00001
        combined = torch.cat((identity, reprojection), dim=1)
        _, idxs = torch.min(combined, dim=1, keepdim=True)
        return idxs > identity.shape[1] - 1, idxs

    def test_matches_the_reference_on_random_errors(self):
        reprojection, identity = torch.rand(2, 2, 16, 16) * 1e-4, torch.rand(2, 2, 16, 16) * 1e-4
        expected_keep, expected_idx = self._md2(reprojection, identity, torch.Generator().manual_seed(7))
        keep, index = automask(reprojection, identity, generator=torch.Generator().manual_seed(7))
        assert torch.equal(keep, expected_keep) and torch.equal(index, expected_idx)
        assert 0.2 < keep.float().mean() < 0.8  # errors ~ noise: the noise really decides some pixels

    def test_same_seed_same_mask(self):
        reprojection = identity = torch.rand(1, 1, 32, 32)
        first = automask(reprojection, identity, generator=torch.Generator().manual_seed(3))[0]
        second = automask(reprojection, identity, generator=torch.Generator().manual_seed(3))[0]
        assert torch.equal(first, second)

    def test_identity_error_below_the_reprojection_masks_everything(self):
        # A constant 1e-3 (100 noise sigmas) below: whatever the noise, the unwarped source wins everywhere ...
        reprojection = torch.rand(2, 2, 20, 30) * 0.3 + 0.01
        keep, index = automask(reprojection, reprojection - 1e-3)
        assert not keep.any() and (index < 2).all()
        # ... and 1e-3 above, the warped one does.
        keep, _ = automask(reprojection, reprojection + 1e-3)
        assert keep.all()


@pytest.fixture(scope="module")
def static_camera():
    """A camera that did not move: source image == target image, with the scene's true depth."""
    height, width = 64, 80
    K = intrinsics(height, width, 70.0)
    rgb, depth, _ = render(default_scene(), pose(), K, height, width)
    return image_tensor(rgb, torch.float32), map_tensor(depth, torch.float32), torch.from_numpy(K)[None]


class TestStaticCamera:
    """What "a static camera is masked" means exactly, for MD2's rule (see the reprojection module docstring)."""

    def _errors(self, static_camera, T_source_target):
        image, depth, K = static_camera
        warped, valid = warp_frame_depth(image, depth, torch.from_numpy(T_source_target)[None], K)
        reprojection = torch.where(valid, photometric_error_map(image, warped), torch.full_like(depth, NAN))
        return warped, reprojection, photometric_error_map(image, image)

    def test_identity_pose_warp_is_the_unwarped_source(self, static_camera):
        warped, reprojection, identity = self._errors(static_camera, np.eye(4))
        assert torch.equal(warped, static_camera[0])  # bit for bit: the float64 sampler hits pixel centres
        assert torch.equal(reprojection, identity)

    def test_identity_pose_without_noise_is_fully_masked(self, static_camera):
        _, reprojection, identity = self._errors(static_camera, np.eye(4))
        keep, index = automask(reprojection, identity, noise_std=0)
        assert not keep.any() and (index == 0).all()

    def test_identity_pose_with_md2_noise_is_a_coin_flip_per_pixel(self, static_camera):
        _, reprojection, identity = self._errors(static_camera, np.eye(4))
        keep, _ = automask(reprojection, identity, generator=torch.Generator().manual_seed(0))
        noise = torch.randn(identity.shape, generator=torch.Generator().manual_seed(0)) * MD2_NOISE_STD
        assert torch.equal(keep, noise > 0)  # ties: the identity wins exactly where its noise is negative
        assert 0.45 < keep.float().mean() < 0.55

    @pytest.mark.parametrize("moved", [(0.1, 0, 0), (0, 0, 0.3), (0, 0.05, 0)])
    def test_any_assumed_motion_is_fully_masked_with_md2_noise(self, static_camera, moved):
        # The images say "no motion": identity error 0; a warp that moves pixels scores far above 1e-5.
        T_source_target = np.linalg.inv(pose(t=moved))
        _, reprojection, identity = self._errors(static_camera, T_source_target)
        assert float(identity.abs().max()) == 0.0
        keep, _ = automask(reprojection, identity, generator=torch.Generator().manual_seed(1))
        assert not keep.any()


@pytest.mark.parametrize("device", DEVICES)
def test_runs_on_the_inputs_device(device):
    errors = torch.rand(1, 2, 8, 8, device=device)
    best, index = min_reprojection(errors, torch.ones_like(errors, dtype=torch.bool))
    keep, combined = automask(errors, errors + 1, generator=torch.Generator(device=device).manual_seed(0))
    assert {t.device.type for t in (best, index, keep, combined)} == {device}
    assert keep.all()
