"""torch-sgm: the protocol, each SGM step on known values, synthetic scenes with known disparity, real data."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from depthviewer.backends import StereoBackend, backend_names, create_backend
from depthviewer.backends import _sgm_ops as ops
from depthviewer.backends.torch_sgm import TorchSgmBackend, TorchSgmParams
from depthviewer.compute.metrics import interpolate_background, kitti_disparity_metrics, middlebury_metrics
from depthviewer.errors import BackendError
from depthviewer.io.pfm import read_pfm


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch thread: on a shared 2-core machine, OpenMP threads that meet after each of SGM's ~20k small
    kernels were measured 5-10x slower than one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _as_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(image, 0, 255).astype(np.uint8)


def _texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Blurred noise: texture that a census window can match everywhere."""
    noise = rng.uniform(0, 255, (height, width, 3)).astype(np.float32)
    return cv2.GaussianBlur(noise, (0, 0), 1.0)


def _scene(rng, height=72, width=160, background_px=6, foreground_px=None, box=(20, 52, 70, 120)):
    """A rectified pair of textured fronto-parallel planes: background everywhere, optionally a foreground box.

    Returns left, right (uint8 RGB), the left GT disparity and the box (y0, y1, x0, x1) in left coordinates.
    """
    margin = 64 + max(background_px, foreground_px or 0)
    background = _texture(rng, height, width + 2 * margin)
    foreground = _texture(rng, height, width + 2 * margin)
    xs = np.arange(width)
    left = background[:, margin + xs].copy()
    right = background[:, margin + xs + background_px].copy()  # right(x) = left view's point at x + d
    gt = np.full((height, width), float(background_px), np.float32)
    if foreground_px is not None:
        y0, y1, x0, x1 = box
        left[y0:y1, x0:x1] = foreground[y0:y1, margin + np.arange(x0, x1)]
        seen = (xs + foreground_px >= x0) & (xs + foreground_px < x1)
        right[y0:y1][:, seen] = foreground[y0:y1][:, margin + xs[seen] + foreground_px]
        gt[y0:y1, x0:x1] = foreground_px
    return _as_uint8(left), _as_uint8(right), gt, box


def _shifted_pair(rng, disparity_px: float, height=64, width=160):
    """A textured plane at a sub-pixel disparity: the right view resampled from a wider texture."""
    margin = 64
    base = _texture(rng, height, width + 2 * margin)
    xs = np.tile(np.arange(width, dtype=np.float32), (height, 1))
    ys = np.tile(np.arange(height, dtype=np.float32)[:, None], (1, width))
    right = cv2.remap(base, xs + margin + disparity_px, ys, cv2.INTER_CUBIC)
    left = base[:, margin : margin + width]
    return _as_uint8(left), _as_uint8(right)


class TestProtocol:
    def test_listed_and_built_by_name(self):
        assert "torch-sgm" in backend_names()
        backend = create_backend("torch-sgm", device="cpu")
        assert isinstance(backend, StereoBackend)
        assert backend.name == "torch-sgm" and backend.kind == "stereo" and backend.device == "cpu"

    def test_prediction_has_both_views_and_a_confidence(self):
        left, right, _, _ = _scene(np.random.default_rng(0), height=40, width=90)
        backend = TorchSgmBackend(device="cpu", num_disparities=16)
        prediction = backend.predict(left, right)
        for disparity in (prediction.disparity_left_px, prediction.disparity_right_px):
            assert disparity.shape == (40, 90) and disparity.dtype == np.float32
        assert prediction.backend == "torch-sgm" and prediction.device == "cpu" and prediction.seconds > 0
        confidence = backend.last_confidence
        assert confidence.shape == (40, 90) and confidence.dtype == np.float32
        assert confidence.min() >= 0.0 and confidence.max() <= 1.0

    def test_default_device_is_the_projects(self):
        from depthviewer.compute.device import default_device, device_label

        assert TorchSgmBackend().device == device_label(default_device())


