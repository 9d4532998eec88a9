"""Tests for depthviewer.compute.losses: SSIM, photometric error, LR consistency, smoothness, reduction."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn

from depthviewer.compute.losses import (
    l1_map,
    lr_consistency_map,
    lr_consistency_map_right,
    masked_mean,
    photometric_error_map,
    photometric_parts,
    smoothness_loss,
    smoothness_map,
    smoothness_maps,
    ssim_dissimilarity_map,
)
from depthviewer.compute.metrics import interpolate_background
from depthviewer.compute.warping import warp_right_to_left

NAN = float("nan")


@pytest.fixture(autouse=True)
def _seed() -> None:
    """Random inputs, but the same ones on every run."""
    torch.manual_seed(0)


# --- Monodepth2 reference code, reproduced verbatim from monodepth2/layers.py and trainer.py -----------------


class SSIM(nn.Module):
    """Layer to compute the SSIM loss between a pair of images"""

    def __init__(self):
        super(SSIM, self).__init__()
        self.mu_x_pool = nn.AvgPool2d(3, 1)
        self.mu_y_pool = nn.AvgPool2d(3, 1)
        self.sig_x_pool = nn.AvgPool2d(3, 1)
        self.sig_y_pool = nn.AvgPool2d(3, 1)
        self.sig_xy_pool = nn.AvgPool2d(3, 1)

        self.refl = nn.ReflectionPad2d(1)

        self.C1 = 0.01**2
        self.C2 = 0.03**2

    def forward(self, x, y):
        x = self.refl(x)
        y = self.refl(y)

        mu_x = self.mu_x_pool(x)
        mu_y = self.mu_y_pool(y)

        sigma_x = self.sig_x_pool(x**2) - mu_x**2
        sigma_y = self.sig_y_pool(y**2) - mu_y**2
        sigma_xy = self.sig_xy_pool(x * y) - mu_x * mu_y

        SSIM_n = (2 * mu_x * mu_y + self.C1) * (2 * sigma_xy + self.C2)
        SSIM_d = (mu_x**2 + mu_y**2 + self.C1) * (sigma_x + sigma_y + self.C2)

        return torch.clamp((1 - SSIM_n / SSIM_d) / 2, 0, 1)


def get_smooth_loss(disp, img):
    """Computes the smoothness loss for a disparity image
    The color image is used for edge-aware smoothness
    """
    grad_disp_x = torch.abs(disp[:, :, :, :-1] - disp[:, :, :, 1:])
    grad_disp_y = torch.abs(disp[:, :, :-1, :] - disp[:, :, 1:, :])

    grad_img_x = torch.mean(torch.abs(img[:, :, :, :-1] - img[:, :, :, 1:]), 1, keepdim=True)
    grad_img_y = torch.mean(torch.abs(img[:, :, :-1, :] - img[:, :, 1:, :]), 1, keepdim=True)

    grad_disp_x *= torch.exp(-grad_img_x)
    grad_disp_y *= torch.exp(-grad_img_y)

    return grad_disp_x.mean() + grad_disp_y.mean()


def compute_reprojection_loss(pred, target, ssim=SSIM()):
    """Computes reprojection loss between a batch of predicted and target images (trainer.py)"""
    abs_diff = torch.abs(target - pred)
    l1_loss = abs_diff.mean(1, True)
    ssim_loss = ssim(pred, target).mean(1, True)
    reprojection_loss = 0.85 * ssim_loss + 0.15 * l1_loss
    return reprojection_loss


def md2_normalised_smooth_loss(disp, color):
    """The trainer's call: mean-normalised disparity, then get_smooth_loss."""
    mean_disp = disp.mean(2, True).mean(3, True)
    norm_disp = disp / (mean_disp + 1e-7)
    return get_smooth_loss(norm_disp, color)


# --- real data ---------------------------------------------------------------------------------------------


def _read_rgb(path: Path) -> torch.Tensor:
    """(1, 3, H, W) float32 in [0, 1] from an image file."""
    rgb = cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1]
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 255.0


