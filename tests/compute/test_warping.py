"""Tests for depthviewer.compute.warping: horizontal bilinear sampling and stereo view synthesis."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from depthviewer.compute.warping import sample_horizontal, warp_left_to_right, warp_right_to_left


# "Exact": the grid is built in float64, so a pixel differs from its source by round-off (< 1e-12) only,
# where float32 grid coordinates would be off by up to 6e-5 at KITTI's width.
EXACT = 1e-12


@pytest.fixture(autouse=True)
def _seed() -> None:
    """Random inputs, but the same ones on every run."""
    torch.manual_seed(0)


def _read_rgb(path: Path) -> torch.Tensor:
    """(1, 3, H, W) float32 in [0, 1] from an image file."""
    rgb = cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1]
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 255.0


@pytest.fixture(scope="module")
def kitti_left(kitti2015_dir: Path) -> torch.Tensor:
    return _read_rgb(kitti2015_dir / "image_2" / "000000_10.png")


def _numpy_shift(image: np.ndarray, shift: float) -> np.ndarray:
    """image sampled at x + shift per row with np.interp (linear, clamped at the ends): (C, H, W)."""
    width = image.shape[-1]
    xs = np.arange(width) + shift
    out = np.empty_like(image)
    for c in range(image.shape[0]):
        for row in range(image.shape[1]):
            out[c, row] = np.interp(xs, np.arange(width), image[c, row])
    return out


class TestSampleHorizontal:
    @pytest.mark.parametrize("batch,channels,height,width", [(1, 1, 1, 1), (2, 3, 4, 5), (1, 2, 7, 1)])
    def test_shapes_and_dtype(self, batch: int, channels: int, height: int, width: int) -> None:
        image = torch.rand(batch, channels, height, width, dtype=torch.float64)
        sampled, valid = sample_horizontal(image, torch.zeros(batch, 1, height, width))
        assert sampled.shape == image.shape and sampled.dtype == torch.float64
        assert valid.shape == (batch, 1, height, width) and valid.dtype == torch.bool
        torch.testing.assert_close(sampled, image)  # zero offset is the identity
        assert valid.all()

    def test_integer_offset_is_exact(self) -> None:
        image = torch.rand(2, 3, 4, 6)
        sampled, valid = sample_horizontal(image, torch.full((2, 1, 4, 6), 2.0))
        torch.testing.assert_close(sampled[..., :4], image[..., 2:], rtol=0, atol=EXACT)
        assert valid[..., :4].all() and not valid[..., 4:].any()
        # Outside the image the sampler pads with the border pixel; the caller masks it.
        torch.testing.assert_close(sampled[..., 4:], image[..., 5:].expand(2, 3, 4, 2), rtol=0, atol=EXACT)

    def test_fractional_offset_known_value(self) -> None:
        image = torch.tensor([[[[0.0, 10.0, 20.0, 40.0]]]])
        offset = torch.tensor([[[[0.25, 0.5, -0.75, 0.5]]]])
        sampled, valid = sample_horizontal(image, offset)
        torch.testing.assert_close(sampled[0, 0, 0, :3], torch.tensor([2.5, 15.0, 12.5]))
        assert valid[0, 0, 0].tolist() == [True, True, True, False]  # x = 3.5 > W - 1

    def test_valid_bounds_are_inclusive(self) -> None:
        offset = torch.tensor([[[[0.0, -1.0, -2.001, 1.0, 0.001]]]])  # W = 5: x + offset must be in [0, 4]
        _, valid = sample_horizontal(torch.rand(1, 1, 1, 5), offset)
        assert valid[0, 0, 0].tolist() == [True, True, False, True, False]

    def test_nan_offset_does_not_poison_neighbours(self) -> None:
        image = torch.rand(1, 2, 3, 5, dtype=torch.float64)
        offset = torch.rand(1, 1, 3, 5, dtype=torch.float64) * 0.8 + 0.1
        reference, _ = sample_horizontal(image, offset)
        holed = offset.clone()
        holed[0, 0, 1, 2] = float("nan")
        holed[0, 0, 2, 0] = float("inf")
        holed.requires_grad_(True)
        image_grad = image.clone().requires_grad_(True)
        sampled, valid = sample_horizontal(image_grad, holed)
        assert not valid[0, 0, 1, 2] and not valid[0, 0, 2, 0]
        assert torch.isfinite(sampled).all()
        keep = valid.expand_as(sampled)
        torch.testing.assert_close(sampled[keep], reference[keep])
        sampled.sum().backward()
        assert torch.isfinite(holed.grad).all() and torch.isfinite(image_grad.grad).all()

    def test_shape_errors(self) -> None:
        with pytest.raises(ValueError, match="offset_px"):
            sample_horizontal(torch.rand(1, 3, 4, 5), torch.rand(1, 2, 4, 5))
        with pytest.raises(ValueError, match="offset_px has W=6 but image has W=5"):
            sample_horizontal(torch.rand(1, 3, 4, 5), torch.rand(1, 1, 4, 6))
        with pytest.raises(ValueError, match="image must have shape"):
            sample_horizontal(torch.rand(3, 4, 5), torch.rand(1, 1, 4, 5))

    def test_gradcheck(self) -> None:
        image = torch.rand(1, 2, 3, 6, dtype=torch.float64, requires_grad=True)
        # Sources at x + 0.2..0.8, one pixel left for x >= 3: strictly inside the image and away from the
        # kinks of bilinear interpolation at integer positions.
        offset = torch.rand(1, 1, 3, 6, dtype=torch.float64) * 0.6 + 0.2 - (torch.arange(6) >= 3).double()
        offset.requires_grad_(True)
        assert torch.autograd.gradcheck(lambda i, o: sample_horizontal(i, o)[0], (image, offset))


class TestWarpRightToLeft:
    @pytest.mark.parametrize("d", [1, 7, 40])
    def test_integer_constant_disparity_is_exact(self, kitti_left: torch.Tensor, d: int) -> None:
        # A right view seen d px to the left: right(x) = left(x + d); the last d columns are unknown.
        right = torch.zeros_like(kitti_left)
        right[..., :-d] = kitti_left[..., d:]
        disparity = torch.full_like(kitti_left[:, :1], float(d))
        recon, valid = warp_right_to_left(right, disparity)
        width = kitti_left.shape[-1]
        assert torch.equal(valid[0, 0], (torch.arange(width) >= d).expand_as(valid[0, 0]))
        torch.testing.assert_close(recon[..., d:], kitti_left[..., d:], rtol=0, atol=EXACT)

    @pytest.mark.parametrize("d", [0.25, 3.5, 12.8])
    def test_fractional_disparity_matches_numpy(self, kitti_left: torch.Tensor, d: float) -> None:
        right = kitti_left[..., 100:160, 400:700].contiguous()  # a crop keeps the per-row loop fast
        recon, valid = warp_right_to_left(right, torch.full_like(right[:, :1], d))
        expected = _numpy_shift(right[0].double().numpy(), -d)
        mask = valid[0].expand_as(recon[0]).numpy()
        assert mask.sum() == 3 * 60 * (300 - int(np.ceil(d)))
        np.testing.assert_allclose(recon[0].numpy()[mask], expected[mask], atol=1e-5)

    def test_nan_disparity_is_invalid(self) -> None:
        disparity = torch.tensor([[[[1.0, float("nan"), 1.0]]]])
        _, valid = warp_right_to_left(torch.rand(1, 3, 1, 3), disparity)
        assert valid[0, 0, 0].tolist() == [False, False, True]

    def test_shape_errors(self) -> None:
        with pytest.raises(ValueError, match="disparity_left_px"):
            warp_right_to_left(torch.rand(1, 3, 4, 5), torch.rand(1, 1, 5, 5))


class TestWarpLeftToRight:
    @pytest.mark.parametrize("d", [1, 7, 40])
    def test_integer_constant_disparity_is_exact(self, kitti_left: torch.Tensor, d: int) -> None:
        # The right view of a fronto-parallel scene at disparity d: right(x) = left(x + d).
        left = kitti_left
        recon, valid = warp_left_to_right(left, torch.full_like(left[:, :1], float(d)))
        width = left.shape[-1]
        assert torch.equal(valid[0, 0], (torch.arange(width) < width - d).expand_as(valid[0, 0]))
        torch.testing.assert_close(recon[..., :-d], left[..., d:], rtol=0, atol=EXACT)

    @pytest.mark.parametrize("d", [0.25, 12.8])
    def test_fractional_disparity_matches_numpy(self, kitti_left: torch.Tensor, d: float) -> None:
        left = kitti_left[..., 100:160, 400:700].contiguous()
        recon, valid = warp_left_to_right(left, torch.full_like(left[:, :1], d))
        expected = _numpy_shift(left[0].double().numpy(), d)
        mask = valid[0].expand_as(recon[0]).numpy()
        np.testing.assert_allclose(recon[0].numpy()[mask], expected[mask], atol=1e-5)

    def test_inverts_warp_right_to_left_for_constant_disparity(self) -> None:
        left = torch.rand(1, 3, 5, 20, dtype=torch.float64)
        d = torch.full((1, 1, 5, 20), 3.0, dtype=torch.float64)
        right, valid_r = warp_left_to_right(left, d)
        back, valid_l = warp_right_to_left(right, d)
        # Left pixels whose right source itself came from inside the image survive the round trip.
        keep = (valid_l & torch.roll(valid_r, 3, dims=-1)).expand_as(left).clone()
        keep[..., :3] = False
        torch.testing.assert_close(back[keep], left[keep])
        assert keep.sum() == 3 * 5 * (20 - 3)

    def test_shape_errors(self) -> None:
        with pytest.raises(ValueError, match="left must have shape"):
            warp_left_to_right(torch.rand(3, 4, 5), torch.rand(1, 1, 4, 5))