class TestParams:
    def test_defaults(self):
        p = TorchSgmParams()
        assert (p.num_disparities, p.paths, p.lr_tolerance_px, p.census_bits) == (128, 8, 1.0, 24)
        assert p.p1 < p.p2 and p.fill_holes and p.subpixel and p.median

    def test_256_disparities_run(self):
        left, right, gt, _ = _scene(np.random.default_rng(1), height=24, width=300, background_px=150)
        prediction = TorchSgmBackend(device="cpu", num_disparities=256).predict(left, right)
        assert np.median(np.abs(prediction.disparity_left_px[4:-4, 170:-4] - 150)) < 0.5

    @pytest.mark.parametrize("bad", [
        {"colour": 1}, {"paths": 6}, {"census_width": 4}, {"census_width": 11, "census_height": 7},
        {"p1": 50, "p2": 20}, {"p2": 5000}, {"num_disparities": 1}, {"uniqueness": 1.0}, {"outside_cost": 2.0},
    ])
    def test_bad_parameters_are_refused(self, bad):
        with pytest.raises(BackendError):
            TorchSgmBackend(device="cpu", **bad)

    def test_unknown_device_is_refused(self):
        with pytest.raises(BackendError, match="device"):
            TorchSgmBackend(device="no-such-device")

    def test_mismatched_sizes_are_refused(self):
        with pytest.raises(ValueError, match="differ in size"):
            TorchSgmBackend(device="cpu").predict(np.zeros((20, 40, 3), np.uint8), np.zeros((20, 41, 3), np.uint8))


class TestCensusCost:
    def test_census_bits_compare_each_window_pixel_with_the_centre(self):
        gray = torch.tensor(np.random.default_rng(2).uniform(0, 255, (7, 9)), dtype=torch.float32)
        code = ops.census_transform(gray, 3, 3, symmetric=False)
        expected = sum(int(gray[3 + dy, 4 + dx] > gray[3, 4]) << k
                       for k, (dy, dx) in enumerate(ops.census_offsets(3, 3, False)))
        assert int(code[3, 4]) == expected

    def test_cost_is_the_hamming_distance_and_outside_matches_get_the_outside_cost(self):
        rng = np.random.default_rng(3)
        left, right = (torch.tensor(rng.integers(0, 2**31 - 1, (4, 12)), dtype=torch.int32) for _ in range(2))
        volume = ops.census_cost_volume(left, right, 5, outside_cost=99, chunk_rows=3)
        for y, x, d in [(0, 0, 0), (1, 7, 3), (3, 11, 4), (2, 4, 4)]:
            assert int(volume[y, x, d]) == bin(int(left[y, x]) ^ int(right[y, x - d])).count("1")
        assert int(volume[0, 2, 3]) == 99 and int(volume[3, 0, 1]) == 99


class TestAggregation:
    @pytest.mark.parametrize("paths", [4, 8])
    def test_matches_the_recursion_pixel_by_pixel(self, paths):
        """Hirschmueller's eq. 13 written as plain loops, summed over the paths (eq. 14)."""
        rng = np.random.default_rng(4)
        rows, cols, depth, p1 = 6, 8, 5, 3
        cost = rng.integers(0, 25, (rows, cols, depth))
        gray = torch.tensor(rng.uniform(0, 255, (rows, cols)), dtype=torch.float32)
        directions = ops.DIRECTIONS_8 if paths == 8 else ops.DIRECTIONS_4
        p2 = ops.p2_maps(gray, directions, p1, 20, 8.0)
        expected = np.zeros_like(cost)
        for dy, dx in directions:
            path = np.zeros_like(cost)
            penalty = p2[(dy, dx)].numpy()
            for y in range(rows) if dy >= 0 else range(rows - 1, -1, -1):
                for x in range(cols) if dx >= 0 else range(cols - 1, -1, -1):
                    if not (0 <= y - dy < rows and 0 <= x - dx < cols):
                        path[y, x] = cost[y, x]
                        continue
                    prev = path[y - dy, x - dx]
                    for d in range(depth):
                        options = [prev[d], prev.min() + penalty[y, x]]
                        options += [prev[d - 1] + p1] if d > 0 else []
                        options += [prev[d + 1] + p1] if d < depth - 1 else []
                        path[y, x, d] = cost[y, x, d] + min(options) - prev.min()
            expected += path
        out = torch.zeros(rows, cols, depth, dtype=torch.int16)
        ops.aggregate_costs(torch.tensor(cost, dtype=torch.int16), p1, p2, paths, out)
        np.testing.assert_array_equal(out.numpy(), expected)

    def test_p2_falls_across_intensity_edges_but_not_below_p1(self):
        gray = torch.tensor([[0.0, 2.0, 30.0, 255.0]])  # steps 0 (border), 2, 28, 225 grey levels
        p2 = ops.p2_maps(gray, ((0, 1),), p1=10, p2=96, gradient_ref=8.0)[(0, 1)]
        assert p2.tolist() == [[96, 96, round(96 * 8 / 28), 10]]


