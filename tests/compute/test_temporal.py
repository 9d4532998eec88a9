"""Temporal view synthesis: warp_frame_depth on known values, a ray-cast scene, and real KITTI odometry frames.

Also home of the helpers the monocular tests share (imported by the other test modules): a ray-caster for
textured planes seen by a moving pinhole camera, with exact depth and poses, and loaders for the KITTI
odometry sample with its stereo depth of frame 0.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from depthviewer.compute.losses import masked_mean, photometric_error_map
from depthviewer.compute.temporal import stereo_as_source_pose, warp_frame_depth
from depthviewer.compute.warping import warp_right_to_left

torch.set_num_threads(2)

EXACT = 1e-12
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


# ---------------------------------------------------------------- synthetic scenes


def smooth_texture(seed: int, size: int = 128, sigma_texels: float = 1.5) -> np.ndarray:
    """A periodic, smooth random RGB texture (size, size, 3) in [0.1, 0.9]: white noise low-passed by FFT."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((size, size, 3))
    freq = np.fft.fftfreq(size)
    gauss = np.exp(-2 * (np.pi * sigma_texels) ** 2 * (freq[:, None] ** 2 + freq[None, :] ** 2))
    smooth = np.real(np.fft.ifft2(np.fft.fft2(noise, axes=(0, 1)) * gauss[..., None], axes=(0, 1)))
    lo, hi = smooth.min(), smooth.max()
    return 0.1 + 0.8 * (smooth - lo) / (hi - lo)


def _lookup(texture: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bilinear lookup with wrap-around at texel coordinates (a = column, b = row): a continuous function."""
    size = texture.shape[0]
    a0, b0 = np.floor(a), np.floor(b)
    fa, fb = (a - a0)[..., None], (b - b0)[..., None]
    a0, b0 = a0.astype(int) % size, b0.astype(int) % size
    a1, b1 = (a0 + 1) % size, (b0 + 1) % size
    return ((1 - fa) * (1 - fb) * texture[b0, a0] + fa * (1 - fb) * texture[b0, a1]
            + (1 - fa) * fb * texture[b1, a0] + fa * fb * texture[b1, a1])


@dataclass(frozen=True)
class Plane:
    """A textured plane: points X = origin + a * e1 + b * e2 (|a| <= half_a, |b| <= half_b), world frame."""

    origin: tuple[float, float, float]
    e1: tuple[float, float, float]
    e2: tuple[float, float, float]
    texel_m: float
    seed: int
    half_a: float = np.inf
    half_b: float = np.inf


def default_scene(texel_scale: float = 1.0) -> list[Plane]:
    """A wall 8 m ahead, the ground 1.5 m below the camera, and two slanted boards that occlude them.

    Texels suit a focal length of ~100 px (features of ~4 px); scale them by 100 / f for other cameras.
    """
    c30, s30 = np.cos(np.radians(30)), np.sin(np.radians(30))
    s = texel_scale
    return [
        Plane((0, 0, 8), (1, 0, 0), (0, 1, 0), texel_m=0.10 * s, seed=1),
        Plane((0, 1.5, 0), (1, 0, 0), (0, 0, 1), texel_m=0.25 * s, seed=2),
        Plane((-1.2, 0.1, 4.5), (c30, 0, s30), (0, 1, 0), texel_m=0.05 * s, seed=3, half_a=0.9, half_b=0.7),
        Plane((1.5, -0.3, 6.0), (c30, 0, -s30), (0, 1, 0), texel_m=0.07 * s, seed=4, half_a=0.8, half_b=1.0),
    ]


def render(planes: list[Plane], T_world_cam: np.ndarray, K: np.ndarray, height: int, width: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ray-cast the planes: RGB (H, W, 3) float64 in [0, 1], depth (H, W) metres (NaN: no hit), plane id (-1)."""
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    rays_cam = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(K).T  # z = 1: t is the depth
    R, C = T_world_cam[:3, :3], T_world_cam[:3, 3]
    rays = rays_cam @ R.T
    depth = np.full((height, width), np.inf)
    rgb = np.zeros((height, width, 3))
    ids = np.full((height, width), -1)
    for index, plane in enumerate(planes):
        o, e1, e2 = (np.asarray(x, dtype=np.float64) for x in (plane.origin, plane.e1, plane.e2))
        n = np.cross(e1, e2)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = ((o - C) @ n) / (rays @ n)
        hit = C + t[..., None] * rays
        a, b = (hit - o) @ e1, (hit - o) @ e2
        front = np.isfinite(t) & (t > 1e-6) & (np.abs(a) <= plane.half_a) & (np.abs(b) <= plane.half_b) & (t < depth)
        texture = smooth_texture(plane.seed)
        rgb[front] = _lookup(texture, a[front] / plane.texel_m, b[front] / plane.texel_m)
        depth[front] = t[front]
        ids[front] = index
    depth[~np.isfinite(depth)] = np.nan
    return rgb, depth, ids


def pose(yaw_deg: float = 0.0, pitch_deg: float = 0.0, t: tuple[float, float, float] = (0, 0, 0)) -> np.ndarray:
    """T_world_cam of a camera at t, turned by yaw (about y) then pitch (about x)."""
    T = np.eye(4)
    T[:3, :3] = cv2.Rodrigues(np.array([0.0, np.radians(yaw_deg), 0.0]))[0] @ \
        cv2.Rodrigues(np.array([np.radians(pitch_deg), 0.0, 0.0]))[0]
    T[:3, 3] = t
    return T


def intrinsics(height: int, width: int, f: float) -> np.ndarray:
    return np.array([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1.0]])


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)


