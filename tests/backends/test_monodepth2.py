"""Monodepth2 backend: checkpoints in monodepth2's exact layout, outputs equal to monodepth2's own code.

The `md2` namespace below re-implements monodepth2's networks/resnet_encoder.py, depth_decoder.py,
pose_decoder.py and layers.py the way monodepth2 writes them (OrderedDicts keyed by tuples, self.features,
self.outputs), independently of depthviewer's modules. The tests save its random weights as monodepth2's
trainer does (`save_model`) and load them with the backend.
"""

from __future__ import annotations

import pickle
import shutil
from collections import OrderedDict
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.models as models
from PIL import Image

from depthviewer.backends import backend_info, create_backend
from depthviewer.backends.base import MonocularBackend
from depthviewer.backends.monodepth2 import Monodepth2Backend
from depthviewer.errors import BackendError, InputError

HEIGHT, WIDTH = 64, 192


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One intra-op thread: on a shared 2-core machine extra threads only spin."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---- monodepth2, as written in its repository --------------------------------------------------------------


class ResNetMultiImageInput(models.ResNet):
    def __init__(self, block, layers, num_classes=1000, num_input_images=1):
        super(ResNetMultiImageInput, self).__init__(block, layers)
        self.inplanes = 64
        self.conv1 = nn.Conv2d(num_input_images * 3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)


def resnet_multiimage_input(num_layers, pretrained=False, num_input_images=1):
    assert num_layers in [18, 50], "Can only run with 18 or 50 layer resnet"
    blocks = {18: [2, 2, 2, 2], 50: [3, 4, 6, 3]}[num_layers]
    block_type = {18: models.resnet.BasicBlock, 50: models.resnet.Bottleneck}[num_layers]
    return ResNetMultiImageInput(block_type, blocks, num_input_images=num_input_images)


class ResnetEncoder(nn.Module):
    def __init__(self, num_layers, pretrained, num_input_images=1):
        super(ResnetEncoder, self).__init__()
        self.num_ch_enc = np.array([64, 64, 128, 256, 512])
        resnets = {18: models.resnet18, 34: models.resnet34, 50: models.resnet50}
        if num_input_images > 1:
            self.encoder = resnet_multiimage_input(num_layers, pretrained, num_input_images)
        else:
            self.encoder = resnets[num_layers](weights=None)
        if num_layers > 34:
            self.num_ch_enc[1:] *= 4

    def forward(self, input_image):
        self.features = []
        x = (input_image - 0.45) / 0.225
        x = self.encoder.conv1(x)
        x = self.encoder.bn1(x)
        self.features.append(self.encoder.relu(x))
        self.features.append(self.encoder.layer1(self.encoder.maxpool(self.features[-1])))
        self.features.append(self.encoder.layer2(self.features[-1]))
        self.features.append(self.encoder.layer3(self.features[-1]))
        self.features.append(self.encoder.layer4(self.features[-1]))
        return self.features


class Conv3x3(nn.Module):
    def __init__(self, in_channels, out_channels, use_refl=True):
        super(Conv3x3, self).__init__()
        if use_refl:
            self.pad = nn.ReflectionPad2d(1)
        else:
            self.pad = nn.ZeroPad2d(1)
        self.conv = nn.Conv2d(int(in_channels), int(out_channels), 3)

    def forward(self, x):
        out = self.pad(x)
        out = self.conv(out)
        return out


class ConvBlock(nn.Module):
    def __init__(self, in_channels, out_channels):
        super(ConvBlock, self).__init__()
        self.conv = Conv3x3(in_channels, out_channels)
        self.nonlin = nn.ELU(inplace=True)

    def forward(self, x):
        out = self.conv(x)
        out = self.nonlin(out)
        return out


def upsample(x):
    return F.interpolate(x, scale_factor=2, mode="nearest")


