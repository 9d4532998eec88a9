"""Tests for depthviewer.compute.geometry: disparity/depth conversion, back-projection, projection, export."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from depthviewer.compute.geometry import (
    backproject,
    depth_to_disparity,
    depth_to_points,
    disparity_to_depth,
    project,
)

# KITTI 2015 P_rect_02 (../shared/data/README.md).
KITTI_FX = 721.5377
KITTI_BASELINE_M = 0.5327
KITTI_K = np.array([[721.5377, 0.0, 609.5593], [0.0, 721.5377, 172.854], [0.0, 0.0, 1.0]])


@pytest.fixture(autouse=True)
def _seed() -> None:
    """Random inputs, but the same ones on every run."""
    torch.manual_seed(0)


def _K(batch: int = 1, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.from_numpy(KITTI_K).to(dtype).expand(batch, 3, 3).clone()


class TestDisparityToDepth:
    def test_known_values(self) -> None:
        d = torch.tensor([10.0, 20.0, 0.0, -1.0, float("nan")])
        depth = disparity_to_depth(d, KITTI_FX, KITTI_BASELINE_M)
        expected = KITTI_FX * KITTI_BASELINE_M / np.array([10.0, 20.0])
        np.testing.assert_allclose(depth[:2].numpy(), expected, rtol=1e-6)
        assert torch.isnan(depth[2:]).all()  # zero, negative, NaN disparity have no depth

    def test_doffs_middlebury(self) -> None:
        # Middlebury: Z = baseline * f / (d + doffs); d = -doffs is infinitely far.
        d = torch.tensor([[31.0, -28.6, -40.0]], dtype=torch.float64)
        depth = disparity_to_depth(d, 994.978, 0.193001, doffs_px=28.6)
        assert depth[0, 0].item() == pytest.approx(0.193001 * 994.978 / 59.6)
        assert torch.isnan(depth[0, 1:]).all()

    @pytest.mark.parametrize("shape", [(5,), (2, 3), (2, 1, 4, 5)])
    def test_any_shape_keeps_dtype(self, shape: tuple[int, ...]) -> None:
        d = torch.rand(shape, dtype=torch.float64) * 50 + 1
        depth = disparity_to_depth(d, 700.0, 0.5)
        assert depth.shape == d.shape and depth.dtype == torch.float64

    def test_gradient_finite_where_masked(self) -> None:
        d = torch.tensor([0.0, 5.0], requires_grad=True)
        torch.nansum(disparity_to_depth(d, 100.0, 1.0)).backward()
        assert torch.isfinite(d.grad).all()
        assert d.grad[1].item() == pytest.approx(-100.0 / 25.0)

    def test_rejects_numpy(self) -> None:
        with pytest.raises(ValueError, match="torch.Tensor"):
            disparity_to_depth(np.ones(3), 1.0, 1.0)  # type: ignore[arg-type]


class TestDepthToDisparity:
    def test_known_values(self) -> None:
        depth = torch.tensor([1.0, 10.0, 0.0, -2.0, float("nan")], dtype=torch.float64)
        d = depth_to_disparity(depth, 100.0, 0.5, doffs_px=2.0)
        np.testing.assert_allclose(d[:2].numpy(), [48.0, 3.0])
        assert torch.isnan(d[2:]).all()

    @pytest.mark.parametrize("doffs", [0.0, 28.6])
    def test_round_trip(self, doffs: float) -> None:
        d = torch.rand(2, 1, 6, 7, dtype=torch.float64) * 60 + 1
        back = depth_to_disparity(disparity_to_depth(d, 994.978, 0.193, doffs), 994.978, 0.193, doffs)
        torch.testing.assert_close(back, d)


class TestBackproject:
    def test_known_values(self) -> None:
        depth = torch.full((1, 1, 2, 3), 2.0, dtype=torch.float64)
        K = torch.tensor([[[10.0, 0.0, 1.0], [0.0, 20.0, 0.5], [0.0, 0.0, 1.0]]], dtype=torch.float64)
        points = backproject(depth, torch.linalg.inv(K))
        # Pixel (u=2, v=1): x = (2 - 1) / 10 * 2, y = (1 - 0.5) / 20 * 2, z = 2.
        torch.testing.assert_close(points[0, :, 1, 2], torch.tensor([0.2, 0.05, 2.0], dtype=torch.float64))
        # Principal point column u = 1 has x = 0; z is the depth everywhere.
        assert torch.all(points[0, 0, :, 1] == 0)
        assert torch.all(points[0, 2] == 2.0)

    @pytest.mark.parametrize("batch,height,width", [(1, 1, 1), (2, 4, 5), (3, 7, 2)])
    def test_shapes(self, batch: int, height: int, width: int) -> None:
        points = backproject(torch.rand(batch, 1, height, width), torch.linalg.inv(_K(batch, torch.float32)))
        assert points.shape == (batch, 3, height, width) and points.dtype == torch.float32

    def test_shape_errors(self) -> None:
        with pytest.raises(ValueError, match="depth_m"):
            backproject(torch.rand(1, 2, 4, 4), _K())
        with pytest.raises(ValueError, match="K_inv has B=1 but depth_m has B=2"):
            backproject(torch.rand(2, 1, 4, 4), _K(1))

    def test_gradcheck(self) -> None:
        depth = torch.rand(1, 1, 3, 4, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda d: backproject(d, torch.linalg.inv(_K())), (depth,))


class TestProject:
    def test_known_values(self) -> None:
        # Two points, one per column: (1, -0.5, 2) in front of the camera, (0, 0, -1) behind it.
        points = torch.tensor([[1.0, 0.0], [-0.5, 0.0], [2.0, -1.0]], dtype=torch.float64).view(1, 3, 1, 2)
        uv = project(points, _K())
        fx, cx, cy = KITTI_K[0, 0], KITTI_K[0, 2], KITTI_K[1, 2]
        torch.testing.assert_close(
            uv[0, :, 0, 0], torch.tensor([fx * 0.5 + cx, fx * -0.25 + cy], dtype=torch.float64)
        )
        assert torch.isnan(uv[0, :, 0, 1]).all()  # behind the camera

    def test_round_trip_with_backproject(self) -> None:
        batch, height, width = 2, 5, 7
        depth = torch.rand(batch, 1, height, width, dtype=torch.float64) * 80 + 0.5
        uv = project(backproject(depth, torch.linalg.inv(_K(batch))), _K(batch))
        v, u = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
        expected = torch.stack([u, v]).to(torch.float64).expand(batch, 2, height, width)
        torch.testing.assert_close(uv, expected)

    def test_gradient_finite_behind_camera(self) -> None:
        points = torch.tensor([0.1, 0.2, 0.0], dtype=torch.float64).view(1, 3, 1, 1).requires_grad_(True)
        torch.nansum(project(points, _K())).backward()
        assert torch.isfinite(points.grad).all()

    def test_gradcheck(self) -> None:
        points = torch.rand(1, 3, 2, 3, dtype=torch.float64) + torch.tensor([0.0, 0.0, 1.0]).view(1, 3, 1, 1)
        assert torch.autograd.gradcheck(lambda p: project(p, _K()), (points.requires_grad_(True),))

    def test_shape_errors(self) -> None:
        with pytest.raises(ValueError, match=r"points must have shape \(B,3,H,W\)"):
            project(torch.rand(1, 2, 3, 3), _K())


class TestDepthToPoints:
    def test_filters_and_colours(self) -> None:
        depth = np.array([[1.0, np.nan, 3.0], [0.0, -1.0, 2.0]])
        rgb = np.arange(18, dtype=np.uint8).reshape(2, 3, 3)
        K = np.array([[2.0, 0.0, 1.0], [0.0, 2.0, 0.5], [0.0, 0.0, 1.0]])
        xyz, colours = depth_to_points(depth, K, rgb)
        expected = np.array(
            [[(0 - 1) / 2 * 1.0, (0 - 0.5) / 2 * 1.0, 1.0], [(2 - 1) / 2 * 3.0, -0.25 * 3.0, 3.0], [1.0, 0.5, 2.0]]
        )
        assert xyz.dtype == np.float32 and colours is not None and colours.dtype == np.uint8
        np.testing.assert_allclose(xyz, expected, rtol=1e-6)
        np.testing.assert_array_equal(colours, rgb.reshape(-1, 3)[[0, 2, 5]])

    def test_stride_keeps_original_pixel_coordinates(self) -> None:
        depth = np.full((5, 6), 4.0)
        xyz, colours = depth_to_points(depth, KITTI_K, None, stride=2)
        assert colours is None and xyz.shape == (3 * 3, 3)
        # Second kept point is pixel (u=2, v=0), not (u=1, v=0).
        assert xyz[1, 0] == pytest.approx((2 - KITTI_K[0, 2]) / KITTI_K[0, 0] * 4.0, rel=1e-6)

    def test_matches_disparity_geometry_on_kitti(self, kitti2015_dir) -> None:
        import cv2

        raw = cv2.imread(str(kitti2015_dir / "disp_occ_0" / "000000_10.png"), cv2.IMREAD_UNCHANGED)
        disparity = np.where(raw > 0, raw / 256.0, np.nan)
        depth = disparity_to_depth(torch.from_numpy(disparity), KITTI_FX, KITTI_BASELINE_M).numpy()
        xyz, _ = depth_to_points(depth, KITTI_K)
        assert len(xyz) == np.count_nonzero(raw)
        # LiDAR GT lies in front of the car within KITTI's range; the camera is ~1.65 m above the road,
        # so the lowest points (road, y down) sit near y = +1.65 m.
        assert xyz[:, 2].min() > 5.0 and xyz[:, 2].max() < 90.0
        assert 1.4 < np.percentile(xyz[:, 1], 99) < 1.9
        # Re-projecting every point lands on its own pixel.
        u = KITTI_K[0, 0] * xyz[:, 0] / xyz[:, 2] + KITTI_K[0, 2]
        v = KITTI_K[1, 1] * xyz[:, 1] / xyz[:, 2] + KITTI_K[1, 2]
        v_idx, u_idx = np.nonzero(raw)
        np.testing.assert_allclose(u, u_idx, atol=1e-3)
        np.testing.assert_allclose(v, v_idx, atol=1e-3)

    def test_input_errors(self) -> None:
        with pytest.raises(ValueError, match="depth_m"):
            depth_to_points(np.ones((2, 2, 1)), KITTI_K)
        with pytest.raises(ValueError, match="rgb"):
            depth_to_points(np.ones((2, 2)), KITTI_K, np.zeros((2, 3, 3), np.uint8))
        with pytest.raises(ValueError, match="stride"):
            depth_to_points(np.ones((2, 2)), KITTI_K, stride=0)