def image_tensor(rgb: np.ndarray, dtype=torch.float64, device="cpu") -> torch.Tensor:
    """(H, W, 3) float in [0, 1] or uint8 -> (1, 3, H, W)."""
    x = torch.from_numpy(np.ascontiguousarray(rgb))
    x = x.double() / 255.0 if x.dtype == torch.uint8 else x.double()
    return x.permute(2, 0, 1)[None].to(device=device, dtype=dtype)


def map_tensor(values: np.ndarray, dtype=torch.float64, device="cpu") -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(values)).to(device=device, dtype=dtype)[None, None]


def relative(T_world_source: np.ndarray, T_world_target: np.ndarray) -> np.ndarray:
    """T_source_target = inv(T_world_source) @ T_world_target."""
    return np.linalg.inv(T_world_source) @ T_world_target


# ---------------------------------------------------------------- KITTI odometry sample

KITTI_FX, KITTI_CX, KITTI_CY, KITTI_BASELINE_M = 718.856, 607.1928, 185.2157, 0.5372


@dataclass(frozen=True)
class KittiSequence:
    frames_rgb: tuple[np.ndarray, ...]  # grey frames 0..5 replicated to RGB
    right0_rgb: np.ndarray
    K: np.ndarray
    T_world_cam: np.ndarray  # (6, 4, 4)
    depth0_m: np.ndarray  # SGBM stereo depth of frame 0, NaN where none

    def T_source_target(self, source: int, target: int) -> np.ndarray:
        return relative(self.T_world_cam[source], self.T_world_cam[target])


def _grey_as_rgb(path: Path) -> np.ndarray:
    grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))


@functools.lru_cache(maxsize=1)
def load_kitti_sequence(shared_data: Path) -> KittiSequence:
    """Frames, calibration, poses and frame 0's SGBM stereo depth; computed once per test session."""
    from depthviewer.backends.sgbm import SgbmBackend

    folder = shared_data / "kitti_odometry_00_seq"
    frames = tuple(_grey_as_rgb(folder / "image_0" / f"{i:06d}.png") for i in range(6))
    right0 = _grey_as_rgb(folder / "image_1" / "000000.png")
    K = np.array([[KITTI_FX, 0, KITTI_CX], [0, KITTI_FX, KITTI_CY], [0, 0, 1.0]])
    rows = np.loadtxt(folder / "poses_00_frames000000-000005.txt").reshape(-1, 3, 4)
    T_world_cam = np.tile(np.eye(4), (len(rows), 1, 1))
    T_world_cam[:, :3] = rows
    disparity = SgbmBackend().predict(frames[0], right0).disparity_left_px
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = np.where(disparity > 0, KITTI_FX * KITTI_BASELINE_M / disparity, np.nan).astype(np.float32)
    return KittiSequence(frames, right0, K, T_world_cam, depth)


@functools.lru_cache(maxsize=1)
def kitti_pnp_poses(shared_data: Path) -> dict[int, np.ndarray]:
    """T_k<-0 for k = 1..5 estimated with PnP from frame 0's stereo depth (metric, unlike the file's)."""
    from depthviewer.compute.pose_estimation import estimate_relative_pose

    seq = load_kitti_sequence(shared_data)
    return {k: estimate_relative_pose(seq.frames_rgb[0], seq.frames_rgb[k], seq.K, seq.depth0_m).T_source_target
            for k in range(1, 6)}


# ---------------------------------------------------------------- tests


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _call(image, depth, T, K):
    return warp_frame_depth(image, depth, torch.as_tensor(T)[None].to(image.device),
                            torch.as_tensor(K)[None].to(image.device))