class DepthDecoder(nn.Module):
    def __init__(self, num_ch_enc, scales=range(4), num_output_channels=1, use_skips=True):
        super(DepthDecoder, self).__init__()
        self.num_output_channels = num_output_channels
        self.use_skips = use_skips
        self.upsample_mode = "nearest"
        self.scales = scales
        self.num_ch_enc = num_ch_enc
        self.num_ch_dec = np.array([16, 32, 64, 128, 256])
        self.convs = OrderedDict()
        for i in range(4, -1, -1):
            num_ch_in = self.num_ch_enc[-1] if i == 4 else self.num_ch_dec[i + 1]
            num_ch_out = self.num_ch_dec[i]
            self.convs[("upconv", i, 0)] = ConvBlock(num_ch_in, num_ch_out)
            num_ch_in = self.num_ch_dec[i]
            if self.use_skips and i > 0:
                num_ch_in += self.num_ch_enc[i - 1]
            num_ch_out = self.num_ch_dec[i]
            self.convs[("upconv", i, 1)] = ConvBlock(num_ch_in, num_ch_out)
        for s in self.scales:
            self.convs[("dispconv", s)] = Conv3x3(self.num_ch_dec[s], self.num_output_channels)
        self.decoder = nn.ModuleList(list(self.convs.values()))
        self.sigmoid = nn.Sigmoid()

    def forward(self, input_features):
        self.outputs = {}
        x = input_features[-1]
        for i in range(4, -1, -1):
            x = self.convs[("upconv", i, 0)](x)
            x = [upsample(x)]
            if self.use_skips and i > 0:
                x += [input_features[i - 1]]
            x = torch.cat(x, 1)
            x = self.convs[("upconv", i, 1)](x)
            if i in self.scales:
                self.outputs[("disp", i)] = self.sigmoid(self.convs[("dispconv", i)](x))
        return self.outputs


class PoseDecoder(nn.Module):
    def __init__(self, num_ch_enc, num_input_features, num_frames_to_predict_for=None, stride=1):
        super(PoseDecoder, self).__init__()
        self.num_ch_enc = num_ch_enc
        self.num_input_features = num_input_features
        if num_frames_to_predict_for is None:
            num_frames_to_predict_for = num_input_features - 1
        self.num_frames_to_predict_for = num_frames_to_predict_for
        self.convs = OrderedDict()
        self.convs[("squeeze")] = nn.Conv2d(self.num_ch_enc[-1], 256, 1)
        self.convs[("pose", 0)] = nn.Conv2d(num_input_features * 256, 256, 3, stride, 1)
        self.convs[("pose", 1)] = nn.Conv2d(256, 256, 3, stride, 1)
        self.convs[("pose", 2)] = nn.Conv2d(256, 6 * num_frames_to_predict_for, 1)
        self.relu = nn.ReLU()
        self.net = nn.ModuleList(list(self.convs.values()))

    def forward(self, input_features):
        last_features = [f[-1] for f in input_features]
        cat_features = [self.relu(self.convs["squeeze"](f)) for f in last_features]
        cat_features = torch.cat(cat_features, 1)
        out = cat_features
        for i in range(3):
            out = self.convs[("pose", i)](out)
            if i != 2:
                out = self.relu(out)
        out = out.mean(3).mean(2)
        out = 0.01 * out.view(-1, self.num_frames_to_predict_for, 1, 6)
        axisangle = out[..., :3]
        translation = out[..., 3:]
        return axisangle, translation


def disp_to_depth(disp, min_depth, max_depth):
    min_disp = 1 / max_depth
    max_disp = 1 / min_depth
    scaled_disp = min_disp + (max_disp - min_disp) * disp
    depth = 1 / scaled_disp
    return scaled_disp, depth


def get_translation_matrix(translation_vector):
    T = torch.zeros(translation_vector.shape[0], 4, 4).to(device=translation_vector.device)
    t = translation_vector.contiguous().view(-1, 3, 1)
    T[:, 0, 0] = 1
    T[:, 1, 1] = 1
    T[:, 2, 2] = 1
    T[:, 3, 3] = 1
    T[:, :3, 3, None] = t
    return T