def _read_pfm(path: Path) -> np.ndarray:
    """Middlebury PFM (greyscale 'Pf'): rows stored bottom-to-top, negative scale = little-endian; inf -> NaN."""
    with open(path, "rb") as f:
        assert f.readline().strip() == b"Pf"
        width, height = map(int, f.readline().split())
        scale = float(f.readline())
        data = np.fromfile(f, dtype="<f4" if scale < 0 else ">f4", count=width * height)
    data = np.flipud(data.reshape(height, width)).astype(np.float32)
    return np.where(np.isfinite(data), data, np.nan)


def _kitti_pair(root: Path) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    raw = cv2.imread(str(root / "disp_occ_0" / "000000_10.png"), cv2.IMREAD_UNCHANGED)
    gt = np.where(raw > 0, raw / 256.0, np.nan).astype(np.float32)
    return _read_rgb(root / "image_2" / "000000_10.png"), _read_rgb(root / "image_3" / "000000_10.png"), gt


def _middlebury_pair(root: Path) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    return _read_rgb(root / "im0.png"), _read_rgb(root / "im1.png"), _read_pfm(root / "disp0GT.pfm")


class TestSsimDissimilarityMap:
    @pytest.mark.parametrize("pad,expected_hw", [(True, (6, 7)), (False, (4, 5))])
    def test_shapes(self, pad: bool, expected_hw: tuple[int, int]) -> None:
        out = ssim_dissimilarity_map(torch.rand(2, 3, 6, 7), torch.rand(2, 3, 6, 7), pad=pad)
        assert out.shape == (2, 3, *expected_hw)

    def test_identical_images_score_zero(self) -> None:
        x = torch.rand(1, 3, 8, 9, dtype=torch.float64)
        assert ssim_dissimilarity_map(x, x).abs().max() < 1e-12

    def test_constant_images_known_value(self) -> None:
        # No variance: SSIM = (2ab + C1) / (a^2 + b^2 + C1), the luminance term alone.
        a, b = 0.2, 0.6
        x, y = torch.full((1, 1, 4, 4), a, dtype=torch.float64), torch.full((1, 1, 4, 4), b, dtype=torch.float64)
        out = ssim_dissimilarity_map(x, y)
        expected = (1 - (2 * a * b + 1e-4) / (a * a + b * b + 1e-4)) / 2
        torch.testing.assert_close(out, torch.full_like(out, expected))

    def test_one_window_by_hand(self) -> None:
        rng = np.random.default_rng(0)
        x, y = rng.random((5, 5)), rng.random((5, 5))
        wx, wy = x[1:4, 2:5], y[1:4, 2:5]  # the 3x3 window centred on (row 2, col 3)
        mx, my = wx.mean(), wy.mean()
        vx, vy, cxy = (wx**2).mean() - mx**2, (wy**2).mean() - my**2, (wx * wy).mean() - mx * my
        ssim = (2 * mx * my + 1e-4) * (2 * cxy + 9e-4) / ((mx**2 + my**2 + 1e-4) * (vx + vy + 9e-4))
        out = ssim_dissimilarity_map(torch.from_numpy(x)[None, None], torch.from_numpy(y)[None, None])
        assert out[0, 0, 2, 3].item() == pytest.approx((1 - ssim) / 2, abs=1e-12)

    def test_reflection_padding_at_the_corner(self) -> None:
        x, y = torch.rand(1, 1, 4, 4, dtype=torch.float64), torch.rand(1, 1, 4, 4, dtype=torch.float64)
        # The window at (0, 0) after reflection covers rows/cols (1, 0, 1).
        idx = torch.tensor([1, 0, 1])
        wx, wy = x[0, 0][idx][:, idx], y[0, 0][idx][:, idx]
        mx, my = wx.mean(), wy.mean()
        vx, vy, cxy = (wx**2).mean() - mx**2, (wy**2).mean() - my**2, (wx * wy).mean() - mx * my
        ssim = (2 * mx * my + 1e-4) * (2 * cxy + 9e-4) / ((mx**2 + my**2 + 1e-4) * (vx + vy + 9e-4))
        assert ssim_dissimilarity_map(x, y)[0, 0, 0, 0].item() == pytest.approx(((1 - ssim) / 2).item(), abs=1e-12)

    def test_monodepth1_form_is_the_unpadded_interior(self) -> None:
        x, y = torch.rand(2, 3, 7, 9), torch.rand(2, 3, 7, 9)
        interior = ssim_dissimilarity_map(x, y)[..., 1:-1, 1:-1]
        torch.testing.assert_close(ssim_dissimilarity_map(x, y, pad=False), interior)

    def test_matches_monodepth2_layer(self, kitti2015_dir: Path) -> None:
        left, right, _ = _kitti_pair(kitti2015_dir)
        x, y = left[..., :128, 300:556], right[..., :128, 300:556]
        torch.testing.assert_close(ssim_dissimilarity_map(x, y), SSIM()(x, y), rtol=0, atol=1e-6)

    def test_gradcheck(self) -> None:
        x = torch.rand(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
        y = torch.rand(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(ssim_dissimilarity_map, (x, y))
        assert torch.autograd.gradcheck(lambda a, b: ssim_dissimilarity_map(a, b, pad=False), (x, y))

    def test_shape_errors(self) -> None:
        with pytest.raises(ValueError, match="y has C=1 but x has C=3"):
            ssim_dissimilarity_map(torch.rand(1, 3, 5, 5), torch.rand(1, 1, 5, 5))
        with pytest.raises(ValueError, match="at least 3x3"):
            ssim_dissimilarity_map(torch.rand(1, 1, 2, 5), torch.rand(1, 1, 2, 5), pad=False)


class TestL1Map:
    def test_known_values(self) -> None:
        x = torch.tensor([[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]]).view(1, 3, 1, 2)
        y = torch.zeros(1, 3, 1, 2)
        torch.testing.assert_close(l1_map(x, y), torch.tensor([[[[0.5, 0.5]]]]))

    def test_shape_errors(self) -> None:
        with pytest.raises(ValueError, match="y has H=3 but x has H=2"):
            l1_map(torch.rand(1, 3, 2, 2), torch.rand(1, 3, 3, 2))


class TestPhotometricParts:
    def test_parts_combine(self) -> None:
        target, recon = torch.rand(2, 3, 6, 8), torch.rand(2, 3, 6, 8)
        pe, ssim_part, l1_part = photometric_parts(target, recon, alpha=0.7)
        assert pe.shape == ssim_part.shape == l1_part.shape == (2, 1, 6, 8)
        torch.testing.assert_close(ssim_part, ssim_dissimilarity_map(target, recon).mean(1, keepdim=True))
        torch.testing.assert_close(l1_part, l1_map(target, recon))
        torch.testing.assert_close(pe, 0.7 * ssim_part + 0.3 * l1_part)

    def test_alpha_extremes(self) -> None:
        target, recon = torch.rand(1, 3, 5, 5), torch.rand(1, 3, 5, 5)
        torch.testing.assert_close(photometric_error_map(target, recon, alpha=0.0), l1_map(target, recon))
        torch.testing.assert_close(
            photometric_error_map(target, recon, alpha=1.0), ssim_dissimilarity_map(target, recon).mean(1, True)
        )

    def test_shape_errors(self) -> None:
        with pytest.raises(ValueError, match="reconstruction"):
            photometric_parts(torch.rand(1, 3, 5, 5), torch.rand(1, 3, 5, 6))


class TestPhotometricErrorMap:
    def test_matches_monodepth2_reprojection_loss(self) -> None:
        target, recon = torch.rand(2, 3, 16, 20), torch.rand(2, 3, 16, 20)
        torch.testing.assert_close(
            photometric_error_map(target, recon), compute_reprojection_loss(recon, target), rtol=0, atol=1e-6
        )

    def test_gradcheck(self) -> None:
        target = torch.rand(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)
        recon = torch.rand(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(photometric_error_map, (target, recon))

    @pytest.mark.parametrize("dataset", ["kitti2015", "middlebury"])
    def test_gt_disparity_beats_shifted_gt(self, dataset: str, kitti2015_dir: Path, middlebury_dir: Path) -> None:
        if dataset == "kitti2015":
            left, right, gt = _kitti_pair(kitti2015_dir)
        else:
            left, right, gt = _middlebury_pair(middlebury_dir)
        # Warp with the devkit-filled GT so that SSIM windows next to a GT pixel are warped too (KITTI's
        # LiDAR GT is sparse); score only the GT pixels, the same set for every offset.
        disparity = torch.from_numpy(interpolate_background(gt))[None, None]
        scored = torch.from_numpy(np.isfinite(gt))[None, None]
        errors = {}
        for shift in (0.0, -3.0, -1.0, 1.0, 3.0):
            recon, valid = warp_right_to_left(right, disparity + shift)
            errors[shift] = photometric_error_map(left, recon)
            scored &= valid
        assert scored.sum() > 0.1 * np.isfinite(gt).sum()
        means = {shift: masked_mean(pe, scored).item() for shift, pe in errors.items()}
        for shift in (-3.0, -1.0, 1.0, 3.0):
            assert means[0.0] < means[shift], means
        # One pixel off already costs a visible margin; three pixels cost more than one.
        assert min(means[-1.0], means[1.0]) > means[0.0] + 0.01, means
        assert means[-3.0] > means[-1.0] and means[3.0] > means[1.0], means


class TestLrConsistencyMap:
    def test_consistent_constant_pair(self) -> None:
        d_left = torch.full((1, 1, 3, 10), 2.0)
        error, valid = lr_consistency_map(d_left, d_left.clone())
        assert torch.equal(valid[0, 0], (torch.arange(10) >= 2).expand(3, 10))
        assert torch.all(error[valid] == 0) and torch.isnan(error[~valid]).all()

    def test_known_values_bilinear(self) -> None:
        d_left = torch.tensor([[[[0.0, 0.0, 1.5, 0.5]]]])
        d_right = torch.tensor([[[[1.0, 3.0, 5.0, 9.0]]]])
        error, valid = lr_consistency_map(d_left, d_right)
        # x=2 samples d_R at 0.5 -> 2.0, |1.5 - 2| = 0.5; x=3 samples at 2.5 -> 7.0, |0.5 - 7| = 6.5.
        torch.testing.assert_close(error[0, 0, 0], torch.tensor([1.0, 3.0, 0.5, 6.5]))
        assert valid.all()

    def test_missing_disparities_invalidate_the_footprint(self) -> None:
        d_left = torch.tensor([[[[0.0, 0.5, 0.0, 1.0, NAN, 0.0]]]])
        d_right = torch.tensor([[[[NAN, 1.0, 1.0, NAN, 1.0, 1.0]]]])
        error, valid = lr_consistency_map(d_left, d_right)
        # x=0 reads the NaN itself, x=1 reads between d_R(0)=NaN and d_R(1); x=2 and x=3 land exactly on d_R(2),
        # whose zero-weight neighbour d_R(3)=NaN does not matter; x=4 has no d_L.
        assert valid[0, 0, 0].tolist() == [False, False, True, True, False, True]
        assert torch.isnan(error[~valid]).all()
        torch.testing.assert_close(error[valid], torch.tensor([1.0, 0.0, 1.0]))

    def test_fronto_parallel_plane_at_kitti_size(self, kitti2015_dir: Path) -> None:
        # A fronto-parallel plane has one disparity in both views: consistent to the last bit, full-size.
        _, _, gt = _kitti_pair(kitti2015_dir)
        d = torch.full((1, 1, *gt.shape), 20.0)
        error, valid = lr_consistency_map(d, d)
        assert valid.sum() == gt.shape[0] * (gt.shape[1] - 20)
        assert error[valid].abs().max() == 0

    def test_shape_errors(self) -> None:
        with pytest.raises(ValueError, match="disparity_right_px"):
            lr_consistency_map(torch.rand(1, 1, 4, 4), torch.rand(1, 1, 4, 5))


class TestLrConsistencyMapRight:
    def test_mirror_known_values(self) -> None:
        d_left = torch.tensor([[[[1.0, 3.0, 5.0, 9.0]]]])
        d_right = torch.tensor([[[[0.5, 1.0, 0.0, 1.0]]]])
        error, valid = lr_consistency_map_right(d_left, d_right)
        # x=0 samples d_L at 0.5 -> 2.0; x=1 at 2 -> 5.0; x=2 at 2 -> 5.0; x=3 at 4 is outside.
        assert valid[0, 0, 0].tolist() == [True, True, True, False]
        torch.testing.assert_close(error[0, 0, 0, :3], torch.tensor([1.5, 4.0, 5.0]))

    def test_mirror_of_left_check(self) -> None:
        # Swapping the roles and mirroring the images left-right turns one check into the other.
        d_left, d_right = torch.rand(2, 1, 5, 12) * 3, torch.rand(2, 1, 5, 12) * 3
        error_r, valid_r = lr_consistency_map_right(d_left, d_right)
        error_l, valid_l = lr_consistency_map(d_right.flip(-1), d_left.flip(-1))
        assert torch.equal(valid_r, valid_l.flip(-1))
        torch.testing.assert_close(error_r[valid_r], error_l.flip(-1)[valid_r])


class TestSmoothnessMaps:
    def test_shapes(self) -> None:
        gx, gy = smoothness_maps(torch.rand(2, 1, 5, 7), torch.rand(2, 3, 5, 7))
        assert gx.shape == (2, 1, 5, 6) and gy.shape == (2, 1, 4, 7)

    def test_known_values_ramp(self) -> None:
        # Disparity 1, 2, 3, 4 along x on a flat image: |dx d| = 1, mean(d) = 2.5.
        disparity = torch.arange(1.0, 5.0, dtype=torch.float64).view(1, 1, 1, 4).expand(1, 1, 2, 4)
        image = torch.full((1, 3, 2, 4), 0.5, dtype=torch.float64)
        gx, gy = smoothness_maps(disparity, image, normalise=False)
        assert torch.all(gx == 1.0) and torch.all(gy == 0.0)
        gx, _ = smoothness_maps(disparity, image)
        torch.testing.assert_close(gx, torch.full_like(gx, 1 / (2.5 + 1e-7)))

    def test_edge_weight(self) -> None:
        disparity = torch.tensor([[[[0.0, 1.0]]]])
        image = torch.tensor([0.0, 0.3, 0.6, 0.9, 0.0, 0.3]).view(1, 3, 1, 2)  # mean |dx I| = 0.3
        gx, _ = smoothness_maps(disparity, image, normalise=False)
        assert gx.item() == pytest.approx(np.exp(-0.3))

    def test_normalised_is_scale_free(self) -> None:
        disparity = torch.rand(2, 1, 6, 6, dtype=torch.float64) + 0.1
        image = torch.rand(2, 3, 6, 6, dtype=torch.float64)
        for a, b in zip(smoothness_maps(disparity, image), smoothness_maps(40 * disparity, image)):
            torch.testing.assert_close(a, b, rtol=1e-6, atol=0)  # only MD2's 1e-7 in the mean is not scale free

    def test_nan_disparity(self) -> None:
        disparity = torch.ones(1, 1, 3, 3)
        disparity[0, 0, 1, 1] = NAN
        disparity[0, 0, 0, 0] = 4.0
        gx, gy = smoothness_maps(disparity, torch.zeros(1, 3, 3, 3))
        # The mean ignores the NaN: (4 + 7 * 1) / 8; only the gradients touching the NaN are NaN.
        assert gx[0, 0, 0, 0].item() == pytest.approx(3 / (11 / 8), rel=1e-6)
        assert torch.isnan(gx).sum() == 2 and torch.isnan(gy).sum() == 2

    def test_shape_errors(self) -> None:
        with pytest.raises(ValueError, match="image has W=5 but disparity has W=4"):
            smoothness_maps(torch.rand(1, 1, 4, 4), torch.rand(1, 3, 4, 5))
        with pytest.raises(ValueError, match="disparity must have shape"):
            smoothness_maps(torch.rand(1, 2, 4, 4), torch.rand(1, 3, 4, 4))


class TestSmoothnessMap:
    def test_padding_and_sum(self) -> None:
        disparity, image = torch.rand(1, 1, 4, 5), torch.rand(1, 3, 4, 5)
        gx, gy = smoothness_maps(disparity, image)
        out = smoothness_map(disparity, image)
        assert out.shape == (1, 1, 4, 5)
        torch.testing.assert_close(out[..., :-1, :-1], gx[..., :-1, :] + gy[..., :, :-1])
        torch.testing.assert_close(out[..., -1, :-1], gx[..., -1, :])  # last row: x term only
        torch.testing.assert_close(out[..., :-1, -1], gy[..., :, -1])  # last column: y term only
        assert out[0, 0, -1, -1] == 0

    def test_nan_stays_nan(self) -> None:
        disparity = torch.ones(1, 1, 3, 3)
        disparity[0, 0, 2, 2] = NAN
        out = smoothness_map(disparity, torch.zeros(1, 3, 3, 3))
        assert torch.isnan(out).tolist() == [[[[False, False, False], [False, False, True], [False, True, True]]]]


class TestSmoothnessLoss:
    def test_matches_monodepth2(self, kitti2015_dir: Path) -> None:
        left, _, gt = _kitti_pair(kitti2015_dir)
        # A dense, edge-rich disparity: the devkit-filled KITTI GT, as MD2's sigmoid output stand-in (scale free).
        disparity = torch.from_numpy(interpolate_background(gt))[None, None][..., 200:, :400].contiguous()
        image = left[..., 200:, :400]
        ours = smoothness_loss(disparity, image)
        assert ours.shape == (1,)
        assert abs(ours.item() - md2_normalised_smooth_loss(disparity, image).item()) < 1e-6
        unnormalised = smoothness_loss(disparity, image, normalise=False).item()
        assert abs(unnormalised - get_smooth_loss(disparity, image).item()) < 1e-5

    def test_batch_mean_matches_monodepth2(self) -> None:
        disparity, image = torch.rand(3, 1, 12, 16), torch.rand(3, 3, 12, 16)
        per_image = smoothness_loss(disparity, image)
        assert per_image.shape == (3,)
        assert abs(per_image.mean().item() - md2_normalised_smooth_loss(disparity, image).item()) < 1e-6

    def test_ignores_nan(self) -> None:
        disparity = torch.rand(1, 1, 6, 6) + 0.5
        holed = disparity.clone()
        holed[0, 0, 3, 3] = NAN
        gx, gy = smoothness_maps(holed, torch.zeros(1, 3, 6, 6))
        expected = gx[torch.isfinite(gx)].mean() + gy[torch.isfinite(gy)].mean()
        assert smoothness_loss(holed, torch.zeros(1, 3, 6, 6)).item() == pytest.approx(expected.item())


class TestMaskedMean:
    def test_known_values(self) -> None:
        values = torch.tensor([1.0, 2.0, NAN, 4.0, 10.0, 20.0, 30.0, 40.0]).view(2, 1, 2, 2)
        valid = torch.tensor([True, True, True, False, False, False, False, False]).view(2, 1, 2, 2)
        out = masked_mean(values, valid)
        assert out.shape == (2,)
        assert out[0].item() == pytest.approx(1.5) and torch.isnan(out[1])
        torch.testing.assert_close(masked_mean(values), torch.tensor([7 / 3, 25.0]))

    def test_gradient(self) -> None:
        values = torch.rand(1, 1, 2, 2, dtype=torch.float64, requires_grad=True)
        valid = torch.tensor([[[[True, False], [True, True]]]])
        masked_mean(values, valid).sum().backward()
        expected = torch.tensor([[1 / 3, 0.0], [1 / 3, 1 / 3]], dtype=torch.float64)
        torch.testing.assert_close(values.grad[0, 0], expected)

    def test_shape_errors(self) -> None:
        with pytest.raises(ValueError, match="valid has H=3 but map has H=2"):
            masked_mean(torch.rand(1, 1, 2, 2), torch.ones(1, 1, 3, 2, dtype=torch.bool))
        with pytest.raises(ValueError, match="map must have shape"):
            masked_mean(torch.rand(1, 3, 2, 2))