class TestViewsAndFilters:
    def test_right_view_is_the_diagonal_of_the_left_volume(self):
        rows, cols, depth = 3, 7, 4
        padded = torch.full((rows, cols + depth, depth), ops.INT16_MAX, dtype=torch.int16)
        padded[:, :cols] = torch.randint(0, 500, (rows, cols, depth), dtype=torch.int16)
        right = ops.right_view(padded, cols)
        assert all(int(right[y, x, d]) == int(padded[y, x + d, d])
                   for y in range(rows) for x in range(cols) for d in range(depth))

    def test_winner_take_all_finds_the_minimum_and_a_parabola_vertex(self):
        volume = torch.tensor([[[9, 4, 2, 4, 9], [5, 5, 5, 5, 1], [9, 6, 2, 4, 9]]], dtype=torch.int16)
        disparity, best, second = ops.winner_take_all(volume, subpixel=True, runner_up=True)
        assert disparity[0, :2].tolist() == [2.0, 4.0]
        assert disparity[0, 2].item() == pytest.approx(2 + (6 - 4) / (2 * (6 + 4 - 4)))
        assert best[0].tolist() == [2.0, 1.0, 2.0] and second[0].tolist() == [9.0, 5.0, 9.0]

    def test_median_is_the_median(self):
        values = torch.rand(13, 17)
        padded = torch.nn.functional.pad(values[None, None], (1, 1, 1, 1), mode="replicate")
        expected = torch.nn.functional.unfold(padded, 3).median(dim=1).values.view(13, 17)
        torch.testing.assert_close(ops.median3(values), expected)

    def test_left_right_check(self):
        left = torch.tensor([[0.0, 1.0, 2.0, 3.0, 2.0, 2.0]])
        right = torch.tensor([[0.0, 9.0, 2.0, 9.0, 2.0, 2.0]])
        # x=1, 2, 3 match x=0 (right 0: off by 1, 2, 3 px), x=4 matches x=2 (agrees), x=5 matches x=3 (9 vs 2).
        assert ops.left_right_check(left, right, 1.0).tolist() == [[True, True, False, False, True, False]]
        assert not ops.left_right_check(torch.tensor([[3.0]]), torch.tensor([[3.0]]), 1.0).item()  # outside

    def test_small_segments_are_removed_and_large_ones_kept(self):
        disparity = torch.full((40, 60), 10.0)
        disparity[5:10, 5:10] = 30.0  # 25 px speckle
        disparity[20:35, 20:50] = 20.0  # 450 px segment
        disparity[:, 55:] = 100 + torch.arange(40.0)[:, None] * 3  # rows too far apart to join: 5 px segments
        valid = torch.ones(40, 60, dtype=torch.bool)
        kept = ops.remove_speckles(disparity, valid, max_size=100, max_step_px=2.0)
        assert not kept[5:10, 5:10].any() and kept[20:35, 20:50].all() and not kept[:, 55:].any()
        assert kept[0, :50].all()

    def test_background_fill_is_the_devkits_where_the_devkit_fills(self):
        rng = np.random.default_rng(5)
        disparity = torch.tensor(rng.uniform(0, 60, (30, 50)), dtype=torch.float32)
        valid = torch.tensor(rng.uniform(size=(30, 50)) > 0.4)
        valid[12] = False
        filled = ops.fill_background(disparity, valid).numpy()
        devkit = interpolate_background(np.where(valid.numpy(), disparity.numpy(), np.nan))
        known = np.isfinite(devkit)
        np.testing.assert_array_equal(filled[known], devkit[known])
        assert np.isfinite(filled).all() and not known[12].any()


@pytest.fixture(scope="module")
def box_scene():
    left, right, gt, box = _scene(np.random.default_rng(7), background_px=6, foreground_px=18)
    backend = TorchSgmBackend(device="cpu", num_disparities=32)
    return backend.predict(left, right), backend.last_confidence, gt, box


