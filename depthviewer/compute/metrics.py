"""Benchmark metrics for disparity (KITTI, Middlebury) and depth (Eigen), on numpy maps with NaN = missing.

Each function reproduces its benchmark's published definition (../shared/REFERENCE.md, "Metrics") so the app's
numbers can be put beside a leaderboard's or a paper's.
"""

from __future__ import annotations

import numpy as np

KITTI_ABS_THRESH_PX = 3.0
KITTI_REL_THRESH = 0.05
MIDDLEBURY_BAD_THRESHOLDS_PX = (0.5, 1.0, 2.0, 4.0)
# Garg et al.'s crop as fractions of the image size, used by Monodepth / Monodepth2's evaluate_depth.py.
GARG_CROP = (0.40810811, 0.99189189, 0.03594771, 0.96405229)


def _check_pair(est: np.ndarray, gt: np.ndarray, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Both maps as float arrays of one (H, W) shape, or a ValueError that names them."""
    est, gt = np.asarray(est), np.asarray(gt)
    if est.ndim != 2 or est.shape != gt.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must be (H, W) maps of one shape, got {est.shape} and {gt.shape}"
        )
    return est.astype(np.float64, copy=False), gt.astype(np.float64, copy=False)


def _has_estimate(disparity: np.ndarray) -> np.ndarray:
    """Where a disparity counts as estimated: finite and >= 0, the devkit's ``isValid`` on a float map."""
    valid = np.isfinite(disparity)
    valid[valid] = disparity[valid] >= 0
    return valid


def _percent(flags: np.ndarray) -> float:
    """Percentage of True in ``flags``; NaN when there is nothing to count."""
    return float(100.0 * flags.mean()) if flags.size else float("nan")


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else float("nan")


def interpolate_background(disparity_px: np.ndarray) -> np.ndarray:
    """Fill missing disparities as the KITTI devkit does before scoring (``interpolateBackground``, io_disp.h).

    Per row, a gap between two estimates takes the smaller of the two (the background, so a hole never
    fattens the foreground); gaps at the row's ends copy the nearest estimate. Then per column, rows above the
    first and below the last filled pixel copy it. A row with no estimate between filled rows stays missing.

    Args:
        disparity_px: (H, W) disparity, NaN (or negative, as in the devkit) = missing.

    Returns:
        (H, W) filled copy, float (the input's float dtype, else float64); NaN where still missing.
    """
    d = np.asarray(disparity_px)
    if d.ndim != 2:
        raise ValueError(f"disparity_px must have shape (H, W), got {d.shape}")
    if not np.issubdtype(d.dtype, np.floating):
        d = d.astype(np.float64)
    height, width = d.shape
    values = np.where(_has_estimate(d), d, np.nan).astype(d.dtype)

    # Row pass: for every pixel the nearest estimate at or left of it, and at or right of it.
    cols = np.arange(width)
    rows = np.arange(height)[:, None]
    has = ~np.isnan(values)
    prev = np.maximum.accumulate(np.where(has, cols, -1), axis=1)
    nxt = np.minimum.accumulate(np.where(has, cols, width)[:, ::-1], axis=1)[:, ::-1]
    left = np.where(prev >= 0, values[rows, np.clip(prev, 0, width - 1)], np.nan)
    right = np.where(nxt < width, values[rows, np.clip(nxt, 0, width - 1)], np.nan)
    # fmin ignores a NaN side: interior gap -> min of both, leading / trailing gap -> the one neighbour.
    filled = np.fmin(left, right)

    # Column pass: only the ends of each column are extrapolated; interior empty rows stay empty.
    has = ~np.isnan(filled)
    any_in_col = has.any(axis=0)
    first = np.argmax(has, axis=0)
    last = height - 1 - np.argmax(has[::-1], axis=0)
    top = filled[first, cols]
    bottom = filled[last, cols]
    filled = np.where(any_in_col & (rows < first), top, filled)
    filled = np.where(any_in_col & (rows > last), bottom, filled)
    return filled.astype(d.dtype, copy=False)


def kitti_disparity_metrics(est_px: np.ndarray, gt_px: np.ndarray) -> dict[str, float]:
    """KITTI 2015 stereo metrics of an estimate against ground truth, as the devkit computes them.

    A pixel is a D1 outlier when |d - gt| > 3 px and |d - gt| / gt > 5%. Missing estimates are filled by
    `interpolate_background` first; a pixel still missing after that counts as an outlier (and as bad-2).

    Args:
        est_px: (H, W) estimated disparity, NaN = missing.
        gt_px: (H, W) ground-truth disparity; GT pixels are those finite and > 0.

    Returns:
        ``d1_all`` (% outliers over GT pixels), ``d1_est`` (% over GT pixels with an original estimate),
        ``epe`` (mean |d - gt| over GT pixels with a filled estimate, px), ``bad2`` (% with |d - gt| > 2),
        ``density`` (% of GT pixels with an original estimate). NaN where a pixel set is empty.
    """
    est, gt = _check_pair(est_px, gt_px, ("est_px", "gt_px"))
    gt_mask = np.isfinite(gt)
    gt_mask[gt_mask] = gt[gt_mask] > 0
    estimated = _has_estimate(est)[gt_mask]
    gt_vals = gt[gt_mask]
    err = np.abs(interpolate_background(est)[gt_mask] - gt_vals)
    known = np.isfinite(err)
    with np.errstate(invalid="ignore"):
        outlier = ~known | ((err > KITTI_ABS_THRESH_PX) & (err / gt_vals > KITTI_REL_THRESH))
        bad2 = ~known | (err > 2.0)
    return {
        "d1_all": _percent(outlier),
        "d1_est": _percent(outlier[estimated]),
        "epe": _mean(err[known]),
        "bad2": _percent(bad2),
        "density": _percent(estimated),
    }


def middlebury_metrics(est_px: np.ndarray, gt_px: np.ndarray, mask: np.ndarray | None = None) -> dict[str, float]:
    """Middlebury 2014 stereo metrics: bad-delta percentages, average and RMS error.

    Missing estimates are filled by `interpolate_background`; a pixel still missing counts as bad.

    Args:
        est_px: (H, W) estimated disparity, NaN = missing.
        gt_px: (H, W) ground truth; GT pixels are the finite ones (Middlebury stores inf for unknown).
        mask: optional (H, W) bool, True where to evaluate (e.g. ``mask0nocc.png == 255`` for non-occluded).

    Returns:
        ``bad0.5``, ``bad1``, ``bad2``, ``bad4`` (% with |d - gt| > delta), ``avgerr`` and ``rms`` (px, over pixels
        with a filled estimate), ``density`` (% of evaluated pixels with an original estimate).
    """
    est, gt = _check_pair(est_px, gt_px, ("est_px", "gt_px"))
    evaluate = np.isfinite(gt)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != gt.shape or mask.dtype != np.bool_:
            # A uint8 mask (255 / 128 / 0) would silently count occluded pixels: insist on a decision.
            raise ValueError(f"mask must be a bool array of shape {gt.shape}, got {mask.dtype} {mask.shape}")
        evaluate &= mask
    err = np.abs(interpolate_background(est)[evaluate] - gt[evaluate])
    known = np.isfinite(err)
    result: dict[str, float] = {}
    with np.errstate(invalid="ignore"):
        for delta in MIDDLEBURY_BAD_THRESHOLDS_PX:
            result[f"bad{delta:g}"] = _percent(~known | (err > delta))
    result["avgerr"] = _mean(err[known])
    result["rms"] = float(np.sqrt(_mean(err[known] ** 2)))
    result["density"] = _percent(_has_estimate(est)[evaluate])
    return result


def eigen_mask(pred: np.ndarray, gt: np.ndarray, min_depth: float, max_depth: float, garg_crop: bool) -> np.ndarray:
    """The pixels the Eigen metrics score: GT in (min_depth, max_depth), a prediction, optionally the Garg crop
    (rows 0.408-0.992 H, columns 0.036-0.964 W, truncated to integers as Monodepth2 does)."""
    with np.errstate(invalid="ignore"):
        mask = (gt > min_depth) & (gt < max_depth) & ~np.isnan(pred)
    if garg_crop:
        height, width = gt.shape
        top, bottom, left, right = (np.array(GARG_CROP) * [height, height, width, width]).astype(np.int32)
        crop = np.zeros_like(mask)
        crop[top:bottom, left:right] = True
        mask &= crop
    return mask


def depth_metrics(
    pred_m: np.ndarray,
    gt_m: np.ndarray,
    min_depth: float = 1e-3,
    max_depth: float = 80.0,
    garg_crop: bool = False,
    median_scaling: bool = False,
) -> dict[str, float]:
    """Eigen et al.'s depth metrics, exactly as Monodepth2's ``evaluate_depth.py`` computes them.

    Pixels: min_depth < gt < max_depth (and inside the Garg crop when asked), where pred is not NaN.
    Pred is multiplied by median(gt) / median(pred) when ``median_scaling`` (mono-trained models), then
    clamped to [min_depth, max_depth].

    Args:
        pred_m: (H, W) predicted depth in metres.
        gt_m: (H, W) ground-truth depth in metres, NaN / 0 = missing.

    Returns:
        ``abs_rel``, ``sq_rel``, ``rmse`` (m), ``rmse_log``, ``a1``, ``a2``, ``a3`` (% with
        max(gt/p, p/gt) < 1.25, 1.25^2, 1.25^3), ``scale`` (the median ratio used, 1.0 without scaling).
        NaN everywhere when no pixel qualifies.
    """
    pred, gt = _check_pair(pred_m, gt_m, ("pred_m", "gt_m"))
    mask = eigen_mask(pred, gt, min_depth, max_depth, garg_crop)
    keys = ("abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3")
    if not mask.any():
        return {**{k: float("nan") for k in keys}, "scale": float("nan") if median_scaling else 1.0}

    p, g = pred[mask], gt[mask]
    scale = float(np.median(g) / np.median(p)) if median_scaling else 1.0
    p = np.clip(p * scale, min_depth, max_depth)
    thresh = np.maximum(g / p, p / g)
    return {
        "abs_rel": float(np.mean(np.abs(g - p) / g)),
        "sq_rel": float(np.mean((g - p) ** 2 / g)),
        "rmse": float(np.sqrt(np.mean((g - p) ** 2))),
        "rmse_log": float(np.sqrt(np.mean((np.log(g) - np.log(p)) ** 2))),
        "a1": 100.0 * float(np.mean(thresh < 1.25)),
        "a2": 100.0 * float(np.mean(thresh < 1.25**2)),
        "a3": 100.0 * float(np.mean(thresh < 1.25**3)),
        "scale": scale,
    }
