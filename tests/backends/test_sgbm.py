"""SGBM backend: the protocol, the tuned configuration's accuracy on real KITTI, and both disparities."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from depthviewer.backends import StereoBackend, backend_names, create_backend
from depthviewer.backends.sgbm import SgbmBackend, SgbmParams
from depthviewer.compute.metrics import kitti_disparity_metrics
from depthviewer.errors import BackendError


def _rgb(path) -> np.ndarray:
    return np.ascontiguousarray(cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1])


@pytest.fixture(scope="module")
def kitti_prediction(kitti2015_dir):
    left = _rgb(kitti2015_dir / "image_2" / "000000_10.png")
    right = _rgb(kitti2015_dir / "image_3" / "000000_10.png")
    gt = cv2.imread(str(kitti2015_dir / "disp_occ_0" / "000000_10.png"), cv2.IMREAD_UNCHANGED) / 256.0
    gt[gt == 0] = np.nan
    return create_backend("sgbm").predict(left, right), gt.astype(np.float32)


class TestRegistry:
    def test_sgbm_is_listed_and_follows_the_protocol(self):
        assert "sgbm" in backend_names()
        backend = create_backend("sgbm")
        assert isinstance(backend, StereoBackend)
        assert backend.kind == "stereo" and backend.device == "cpu"

    def test_unknown_backend_is_refused_with_the_choices(self):
        with pytest.raises(BackendError, match="available: sgbm"):
            create_backend("nope")


class TestParams:
    def test_defaults_are_the_tuned_configuration(self):
        p = SgbmParams()
        assert (p.num_disparities, p.block_size, p.disp12_max_diff, p.pre_filter_cap) == (128, 7, 1, 63)
        assert (p.uniqueness_ratio, p.speckle_window_size, p.speckle_range, p.mode) == (10, 100, 2, "sgbm3way")
        assert p.pad_left

    @pytest.mark.parametrize("bad", [{"num_disparities": 100}, {"block_size": 4}, {"mode": "fast"}, {"colour": 1}])
    def test_bad_parameters_are_refused(self, bad):
        with pytest.raises(BackendError):
            SgbmBackend(**bad)

    def test_mismatched_sizes_are_refused(self):
        with pytest.raises(ValueError, match="differ in size"):
            create_backend("sgbm").predict(np.zeros((20, 40, 3), np.uint8), np.zeros((20, 41, 3), np.uint8))


class TestOnKitti:
    def test_d1_all_is_below_12_percent(self, kitti_prediction):
        prediction, gt = kitti_prediction
        metrics = kitti_disparity_metrics(prediction.disparity_left_px, gt)
        assert metrics["d1_all"] < 12.0
        assert metrics["d1_est"] <= metrics["d1_all"] + 1.0
        assert 80.0 < metrics["density"] <= 100.0

    def test_left_padding_gives_estimates_in_the_first_columns(self, kitti_prediction):
        prediction, _ = kitti_prediction
        first_columns = prediction.disparity_left_px[:, :128]
        assert np.isfinite(first_columns).mean() > 0.5

    def test_right_disparity_agrees_with_the_left(self, kitti_prediction):
        prediction, _ = kitti_prediction
        d_left, d_right = prediction.disparity_left_px, prediction.disparity_right_px
        assert d_right.shape == d_left.shape and d_right.dtype == np.float32
        h, w = d_left.shape
        ys, xs = np.nonzero(np.isfinite(d_left))
        xr = np.round(xs - d_left[ys, xs]).astype(int)
        inside = (xr >= 0) & (xr < w)
        matched = d_right[ys[inside], xr[inside]]
        diff = np.abs(matched - d_left[ys[inside], xs[inside]])
        assert np.nanmedian(diff) < 0.5