class TestWarpFrameDepth:
    @pytest.mark.parametrize("batch,channels,height,width", [(1, 1, 2, 2), (2, 3, 5, 7), (3, 2, 4, 1)])
    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_shapes_and_dtypes(self, batch, channels, height, width, dtype):
        image = torch.rand(batch, channels, height, width, dtype=dtype)
        depth = torch.rand(batch, 1, height, width, dtype=dtype) + 1
        T = torch.eye(4).expand(batch, 4, 4)
        K = torch.tensor([[2.0, 0, 1], [0, 2, 1], [0, 0, 1]]).expand(batch, 3, 3)
        out, valid = warp_frame_depth(image, depth, T, K)
        assert out.shape == image.shape and out.dtype == dtype
        assert valid.shape == (batch, 1, height, width) and valid.dtype == torch.bool

    @pytest.mark.parametrize("device", DEVICES)
    def test_identity_pose_returns_the_source(self, device):
        image = torch.rand(2, 3, 6, 9, dtype=torch.float64, device=device)
        depth = torch.rand(2, 1, 6, 9, dtype=torch.float64, device=device) * 10 + 0.5
        K = torch.tensor([[5.0, 0, 4], [0, 5, 2.5], [0, 0, 1]], dtype=torch.float64, device=device).expand(2, 3, 3)
        out, valid = warp_frame_depth(image, depth, torch.eye(4, dtype=torch.float64, device=device).expand(2, 4, 4), K)
        assert out.device.type == device
        torch.testing.assert_close(out, image, rtol=0, atol=EXACT)
        assert valid.all()

    def test_translation_parallel_to_a_wall_is_an_integer_shift(self):
        # Wall at Z = 4 m, camera moved 0.2 m right: a point at x is at x - 0.2 in the source, i.e.
        # u_src = u - fx * 0.2 / 4 = u - 2 px for fx = 40.
        image = torch.rand(1, 3, 5, 12, dtype=torch.float64)
        depth = torch.full((1, 1, 5, 12), 4.0, dtype=torch.float64)
        T_src_dst = relative(pose(t=(0.2, 0, 0)), np.eye(4))
        out, valid = _call(image, depth, T_src_dst, [[40.0, 0, 5.5], [0, 40, 2], [0, 0, 1]])
        torch.testing.assert_close(out[..., 2:], image[..., :-2], rtol=0, atol=EXACT)
        assert valid[..., 2:].all() and not valid[..., :2].any()

    def test_stereo_pose_equals_the_stereo_warp(self):
        # Depth from a random disparity: the temporal warp with the "S" pose must sample x - d like MD1's warp.
        height, width, fx, baseline = 7, 20, 30.0, 0.54
        right = torch.rand(1, 3, height, width, dtype=torch.float64)
        disparity = torch.rand(1, 1, height, width, dtype=torch.float64) * 4 + 0.5
        depth = fx * baseline / disparity
        K = [[fx, 0, 9.5], [0, 25.0, 3], [0, 0, 1]]
        out, valid = _call(right, depth, stereo_as_source_pose(baseline), K)
        expected, expected_valid = warp_right_to_left(right, disparity)
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-10)
        assert torch.equal(valid, expected_valid)

    def test_invalid_depths_and_points_behind_the_source(self):
        depth = torch.tensor([[[[float("nan"), 0.0, -1.0, 2.0, 0.5]]]], dtype=torch.float64)
        image = torch.rand(1, 1, 1, 5, dtype=torch.float64)
        # The source camera 1 m ahead: the point at 0.5 m is behind it.
        out, valid = _call(image, depth, relative(pose(t=(0, 0, 1.0)), np.eye(4)), [[1.0, 0, 2], [0, 1, 0], [0, 0, 1]])
        assert valid[0, 0, 0].tolist() == [False, False, False, True, False]
        assert torch.isfinite(out).all()  # masked pixels hold border samples, never NaN

    def test_gradients(self):
        image = torch.rand(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
        depth = (torch.rand(1, 1, 4, 5, dtype=torch.float64) + 2).requires_grad_()
        T = torch.from_numpy(relative(pose(yaw_deg=2, t=(0.1, 0, 0.05)), np.eye(4)))[None]
        K = torch.tensor([[[4.0, 0, 2], [0, 4, 1.5], [0, 0, 1]]], dtype=torch.float64)
        assert torch.autograd.gradcheck(lambda i, d: warp_frame_depth(i, d, T, K)[0], (image, depth))

    def test_shape_mismatch_is_refused(self):
        with pytest.raises(ValueError, match="depth_dst_m"):
            warp_frame_depth(torch.rand(1, 3, 4, 5), torch.rand(1, 1, 4, 6), torch.eye(4)[None], torch.eye(3)[None])


class TestStereoAsSourcePose:
    def test_is_a_negative_x_translation(self):
        expected = np.eye(4)
        expected[0, 3] = -0.54
        np.testing.assert_array_equal(stereo_as_source_pose(0.54), expected)

    @pytest.mark.parametrize("baseline", [0.0, -0.1, float("nan")])
    def test_bad_baseline_is_refused(self, baseline):
        with pytest.raises(ValueError):
            stereo_as_source_pose(baseline)


SCENE_HW = (96, 128)


@pytest.fixture(scope="module")
def scene():
    """K, T_source_target, target RGB, target depth, target plane ids, source RGB, source plane ids."""
    height, width = SCENE_HW
    K = intrinsics(height, width, 100.0)
    T_target, T_source = pose(), pose(yaw_deg=3.0, pitch_deg=-1.0, t=(0.25, -0.05, 0.6))
    planes = default_scene()
    target, depth, target_ids = render(planes, T_target, K, height, width)
    source, _, source_ids = render(planes, T_source, K, height, width)
    return K, relative(T_source, T_target), target, depth, target_ids, source, source_ids


class TestOnARayCastScene:
    """Warping with the exact depth and pose must rebuild the target wherever the source sees the same surface."""

    HEIGHT, WIDTH = SCENE_HW

    def _unoccluded(self, scene, valid):
        """Valid pixels whose four bilinear source neighbours all show the target pixel's own plane."""
        K, T, _, depth, target_ids, _, source_ids = scene
        v, u = np.mgrid[0:self.HEIGHT, 0:self.WIDTH].astype(np.float64)
        points = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(K).T * depth[..., None]
        projected = (points @ T[:3, :3].T + T[:3, 3]) @ K.T
        u, v = projected[..., 0] / projected[..., 2], projected[..., 1] / projected[..., 2]
        ok = valid.copy()
        for du in (0, 1):
            for dv in (0, 1):
                cols = np.clip(np.floor(np.nan_to_num(u)).astype(int) + du, 0, self.WIDTH - 1)
                rows = np.clip(np.floor(np.nan_to_num(v)).astype(int) + dv, 0, self.HEIGHT - 1)
                ok &= source_ids[rows, cols] == target_ids
        return ok

    def test_true_depth_and_pose_rebuild_the_target(self, scene):
        K, T, target, depth, _, source, _ = scene
        out, valid = _call(image_tensor(source), map_tensor(depth), T, K)
        valid_np = valid[0, 0].numpy()
        keep = self._unoccluded(scene, valid_np)
        assert keep.mean() > 0.6  # most of the view is checked
        error = np.abs(out[0].permute(1, 2, 0).numpy() - target).mean(-1)[keep]
        # What is left is bilinear interpolation of a texture sampled at ~4 px per feature.
        assert np.median(error) < 0.004 and np.percentile(error, 99) < 0.03

    def test_occluded_pixels_are_where_the_errors_are(self, scene):
        K, T, target, depth, _, source, _ = scene
        out, valid = _call(image_tensor(source), map_tensor(depth), T, K)
        valid_np = valid[0, 0].numpy()
        error = np.abs(out[0].permute(1, 2, 0).numpy() - target).mean(-1)
        occluded = valid_np & ~self._unoccluded(scene, valid_np)
        assert occluded.sum() > 50  # the boards hide part of the wall and ground
        assert np.mean(error[occluded]) > 5 * np.mean(error[valid_np & ~occluded])

    def test_a_wrong_pose_or_depth_scores_worse(self, scene):
        K, T, target, depth, _, source, _ = scene
        target_t = image_tensor(target)

        def score(T_try, depth_try):
            out, valid = _call(image_tensor(source), map_tensor(depth_try), T_try, K)
            return float(masked_mean(photometric_error_map(target_t, out), valid)[0])

        right = score(T, depth)
        T_scaled = T.copy()
        T_scaled[:3, 3] *= 0.7
        assert right < 0.5 * score(np.eye(4), depth)
        assert right < 0.5 * score(T_scaled, depth)
        assert right < 0.5 * score(T, depth * 1.5)


class TestOnKitti:
    """Frame 1 warped into frame 0 with frame 0's stereo depth: the right pose explains the image best."""

    def test_file_pose_beats_identity_and_a_wrong_frames_pose(self, shared_data):
        seq = load_kitti_sequence(shared_data)
        target, source = image_tensor(seq.frames_rgb[0][..., :1]), image_tensor(seq.frames_rgb[1][..., :1])
        depth = map_tensor(seq.depth0_m)
        candidates = {"file 1<-0": seq.T_source_target(1, 0), "identity": np.eye(4),
                      "file 3<-0": seq.T_source_target(3, 0)}
        warps = {name: _call(source, depth, T, seq.K) for name, T in candidates.items()}
        common = torch.stack([valid for _, valid in warps.values()]).all(0)
        assert common.float().mean() > 0.5
        scores = {name: float(masked_mean(photometric_error_map(target, out), common)[0])
                  for name, (out, _) in warps.items()}
        assert scores["file 1<-0"] < 0.85 * scores["identity"]
        assert scores["file 1<-0"] < 0.85 * scores["file 3<-0"]
