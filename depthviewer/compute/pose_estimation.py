"""Relative pose between two views from image features: essential matrix, and PnP when the target has depth.

Classical, CPU-only (OpenCV): SIFT features, Lowe's ratio test, a robust (MAGSAC++) essential matrix whose
inliers feed either `cv2.recoverPose` (rotation and a unit translation) or, with a target depth map,
`cv2.solvePnPRansac` on the target points lifted to 3D (a metric pose). Both OpenCV results map points from
the first view's frame into the second's, so with the target as the first view they are T_source<-target.
"""

from __future__ import annotations

import cv2
import numpy as np

from depthviewer.errors import DepthViewerError
from depthviewer.types import RelativePose

MIN_MATCHES = 15
RATIO_TEST = 0.75
RANSAC_THRESHOLD_PX = 1.0
PNP_REPROJECTION_PX = 2.0
_MAX_FEATURES = 4000
# MAGSAC++ scores inliers by a marginalised threshold: on a ray-cast test scene its translation direction was
# 1 deg off where plain RANSAC's was 2-4 deg off, depending on the threshold.
_ROBUST = getattr(cv2, "USAC_MAGSAC", cv2.RANSAC)


def _grey(rgb: np.ndarray, name: str) -> np.ndarray:
    image = np.asarray(rgb)
    if image.ndim == 2:
        return np.ascontiguousarray(image, dtype=np.uint8)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"{name} must be (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def match_features(target_rgb: np.ndarray, source_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SIFT matches that pass Lowe's ratio test: (N, 2) float64 pixel coordinates in target and source."""
    sift = cv2.SIFT_create(nfeatures=_MAX_FEATURES)
    kp_t, des_t = sift.detectAndCompute(_grey(target_rgb, "target_rgb"), None)
    kp_s, des_s = sift.detectAndCompute(_grey(source_rgb, "source_rgb"), None)
    if des_t is None or des_s is None or len(kp_t) < 2 or len(kp_s) < 2:
        return np.empty((0, 2)), np.empty((0, 2))
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(des_t, des_s, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO_TEST * p[1].distance]
    pts_t = np.array([kp_t[m.queryIdx].pt for m in good], dtype=np.float64).reshape(-1, 2)
    pts_s = np.array([kp_s[m.trainIdx].pt for m in good], dtype=np.float64).reshape(-1, 2)
    return pts_t, pts_s


def _too_few(what: str, count: int) -> DepthViewerError:
    return DepthViewerError(
        f"pose estimation: only {count} {what} between target and source (at least {MIN_MATCHES} needed); "
        "the views may overlap too little, be too blurred or textureless"
    )


def _transform(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = np.asarray(t, dtype=np.float64).reshape(3)
    return T


def _lift(points_px: np.ndarray, depth_m: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """3D target points at keypoints (nearest pixel's depth); and which keypoints had a finite positive depth."""
    height, width = depth_m.shape
    cols = np.clip(np.rint(points_px[:, 0]).astype(int), 0, width - 1)
    rows = np.clip(np.rint(points_px[:, 1]).astype(int), 0, height - 1)
    z = depth_m[rows, cols].astype(np.float64)
    ok = np.isfinite(z) & (z > 0)
    rays = np.linalg.solve(K, np.column_stack([points_px, np.ones(len(points_px))]).T).T
    return rays * z[:, None], ok


def estimate_relative_pose(
    target_rgb: np.ndarray,
    source_rgb: np.ndarray,
    K: np.ndarray,
    depth_target_m: np.ndarray | None = None,
) -> RelativePose:
    """Estimate T_source<-target from two views (and the target's depth, for a metric translation).

    Args:
        target_rgb, source_rgb: (H, W, 3) uint8 RGB (or (H, W) grey) views of one camera.
        K: (3, 3) intrinsic matrix shared by both.
        depth_target_m: optional (H, W) depth of the target in metres (NaN = none).

    Returns:
        RelativePose with origin "essential matrix (up to scale)" and a unit translation (metric=False)
        without depth; with depth "essential matrix + PnP" (PnP on the essential matrix's inliers), or "PnP"
        (PnP on every match) when the essential matrix fails, metric=True.

    Raises:
        DepthViewerError: fewer than MIN_MATCHES matches, inliers or points with depth.
    """
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3):
        raise ValueError(f"K must have shape (3, 3), got {K.shape}")
    depth = None if depth_target_m is None else np.asarray(depth_target_m)
    if depth is not None and depth.shape != np.shape(target_rgb)[:2]:
        raise ValueError(f"depth_target_m must have the target's shape {np.shape(target_rgb)[:2]}, got {depth.shape}")
    pts_t, pts_s = match_features(target_rgb, source_rgb)
    if len(pts_t) < MIN_MATCHES:
        raise _too_few("feature matches", len(pts_t))

    E, inlier_flags = cv2.findEssentialMat(pts_t, pts_s, K, method=_ROBUST, prob=0.999,
                                           threshold=RANSAC_THRESHOLD_PX)
    n_inliers = 0 if E is None or inlier_flags is None else int(inlier_flags.sum())
    essential_ok = n_inliers >= MIN_MATCHES
    if essential_ok:
        E = E[:3]  # several solutions can come stacked; the first is the robust fit's best
    if depth is None:
        if not essential_ok:
            raise _too_few("essential-matrix inliers", n_inliers)
        # recoverPose(E, p1, p2): R, t take points from view 1's frame (target) into view 2's (source).
        _, R, t, _ = cv2.recoverPose(E, pts_t, pts_s, K, mask=inlier_flags.copy())
        return RelativePose(_transform(R, t / np.linalg.norm(t)), "essential matrix (up to scale)", metric=False)

    use = inlier_flags.ravel().astype(bool) if essential_ok else np.ones(len(pts_t), dtype=bool)
    points_3d, has_depth = _lift(pts_t, depth, K)
    use &= has_depth
    if use.sum() < MIN_MATCHES:
        raise _too_few("matches with target depth", int(use.sum()))
    # solvePnP: x_source ~ K (R X_target + t), i.e. T_source<-target.
    ok, rvec, tvec, pnp_inliers = cv2.solvePnPRansac(
        points_3d[use], pts_s[use], K, None, iterationsCount=1000, reprojectionError=PNP_REPROJECTION_PX,
        confidence=0.999, flags=cv2.SOLVEPNP_ITERATIVE,
    )
    if not ok or pnp_inliers is None or len(pnp_inliers) < MIN_MATCHES:
        raise _too_few("PnP inliers", 0 if pnp_inliers is None else len(pnp_inliers))
    inl = pnp_inliers.ravel()
    rvec, tvec = cv2.solvePnPRefineLM(points_3d[use][inl], pts_s[use][inl], K, None, rvec, tvec)
    R, _ = cv2.Rodrigues(rvec)
    origin = "essential matrix + PnP" if essential_ok else "PnP"
    return RelativePose(_transform(R, tvec), origin, metric=True)
