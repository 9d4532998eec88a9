"""Tests for depthviewer.compute.metrics: KITTI background filling, KITTI / Middlebury / Eigen metrics."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from depthviewer.compute.metrics import (
    depth_metrics,
    interpolate_background,
    kitti_disparity_metrics,
    middlebury_metrics,
)

NAN = np.nan


def devkit_interpolate_background(disparity: np.ndarray) -> np.ndarray:
    """Line-by-line port of ``DisparityImage::interpolateBackground`` (KITTI devkit, io_disp.h).

    The devkit marks a missing disparity with -1 and tests ``isValid`` as ``d >= 0``.
    """
    D = np.where(np.isfinite(disparity), disparity, -1.0).astype(np.float64)
    height_, width_ = D.shape

    def isValid(u: int, v: int) -> bool:
        return D[v, u] >= 0

    for v in range(height_):
        count = 0
        for u in range(width_):
            if isValid(u, v):
                if count >= 1:
                    u1 = u - count
                    u2 = u - 1
                    if u1 > 0 and u2 < width_ - 1:
                        d_ipol = min(D[v, u1 - 1], D[v, u2 + 1])
                        for u_curr in range(u1, u2 + 1):
                            D[v, u_curr] = d_ipol
                count = 0
            else:
                count += 1
        for u in range(width_):  # extrapolate to the left
            if isValid(u, v):
                for u2 in range(u):
                    D[v, u2] = D[v, u]
                break
        for u in range(width_ - 1, -1, -1):  # extrapolate to the right
            if isValid(u, v):
                for u2 in range(u + 1, width_):
                    D[v, u2] = D[v, u]
                break
    for u in range(width_):
        for v in range(height_):  # extrapolate to the top
            if isValid(u, v):
                for v2 in range(v):
                    D[v2, u] = D[v, u]
                break
        for v in range(height_ - 1, -1, -1):  # extrapolate to the bottom
            if isValid(u, v):
                for v2 in range(v + 1, height_):
                    D[v2, u] = D[v, u]
                break
    return np.where(D >= 0, D, np.nan)


def _kitti_gt(root: Path) -> np.ndarray:
    raw = cv2.imread(str(root / "disp_occ_0" / "000000_10.png"), cv2.IMREAD_UNCHANGED)
    return np.where(raw > 0, raw / 256.0, np.nan)


def _read_pfm(path: Path) -> np.ndarray:
    """Middlebury PFM (greyscale 'Pf'): rows stored bottom-to-top, negative scale = little-endian; inf -> NaN."""
    with open(path, "rb") as f:
        assert f.readline().strip() == b"Pf"
        width, height = map(int, f.readline().split())
        scale = float(f.readline())
        data = np.fromfile(f, dtype="<f4" if scale < 0 else ">f4", count=width * height)
    data = np.flipud(data.reshape(height, width)).astype(np.float64)
    return np.where(np.isfinite(data), data, np.nan)


class TestInterpolateBackground:
    def test_known_values(self) -> None:
        d = np.array(
            [
                [NAN, 5.0, NAN, NAN, 9.0, NAN],  # leading, interior (min of 5 and 9), trailing
                [NAN, NAN, NAN, NAN, NAN, NAN],  # empty row between filled rows: stays empty
                [1.0, NAN, 3.0, 2.0, NAN, 7.0],
                [NAN, NAN, NAN, NAN, NAN, NAN],  # below the last filled row: copied from above
            ]
        )
        expected = np.array(
            [
                [5.0, 5.0, 5.0, 5.0, 9.0, 9.0],
                [NAN, NAN, NAN, NAN, NAN, NAN],
                [1.0, 1.0, 3.0, 2.0, 2.0, 7.0],
                [1.0, 1.0, 3.0, 2.0, 2.0, 7.0],
            ]
        )
        np.testing.assert_array_equal(interpolate_background(d), expected)

    def test_top_rows_copy_the_first_filled_row(self) -> None:
        d = np.array([[NAN, NAN], [NAN, NAN], [4.0, NAN]])
        np.testing.assert_array_equal(interpolate_background(d), np.full((3, 2), 4.0))

    def test_all_missing_stays_missing(self) -> None:
        assert np.isnan(interpolate_background(np.full((3, 4), NAN))).all()

    def test_negative_counts_as_missing_and_input_is_untouched(self) -> None:
        d = np.array([[2.0, -1.0, 6.0]], dtype=np.float32)
        out = interpolate_background(d)
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out, [[2.0, 2.0, 6.0]])
        assert d[0, 1] == -1.0

    def test_integer_input(self) -> None:
        out = interpolate_background(np.array([[3, -1, 5]]))
        assert out.dtype == np.float64 and out.tolist() == [[3.0, 3.0, 5.0]]

    @pytest.mark.parametrize("seed", range(6))
    def test_matches_devkit_loop_port(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        height, width = rng.integers(1, 30, size=2)
        d = rng.uniform(0.0, 100.0, (height, width))
        d[rng.random((height, width)) > rng.uniform(0.02, 0.9)] = NAN
        d[rng.random(height) < 0.2] = NAN  # whole empty rows exercise the column pass
        d[:, rng.random(width) < 0.1] = NAN
        d[rng.random((height, width)) < 0.03] = -1.0
        np.testing.assert_array_equal(interpolate_background(d), devkit_interpolate_background(d))

    def test_matches_devkit_on_kitti_lidar_gt(self, kitti2015_dir: Path) -> None:
        gt = _kitti_gt(kitti2015_dir)[100:220, 300:480]  # sparse LiDAR rows, with empty rows above
        np.testing.assert_array_equal(interpolate_background(gt), devkit_interpolate_background(gt))

    def test_shape_error(self) -> None:
        with pytest.raises(ValueError, match=r"\(H, W\)"):
            interpolate_background(np.ones((2, 2, 1)))


class TestKittiDisparityMetrics:
    def test_hand_computed(self) -> None:
        gt = np.array([[10.0, 50.0, 0.0, 20.0], [40.0, 100.0, 8.0, 30.0]])
        est = np.array([[10.5, 52.6, 7.0, NAN], [44.0, 104.0, 12.0, 30.0]])
        # 7 GT pixels. est (0,3) is filled with 7 (trailing gap), error 13 > 3 and 65% -> outlier.
        # Errors: 0.5, 2.6, 13 | 4 (10%: outlier), 4 (4%: not an outlier), 4 (50%: outlier), 0.
        m = kitti_disparity_metrics(est, gt)
        assert m["d1_all"] == pytest.approx(100 * 3 / 7)
        assert m["d1_est"] == pytest.approx(100 * 2 / 6)
        assert m["epe"] == pytest.approx(28.1 / 7)
        assert m["bad2"] == pytest.approx(100 * 5 / 7)
        assert m["density"] == pytest.approx(100 * 6 / 7)

    def test_both_thresholds_are_strict(self) -> None:
        # |err| = 3 exactly is not > 3; 5% exactly (3.5 / 70) is not > 5%.
        m = kitti_disparity_metrics(np.array([[13.0, 73.5]]), np.array([[10.0, 70.0]]))
        assert m["d1_all"] == 0.0

    def test_missing_after_filling_is_an_outlier(self) -> None:
        gt = np.array([[10.0, 10.0], [10.0, 10.0], [10.0, 10.0]])
        est = np.array([[10.0, 10.0], [NAN, NAN], [10.0, 10.0]])  # the empty middle row stays empty
        m = kitti_disparity_metrics(est, gt)
        assert m["d1_all"] == pytest.approx(100 * 2 / 6) and m["d1_est"] == 0.0
        assert m["bad2"] == pytest.approx(100 * 2 / 6) and m["epe"] == 0.0
        assert m["density"] == pytest.approx(100 * 4 / 6)

    def test_no_estimate_at_all(self) -> None:
        m = kitti_disparity_metrics(np.full((2, 2), NAN), np.full((2, 2), 5.0))
        assert m["d1_all"] == 100.0 and m["bad2"] == 100.0 and m["density"] == 0.0
        assert math.isnan(m["d1_est"]) and math.isnan(m["epe"])

    def test_real_gt_against_itself_and_shifted(self, kitti2015_dir: Path) -> None:
        gt = _kitti_gt(kitti2015_dir)
        m = kitti_disparity_metrics(gt, gt)
        assert m == {"d1_all": 0.0, "d1_est": 0.0, "epe": 0.0, "bad2": 0.0, "density": 100.0}
        # GT spans 4.6-64 px: +4 px is > 3 px and > 5% (4 / 64 = 6.25%) everywhere.
        assert kitti_disparity_metrics(gt + 4.0, gt)["d1_all"] == 100.0
        shifted = kitti_disparity_metrics(gt + 2.5, gt)
        assert shifted["d1_all"] == 0.0 and shifted["bad2"] == 100.0
        assert shifted["epe"] == pytest.approx(2.5)

    def test_real_sparse_estimate_is_filled(self, kitti2015_dir: Path) -> None:
        gt = _kitti_gt(kitti2015_dir)
        est = gt.copy()
        est[:, 1::2] = NAN  # every other column missing
        m = kitti_disparity_metrics(est, gt)
        assert 45.0 < m["density"] < 55.0
        assert m["d1_est"] == 0.0
        # Background filling puts the far neighbour into each hole: a few outliers at depth edges only.
        assert 0.0 < m["d1_all"] < 5.0

    def test_shape_error(self) -> None:
        with pytest.raises(ValueError, match="est_px and gt_px"):
            kitti_disparity_metrics(np.ones((2, 3)), np.ones((3, 2)))


class TestMiddleburyMetrics:
    GT = np.array([[10.0, 20.0, np.inf], [30.0, 40.0, 50.0]])
    EST = np.array([[10.4, NAN, 5.0], [31.5, 42.5, 45.0]])

    def test_hand_computed(self) -> None:
        # The hole at (0, 1) takes min(10.4, 5) = 5; errors 0.4, 15, 1.5, 2.5, 5 over the 5 finite GT pixels.
        m = middlebury_metrics(self.EST, self.GT)
        assert m["bad0.5"] == pytest.approx(80.0) and m["bad1"] == pytest.approx(80.0)
        assert m["bad2"] == pytest.approx(60.0) and m["bad4"] == pytest.approx(40.0)
        assert m["avgerr"] == pytest.approx(24.4 / 5)
        assert m["rms"] == pytest.approx(math.sqrt((0.16 + 225 + 2.25 + 6.25 + 25) / 5))
        assert m["density"] == pytest.approx(80.0)

    def test_mask(self) -> None:
        mask = np.array([[True, False, True], [True, True, False]])
        m = middlebury_metrics(self.EST, self.GT, mask)  # pixels (0,0), (1,0), (1,1): errors 0.4, 1.5, 2.5
        assert m["bad0.5"] == pytest.approx(200 / 3) and m["bad2"] == pytest.approx(100 / 3)
        assert m["bad4"] == 0.0 and m["avgerr"] == pytest.approx(4.4 / 3) and m["density"] == 100.0

    def test_rejects_non_bool_mask(self) -> None:
        with pytest.raises(ValueError, match="bool"):
            middlebury_metrics(self.EST, self.GT, np.full((2, 3), 255, np.uint8))

    def test_real_gt_shifted(self, middlebury_dir: Path) -> None:
        gt = _read_pfm(middlebury_dir / "disp0GT.pfm")
        nocc = cv2.imread(str(middlebury_dir / "mask0nocc.png"), cv2.IMREAD_GRAYSCALE) == 255
        assert gt.shape == nocc.shape == (497, 741)
        assert 0.95 < np.isfinite(gt).mean() < 1.0 and 9.0 < np.nanmin(gt) and np.nanmax(gt) < 64.0
        m = middlebury_metrics(gt + 0.75, gt, nocc)
        assert m["bad0.5"] == 100.0 and m["bad1"] == 0.0 and m["density"] == 100.0
        assert m["avgerr"] == pytest.approx(0.75, abs=1e-5) and m["rms"] == pytest.approx(0.75, abs=1e-5)


class TestDepthMetrics:
    def test_hand_computed(self) -> None:
        gt = np.array([[2.0, 4.0, 10.0, 0.0, 100.0]])  # 0 = missing, 100 m is beyond max_depth
        pred = np.array([[1.0, 4.0, 12.5, 5.0, 50.0]])
        m = depth_metrics(pred, gt)
        assert m["abs_rel"] == pytest.approx((0.5 + 0.0 + 0.25) / 3)
        assert m["sq_rel"] == pytest.approx((0.5 + 0.0 + 0.625) / 3)
        assert m["rmse"] == pytest.approx(math.sqrt(7.25 / 3))
        assert m["rmse_log"] == pytest.approx(math.sqrt((math.log(2) ** 2 + math.log(1.25) ** 2) / 3))
        # Ratios 2, 1, 1.25: the threshold is strict, so 1.25 fails a1.
        assert m["a1"] == pytest.approx(100 / 3) and m["a2"] == pytest.approx(200 / 3)
        assert m["a3"] == pytest.approx(200 / 3) and m["scale"] == 1.0

    def test_median_scaling(self) -> None:
        gt = np.array([[2.0, 4.0, 10.0]])
        m = depth_metrics(gt / 2, gt, median_scaling=True)
        assert m["scale"] == pytest.approx(2.0) and m["abs_rel"] == pytest.approx(0.0) and m["a1"] == 100.0

    def test_prediction_is_clamped(self) -> None:
        m = depth_metrics(np.array([[200.0, 0.0]]), np.array([[50.0, 1.0]]))
        # 200 -> 80 (error 30 / 50), 0 -> 1e-3 (error 0.999 / 1).
        assert m["abs_rel"] == pytest.approx((0.6 + 0.999) / 2)

    def test_garg_crop_bounds(self) -> None:
        gt = np.full((100, 200), 10.0)
        # Rows int(0.40810811 * 100) = 40 .. int(0.99189189 * 100) = 99 (exclusive),
        # cols int(0.03594771 * 200) = 7 .. int(0.96405229 * 200) = 192 (exclusive).
        cases = [(39, 50, False), (40, 50, True), (98, 50, True), (99, 50, False)]
        cases += [(50, 6, False), (50, 7, True), (50, 191, True), (50, 192, False)]
        for row, col, inside in cases:
            pred = gt.copy()
            pred[row, col] = 20.0
            m = depth_metrics(pred, gt, garg_crop=True)
            assert (m["abs_rel"] > 0) == inside, (row, col)
            assert depth_metrics(pred, gt)["abs_rel"] > 0

    def test_nan_prediction_is_skipped_and_empty_gives_nan(self) -> None:
        m = depth_metrics(np.array([[NAN, 4.0]]), np.array([[4.0, 4.0]]))
        assert m["abs_rel"] == 0.0
        empty = depth_metrics(np.ones((2, 2)), np.zeros((2, 2)), median_scaling=True)
        assert all(math.isnan(v) for v in empty.values())

    def test_real_kitti_depth_from_gt_disparity(self, kitti2015_dir: Path) -> None:
        # Depth from GT disparity vs itself, scaled by 0.5: median scaling recovers exactly 2x.
        gt = 721.5377 * 0.5327 / _kitti_gt(kitti2015_dir)
        m = depth_metrics(0.5 * gt, gt, garg_crop=True, median_scaling=True)
        assert m["scale"] == pytest.approx(2.0) and m["abs_rel"] == pytest.approx(0.0, abs=1e-12)
        assert m["a1"] == 100.0
        raw = depth_metrics(0.5 * gt, gt, garg_crop=True)
        assert raw["abs_rel"] == pytest.approx(0.5) and raw["a1"] == 0.0

    def test_shape_error(self) -> None:
        with pytest.raises(ValueError, match="pred_m and gt_m"):
            depth_metrics(np.ones((2, 3)), np.ones((2, 2)))