class TestSyntheticScenes:
    @pytest.mark.parametrize("disparity_px", [7.0, 11.5, 13.25])
    def test_a_plane_is_recovered_to_half_a_pixel(self, disparity_px):
        left, right = _shifted_pair(np.random.default_rng(6), disparity_px)
        prediction = TorchSgmBackend(device="cpu", num_disparities=32).predict(left, right)
        inner = (slice(4, -4), slice(24, -4))  # away from the borders and the unmatched left columns
        assert np.abs(prediction.disparity_left_px[inner] - disparity_px).max() < 0.5
        assert np.abs(prediction.disparity_right_px[4:-4, 4:-24] - disparity_px).max() < 0.5

    def test_a_box_in_front_of_a_plane_is_recovered_away_from_its_edges(self, box_scene):
        prediction, _, gt, (y0, y1, x0, x1) = box_scene
        away = np.zeros_like(gt, dtype=bool)
        away[4:-4, 24:-4] = True
        edges = np.zeros_like(away)
        edges[y0 - 4 : y1 + 4, x0 - 12 - 4 : x1 + 4] = True  # the box, its occluded strip, and a border
        edges[y0 + 4 : y1 - 4, x0 + 4 : x1 - 4] = False  # but the box's inside counts
        error = np.abs(prediction.disparity_left_px - gt)[away & ~edges]
        assert error.max() < 0.5

    def test_occluded_pixels_are_invalid_in_the_confidence(self, box_scene):
        _, confidence, _, (y0, y1, x0, x1) = box_scene
        occluded = confidence[y0 + 2 : y1 - 2, x0 - 12 : x0]  # seen by the left camera only: 18 - 6 px wide
        visible = confidence[y0 + 4 : y1 - 4, x0 + 4 : x1 - 4]
        assert (occluded == 0).mean() > 0.9
        assert (visible > 0).mean() > 0.95

    def test_holes_are_filled_to_full_density_and_left_as_nan_when_asked(self, box_scene):
        prediction, confidence, _, _ = box_scene
        assert np.isfinite(prediction.disparity_left_px).all() and np.isfinite(prediction.disparity_right_px).all()
        left, right, _, _ = _scene(np.random.default_rng(7), background_px=6, foreground_px=18)
        sparse = TorchSgmBackend(device="cpu", num_disparities=32, fill_holes=False).predict(left, right)
        np.testing.assert_array_equal(np.isnan(sparse.disparity_left_px), confidence == 0)

    def test_chunking_gives_the_same_result_as_none(self):
        left, right, _, _ = _scene(np.random.default_rng(8), background_px=5, foreground_px=14)
        whole = TorchSgmBackend(device="cpu", num_disparities=24, chunk_rows=10_000)
        chunked = TorchSgmBackend(device="cpu", num_disparities=24, chunk_rows=5)
        a, b = whole.predict(left, right), chunked.predict(left, right)
        np.testing.assert_array_equal(a.disparity_left_px, b.disparity_left_px)
        np.testing.assert_array_equal(a.disparity_right_px, b.disparity_right_px)
        np.testing.assert_array_equal(whole.last_confidence, chunked.last_confidence)


def _rgb(path) -> np.ndarray:
    return np.ascontiguousarray(cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1])


class TestOnRealData:
    """The shared frames, scored as the benchmarks do at full density, against the tuned SGBM on the same frame."""

    def test_kitti_d1_all_is_below_sgbm(self, kitti2015_dir):
        left = _rgb(kitti2015_dir / "image_2" / "000000_10.png")
        right = _rgb(kitti2015_dir / "image_3" / "000000_10.png")
        gt = cv2.imread(str(kitti2015_dir / "disp_occ_0" / "000000_10.png"), cv2.IMREAD_UNCHANGED) / 256.0
        gt[gt == 0] = np.nan
        ours = kitti_disparity_metrics(TorchSgmBackend().predict(left, right).disparity_left_px, gt)
        sgbm = kitti_disparity_metrics(create_backend("sgbm").predict(left, right).disparity_left_px, gt)
        assert ours["density"] == 100.0
        assert ours["d1_all"] < sgbm["d1_all"]  # 7.36% against 8.03% when written

    def test_middlebury_bad2_is_below_sgbm(self, middlebury_dir):
        left, right = _rgb(middlebury_dir / "im0.png"), _rgb(middlebury_dir / "im1.png")
        gt = read_pfm(middlebury_dir / "disp0GT.pfm")
        gt[~np.isfinite(gt)] = np.nan
        ours = middlebury_metrics(TorchSgmBackend(num_disparities=96).predict(left, right).disparity_left_px, gt)
        sgbm_prediction = create_backend("sgbm", num_disparities=96, block_size=3).predict(left, right)
        sgbm = middlebury_metrics(sgbm_prediction.disparity_left_px, gt)
        assert ours["density"] == 100.0
        assert ours["bad2"] < sgbm["bad2"]  # 7.83% against 8.74% when written


def test_the_prediction_carries_the_confidence_for_the_app():
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (40, 100, 3), dtype=np.uint8)
    left, right = np.ascontiguousarray(texture[:, :80]), np.ascontiguousarray(texture[:, 6:86])
    backend = TorchSgmBackend(num_disparities=16)
    prediction = backend.predict(left, right)
    assert prediction.confidence is backend.last_confidence
    assert prediction.confidence.shape == (40, 80) and 0.0 <= prediction.confidence.min() <= 1.0