def rot_from_axisangle(vec):
    angle = torch.norm(vec, 2, 2, True)
    axis = vec / (angle + 1e-7)
    ca = torch.cos(angle)
    sa = torch.sin(angle)
    C = 1 - ca
    x = axis[..., 0].unsqueeze(1)
    y = axis[..., 1].unsqueeze(1)
    z = axis[..., 2].unsqueeze(1)
    xs = x * sa
    ys = y * sa
    zs = z * sa
    xC = x * C
    yC = y * C
    zC = z * C
    xyC = x * yC
    yzC = y * zC
    zxC = z * xC
    rot = torch.zeros((vec.shape[0], 4, 4)).to(device=vec.device)
    rot[:, 0, 0] = torch.squeeze(x * xC + ca)
    rot[:, 0, 1] = torch.squeeze(xyC - zs)
    rot[:, 0, 2] = torch.squeeze(zxC + ys)
    rot[:, 1, 0] = torch.squeeze(xyC + zs)
    rot[:, 1, 1] = torch.squeeze(y * yC + ca)
    rot[:, 1, 2] = torch.squeeze(yzC - xs)
    rot[:, 2, 0] = torch.squeeze(zxC - ys)
    rot[:, 2, 1] = torch.squeeze(yzC + xs)
    rot[:, 2, 2] = torch.squeeze(z * zC + ca)
    rot[:, 3, 3] = 1
    return rot


def transformation_from_parameters(axisangle, translation, invert=False):
    R = rot_from_axisangle(axisangle)
    t = translation.clone()
    if invert:
        R = R.transpose(1, 2)
        t *= -1
    T = get_translation_matrix(t)
    if invert:
        M = torch.matmul(R, T)
    else:
        M = torch.matmul(T, R)
    return M


# ---- checkpoints saved as monodepth2's trainer saves them ------------------------------------------------


def _randomise(*nets: nn.Module, seed: int) -> None:
    """Non-trivial BatchNorm statistics and affine terms, so that eval-mode normalisation is exercised."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for net in nets:
            for module in net.modules():
                if isinstance(module, nn.BatchNorm2d):
                    shape = module.running_mean.shape
                    module.running_mean.copy_(0.1 * torch.randn(shape, generator=generator))
                    module.running_var.copy_(0.5 + torch.rand(shape, generator=generator))
                    module.weight.copy_(0.5 + torch.rand(shape, generator=generator))
                    module.bias.copy_(0.1 * torch.randn(shape, generator=generator))
            net.eval()


def save_model(folder: Path, num_layers: int = 18, use_stereo: bool = False, pose: bool = True,
               seed: int = 0) -> SimpleNamespace:
    """Random monodepth2 networks saved like trainer.save_model(); returns the reference networks."""
    torch.manual_seed(seed)
    nets = {"encoder": ResnetEncoder(num_layers, False)}
    nets["depth"] = DepthDecoder(nets["encoder"].num_ch_enc, range(4))
    if pose:
        nets["pose_encoder"] = ResnetEncoder(num_layers, False, num_input_images=2)
        nets["pose"] = PoseDecoder(nets["pose_encoder"].num_ch_enc, num_input_features=1, num_frames_to_predict_for=2)
    _randomise(*nets.values(), seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    for model_name, model in nets.items():
        to_save = model.state_dict()
        if model_name == "encoder":
            to_save["height"] = HEIGHT
            to_save["width"] = WIDTH
            to_save["use_stereo"] = use_stereo
        torch.save(to_save, folder / f"{model_name}.pth")
    return SimpleNamespace(folder=folder, **nets)


def reference_depth(ref: SimpleNamespace, image_rgb: np.ndarray, stereo: bool = False) -> np.ndarray:
    """monodepth2's evaluate_depth.py on one image: Lanczos resize, disp_to_depth, resize the disparity back."""
    resized = Image.fromarray(image_rgb).resize((WIDTH, HEIGHT), Image.LANCZOS)
    x = torch.from_numpy(np.asarray(resized, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    with torch.no_grad():
        output = ref.depth(ref.encoder(x))
    pred_disp, _ = disp_to_depth(output[("disp", 0)], 0.1, 100)
    pred_disp = cv2.resize(pred_disp[0, 0].numpy(), (image_rgb.shape[1], image_rgb.shape[0]))
    return (5.4 if stereo else 1.0) / pred_disp


def reference_pose(ref: SimpleNamespace, target_rgb: np.ndarray, source_rgb: np.ndarray, f_i: int) -> np.ndarray:
    """monodepth2's trainer.predict_poses for frame id f_i (-1 or +1) with the separate_resnet pose model."""
    pose_feats = {f: torch.from_numpy(image.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
                  for f, image in ((0, target_rgb), (f_i, source_rgb))}
    if f_i < 0:
        pose_inputs = [pose_feats[f_i], pose_feats[0]]
    else:
        pose_inputs = [pose_feats[0], pose_feats[f_i]]
    with torch.no_grad():
        pose_inputs = [ref.pose_encoder(torch.cat(pose_inputs, 1))]
        axisangle, translation = ref.pose(pose_inputs)
        cam_T_cam = transformation_from_parameters(axisangle[:, 0], translation[:, 0], invert=(f_i < 0))
    return cam_T_cam[0].double().numpy()


def _image(height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    smooth = cv2.resize(rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8), (width, height))
    return np.clip(smooth.astype(np.int16) + rng.integers(-20, 21, smooth.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def mono18(tmp_path_factory) -> SimpleNamespace:
    return save_model(tmp_path_factory.mktemp("md2") / "mono_r18", num_layers=18, use_stereo=False, seed=1)


@pytest.fixture(scope="module")
def stereo18(tmp_path_factory) -> SimpleNamespace:
    return save_model(tmp_path_factory.mktemp("md2") / "stereo_r18", num_layers=18, use_stereo=True, seed=2)


@pytest.fixture(scope="module")
def mono18_backend(mono18) -> Monodepth2Backend:
    return Monodepth2Backend(mono18.folder, device="cpu")


# ---- tests ------------------------------------------------------------------------------------------------


class TestCheckpointLayout:
    """The reference saves the key names REFERENCE.md documents, so the backend is tested on the real layout."""

    def test_encoder_and_depth_decoder_keys(self, mono18):
        encoder = torch.load(mono18.folder / "encoder.pth", weights_only=True)
        depth = torch.load(mono18.folder / "depth.pth", weights_only=True)
        for key in ("encoder.conv1.weight", "encoder.layer1.0.conv1.weight", "encoder.fc.weight", "encoder.fc.bias"):
            assert key in encoder
        assert (encoder["height"], encoder["width"], encoder["use_stereo"]) == (HEIGHT, WIDTH, False)
        assert "encoder.layer1.0.conv3.weight" not in encoder
        for n in range(10):
            assert f"decoder.{n}.conv.conv.weight" in depth and f"decoder.{n}.conv.conv.bias" in depth
        for n in range(10, 14):
            assert f"decoder.{n}.conv.weight" in depth and f"decoder.{n}.conv.bias" in depth
        assert not any(key.startswith("decoder.14.") for key in depth)
        # (upconv 4, 0) takes the 512 channels of layer4; (0, 1) has no skip; the scale-0 head maps 16 -> 1.
        assert depth["decoder.0.conv.conv.weight"].shape == (256, 512, 3, 3)
        assert depth["decoder.9.conv.conv.weight"].shape == (16, 16, 3, 3)
        assert depth["decoder.10.conv.weight"].shape == (1, 16, 3, 3)

    def test_pose_keys(self, mono18):
        encoder = torch.load(mono18.folder / "pose_encoder.pth", weights_only=True)
        pose = torch.load(mono18.folder / "pose.pth", weights_only=True)
        assert encoder["encoder.conv1.weight"].shape == (64, 6, 7, 7)
        assert sorted({key.rsplit(".", 1)[0] for key in pose}) == ["net.0", "net.1", "net.2", "net.3"]
        assert pose["net.0.weight"].shape == (256, 512, 1, 1)
        assert pose["net.1.weight"].shape == (256, 256, 3, 3)
        assert pose["net.3.weight"].shape == (12, 256, 1, 1)


class TestDepth:
    def test_follows_the_protocol_and_is_registered(self, mono18):
        backend = create_backend("monodepth2", model=mono18.folder, device="cpu")
        assert isinstance(backend, MonocularBackend)
        assert backend.kind == "monocular" and backend.device == "cpu" and backend.name == "monodepth2"
        assert backend_info("monodepth2")[0] == "monocular"
        assert (backend.input_height, backend.input_width) == (HEIGHT, WIDTH)

    def test_equals_monodepth2_at_the_training_size(self, mono18, mono18_backend):
        image = _image(HEIGHT, WIDTH, seed=3)
        prediction = mono18_backend.predict_depth(image)
        expected = reference_depth(mono18, image)
        assert prediction.depth_m.shape == (HEIGHT, WIDTH) and prediction.depth_m.dtype == np.float32
        np.testing.assert_allclose(prediction.depth_m, expected, rtol=1e-5)
        assert 0.1 <= prediction.depth_m.min() and prediction.depth_m.max() <= 100.0
        assert np.ptp(prediction.depth_m) > 0  # random weights still give a non-constant map

    def test_equals_monodepth2_evaluation_at_another_size(self, mono18, mono18_backend):
        image = _image(90, 250, seed=4)
        prediction = mono18_backend.predict_depth(image)
        assert prediction.depth_m.shape == (90, 250)
        np.testing.assert_allclose(prediction.depth_m, reference_depth(mono18, image), rtol=1e-5)

    def test_mono_model_is_up_to_scale_and_says_so(self, mono18_backend):
        prediction = mono18_backend.predict_depth(_image(HEIGHT, WIDTH, seed=5))
        assert prediction.metric is False and not mono18_backend.stereo_trained
        assert "median" in mono18_backend.scale_note and "up to scale" in mono18_backend.scale_note
        assert prediction.backend == "monodepth2" and prediction.device == "cpu" and prediction.seconds > 0

    def test_stereo_model_is_metric_with_the_stereo_scale(self, stereo18):
        backend = Monodepth2Backend(stereo18.folder, device="cpu")
        image = _image(HEIGHT, WIDTH, seed=6)
        prediction = backend.predict_depth(image)
        assert prediction.metric is True and backend.stereo_trained and "5.4" in backend.scale_note
        np.testing.assert_allclose(prediction.depth_m, reference_depth(stereo18, image, stereo=True), rtol=1e-5)

    def test_resnet50_is_detected_and_equals_monodepth2(self, tmp_path):
        ref = save_model(tmp_path / "r50", num_layers=50, pose=False, seed=7)
        backend = Monodepth2Backend(ref.folder, device="cpu")
        assert backend.encoder.num_ch_enc == (64, 256, 512, 1024, 2048) and not backend.has_pose
        image = _image(HEIGHT, WIDTH, seed=8)
        np.testing.assert_allclose(backend.predict_depth(image).depth_m, reference_depth(ref, image), rtol=1e-5)

    def test_model_is_loaded_once(self, mono18_backend, monkeypatch):
        def fail(*_args, **_kwargs):
            raise AssertionError("a checkpoint was read again")

        monkeypatch.setattr("depthviewer.backends.monodepth2.load_state_dict_file", fail)
        first = mono18_backend.predict_depth(_image(HEIGHT, WIDTH, seed=9)).depth_m
        np.testing.assert_array_equal(first, mono18_backend.predict_depth(_image(HEIGHT, WIDTH, seed=9)).depth_m)

    def test_rejects_a_non_rgb_image(self, mono18_backend):
        with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
            mono18_backend.predict_depth(np.zeros((HEIGHT, WIDTH), np.uint8))


class TestPose:
    @pytest.mark.parametrize("f_i", [-1, 1])
    def test_equals_monodepth2_cam_T_cam(self, mono18, mono18_backend, f_i):
        target, source = _image(HEIGHT, WIDTH, seed=10), _image(HEIGHT, WIDTH, seed=11)
        pose = mono18_backend.predict_pose(target, source, source_is_previous=f_i < 0)
        expected = reference_pose(mono18, target, source, f_i)
        assert pose.T_source_target.shape == (4, 4) and pose.T_source_target.dtype == np.float64
        np.testing.assert_allclose(pose.T_source_target, expected, atol=1e-6)
        assert pose.origin == "pose network" and pose.metric is False

    def test_previous_and_next_differ_in_input_order_and_inversion(self, mono18_backend):
        a, b = _image(HEIGHT, WIDTH, seed=12), _image(HEIGHT, WIDTH, seed=13)
        # The network sees (a, b) in both calls; monodepth2 inverts the transform only for the previous frame.
        T_prev = mono18_backend.predict_pose(b, a, source_is_previous=True).T_source_target
        T_next = mono18_backend.predict_pose(a, b, source_is_previous=False).T_source_target
        np.testing.assert_allclose(T_prev @ T_next, np.eye(4), atol=1e-6)
        assert not np.allclose(T_next, np.eye(4), atol=1e-9)

    def test_rotation_is_proper(self, mono18_backend):
        T = mono18_backend.predict_pose(_image(HEIGHT, WIDTH, 14), _image(HEIGHT, WIDTH, 15), False).T_source_target
        np.testing.assert_allclose(T[:3, :3] @ T[:3, :3].T, np.eye(3), atol=1e-6)
        np.testing.assert_allclose(T[3], [0, 0, 0, 1])

    def test_stereo_model_pose_is_metric_with_the_stereo_scale(self, stereo18):
        backend = Monodepth2Backend(stereo18.folder, device="cpu")
        target, source = _image(HEIGHT, WIDTH, seed=16), _image(HEIGHT, WIDTH, seed=17)
        pose = backend.predict_pose(target, source, source_is_previous=True)
        expected = reference_pose(stereo18, target, source, -1)
        expected[:3, 3] *= 5.4
        np.testing.assert_allclose(pose.T_source_target, expected, atol=1e-6)
        assert pose.metric is True and "translation" in backend.scale_note

    def test_without_a_pose_network(self, tmp_path):
        ref = save_model(tmp_path / "depth_only", pose=False, seed=18)
        backend = Monodepth2Backend(ref.folder, device="cpu")
        assert not backend.has_pose
        with pytest.raises(BackendError, match="no pose network"):
            backend.predict_pose(_image(HEIGHT, WIDTH, 1), _image(HEIGHT, WIDTH, 2), True)


class _Payload:
    """Unpickling this creates `marker`: a stand-in for code an attacker would run."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _copy(ref: SimpleNamespace, dst: Path, pose: bool = True) -> Path:
    """A copy of a saved model folder, to spoil one file of."""
    shutil.copytree(ref.folder, dst)
    if not pose:
        (dst / "pose_encoder.pth").unlink()
        (dst / "pose.pth").unlink()
    return dst


class TestUntrustedFolders:
    def test_needs_a_model(self):
        with pytest.raises(BackendError, match="needs --model PATH"):
            create_backend("monodepth2")

    def test_missing_folder(self, tmp_path):
        with pytest.raises(InputError, match="weights folder"):
            Monodepth2Backend(tmp_path / "nope")

    def test_missing_depth_file(self, mono18, tmp_path):
        folder = tmp_path / "m"
        folder.mkdir()
        (folder / "encoder.pth").write_bytes((mono18.folder / "encoder.pth").read_bytes())
        with pytest.raises(InputError, match="depth.pth: checkpoint not found"):
            Monodepth2Backend(folder, device="cpu")

    def test_text_file_named_pth(self, mono18, tmp_path):
        folder = _copy(mono18, tmp_path / "m", pose=False)
        (folder / "encoder.pth").write_text("these are not weights\n")
        with pytest.raises(InputError, match=r"encoder\.pth: not a PyTorch checkpoint"):
            Monodepth2Backend(folder, device="cpu")

    def test_missing_and_extra_keys_are_listed(self, mono18, tmp_path):
        folder = _copy(mono18, tmp_path / "m", pose=False)
        state = torch.load(folder / "depth.pth", weights_only=True)
        del state["decoder.13.conv.bias"]
        state["decoder.14.conv.weight"] = torch.zeros(1)
        torch.save(state, folder / "depth.pth")
        with pytest.raises(InputError, match=r"depth\.pth: missing keys: decoder\.13\.conv\.bias; "
                                             r"unexpected keys: decoder\.14\.conv\.weight"):
            Monodepth2Backend(folder, device="cpu")

    def test_wrong_shapes_are_listed(self, mono18, tmp_path):
        # A ResNet-50 decoder next to a ResNet-18 encoder: the skip channels differ.
        folder = _copy(mono18, tmp_path / "m", pose=False)
        torch.save(DepthDecoder(np.array([64, 256, 512, 1024, 2048])).state_dict(), folder / "depth.pth")
        with pytest.raises(InputError, match=r"depth\.pth: wrong shapes or types: decoder\.0\.conv\.conv\.weight: "
                                             r"expected \(256, 512, 3, 3\), found \(256, 2048, 3, 3\)"):
            Monodepth2Backend(folder, device="cpu")

    def test_missing_training_size(self, mono18, tmp_path):
        folder = _copy(mono18, tmp_path / "m", pose=False)
        state = torch.load(folder / "encoder.pth", weights_only=True)
        del state["height"]
        torch.save(state, folder / "encoder.pth")
        with pytest.raises(InputError, match=r"encoder\.pth: entry 'height' .* found missing"):
            Monodepth2Backend(folder, device="cpu")

    def test_not_a_resnet(self, mono18, tmp_path):
        folder = _copy(mono18, tmp_path / "m", pose=False)
        torch.save({"height": 64, "width": 192, "conv.weight": torch.zeros(1)}, folder / "encoder.pth")
        with pytest.raises(InputError, match="not a Monodepth2 encoder"):
            Monodepth2Backend(folder, device="cpu")

    def test_pose_encoder_without_pose_decoder(self, mono18, tmp_path):
        folder = _copy(mono18, tmp_path / "m")
        (folder / "pose.pth").unlink()
        with pytest.raises(InputError, match="not pose.pth"):
            Monodepth2Backend(folder, device="cpu")

    def test_depth_encoder_in_place_of_the_pose_encoder(self, mono18, tmp_path):
        folder = _copy(mono18, tmp_path / "m")
        state = torch.load(folder / "encoder.pth", weights_only=True)
        torch.save({k: v for k, v in state.items() if isinstance(v, torch.Tensor)}, folder / "pose_encoder.pth")
        with pytest.raises(InputError, match=r"pose_encoder\.pth: wrong shapes or types: encoder\.conv1\.weight: "
                                             r"expected \(64, 6, 7, 7\), found \(64, 3, 7, 7\)"):
            Monodepth2Backend(folder, device="cpu")

    @pytest.mark.parametrize("file", ["encoder.pth", "depth.pth", "pose.pth"])
    def test_a_pickle_that_would_run_code_is_refused(self, mono18, tmp_path, file):
        folder = _copy(mono18, tmp_path / "m")
        marker = tmp_path / "pwned"
        torch.save({"decoder.0.conv.conv.weight": _Payload(marker)}, folder / file)
        with pytest.raises(InputError, match=rf"{file}: refused to load") as raised:
            Monodepth2Backend(folder, device="cpu")
        assert "could run code" in str(raised.value)
        assert not marker.exists()
        # The file really is malicious: a plain unpickler runs the payload.
        with open(folder / file, "rb") as handle:
            torch.load(handle, weights_only=False)
        assert marker.exists()

    def test_a_plain_python_pickle_is_refused(self, mono18, tmp_path):
        folder = _copy(mono18, tmp_path / "m", pose=False)
        marker = tmp_path / "pwned"
        (folder / "encoder.pth").write_bytes(pickle.dumps({"height": _Payload(marker)}, protocol=2))
        with pytest.raises(InputError, match="encoder.pth"):
            Monodepth2Backend(folder, device="cpu")
        assert not marker.exists()

    def test_half_precision_is_refused_off_cuda(self, mono18):
        with pytest.raises(BackendError, match="half precision is only offered on CUDA"):
            Monodepth2Backend(mono18.folder, device="cpu", half=True)

    def test_model_output_is_not_for_monodepth2(self, mono18):
        with pytest.raises(BackendError, match="model_output is for exported models"):
            Monodepth2Backend(mono18.folder, model_output="depth")

    def test_unknown_device(self, mono18):
        with pytest.raises(BackendError, match="unknown device"):
            Monodepth2Backend(mono18.folder, device="toaster")
