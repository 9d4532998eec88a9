"""A user's Monodepth2 model (a weights folder from its trainer): depth, and ego-motion when it has a pose net.

Follows monodepth2 exactly (REFERENCE.md, "Monodepth2 additions" and "Monodepth2 checkpoint layout"):
the image is resized to the stored training size with PIL's Lanczos filter, the sigmoid output becomes a
scaled disparity with `disp_to_depth(min_depth=0.1, max_depth=100)`, which is resized back to the image size
(bilinear, as monodepth2's evaluation does) and inverted. Stereo-trained models (`use_stereo` in encoder.pth)
are metric after x 5.4; mono-trained ones are up to scale and left for median scaling against ground truth.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from depthviewer.backends._md2_networks import (
    DepthDecoder,
    PoseDecoder,
    ResnetEncoder,
    disp_to_depth,
    resnet_depth,
    transformation_from_parameters,
)
from depthviewer.backends.checkpoints import check_image, load_state_dict_file, load_weights
from depthviewer.compute.device import default_device, device_label, resolve_device
from depthviewer.errors import BackendError, InputError
from depthviewer.types import DepthPrediction, RelativePose

MIN_DEPTH_M = 0.1
MAX_DEPTH_M = 100.0
STEREO_SCALE = 5.4  # KITTI's 0.54 m baseline over the nominal 0.1 that stereo training assumes


def _training_options(state: dict, path: Path) -> tuple[int, int, bool | None]:
    """Take out the entries monodepth2 stores beside the encoder weights: height, width, use_stereo."""
    height, width = state.pop("height", None), state.pop("width", None)
    use_stereo = state.pop("use_stereo", None)
    for name, value in (("height", height), ("width", width)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0 or value % 32:
            found = "missing" if value is None else repr(value)
            raise InputError(f"entry {name!r} must be the training {name} in pixels, a positive multiple of 32; "
                             f"found {found}", path)
    if use_stereo is not None and not isinstance(use_stereo, bool):
        raise InputError(f"entry 'use_stereo' must be True or False, found {use_stereo!r}", path)
    return height, width, use_stereo


def _load_encoder(path: Path, map_location: torch.device, num_input_images: int) -> tuple[ResnetEncoder, dict]:
    state = load_state_dict_file(path, map_location)
    depth = resnet_depth([key for key in state if isinstance(state[key], torch.Tensor)])
    if depth is None:
        raise InputError("not a Monodepth2 encoder: no torchvision ResNet-18/34/50/101/152 under 'encoder.'", path)
    with torch.device("meta"):  # no random initialisation: every weight comes from the file
        return ResnetEncoder(depth, num_input_images), state


class Monodepth2Backend:
    """Monocular depth, and optionally relative pose, from a Monodepth2 weights folder.

    `model` is the folder with `encoder.pth` and `depth.pth` (and optionally `pose_encoder.pth` with
    `pose.pth`). The networks are loaded once, onto `device` (default: `default_device()`); `half=True` runs
    them in float16, allowed on CUDA only, and converts the output to depth in float32. `model_output` is
    accepted for a signature shared with the exported-model backends, and must stay None.
    """

    name = "monodepth2"
    kind = "monocular"

    def __init__(self, model: str | Path | None = None, *, device: str | torch.device | None = None,
                 model_output: str | None = None, half: bool = False) -> None:
        if model is None:
            raise BackendError("backend monodepth2 needs --model PATH: a Monodepth2 weights folder with "
                               "encoder.pth and depth.pth (e.g. models/mono_640x192)")
        if model_output is not None:
            raise BackendError("monodepth2: model_output is for exported models; a Monodepth2 network's output "
                               "is fixed (a sigmoid turned into depth by disp_to_depth)")
        folder = Path(model)
        if not folder.is_dir():
            raise InputError("expected a Monodepth2 weights folder (encoder.pth, depth.pth, optionally "
                             "pose_encoder.pth and pose.pth)", folder)
        self.model_path = folder
        self._device = resolve_device(device, self.name)
        if half and self._device.type != "cuda":
            raise BackendError(f"monodepth2: half precision is only offered on CUDA, not on {self._device.type}")
        self._dtype = torch.float16 if half else torch.float32
        load_at = torch.device("cpu")

        self.encoder, state = _load_encoder(folder / "encoder.pth", load_at, num_input_images=1)
        self.input_height, self.input_width, use_stereo = _training_options(state, folder / "encoder.pth")
        self.stereo_trained = bool(use_stereo)
        load_weights(self.encoder, state, folder / "encoder.pth")
        with torch.device("meta"):
            self.depth_decoder = DepthDecoder(self.encoder.num_ch_enc)
        load_weights(self.depth_decoder, load_state_dict_file(folder / "depth.pth", load_at), folder / "depth.pth")

        self.pose_encoder: ResnetEncoder | None = None
        self.pose_decoder: PoseDecoder | None = None
        pose_files = [folder / "pose_encoder.pth", folder / "pose.pth"]
        if any(file.exists() for file in pose_files):
            missing = [file.name for file in pose_files if not file.exists()]
            if missing:
                raise InputError(f"has a pose network file but not {missing[0]} (both or neither)", folder)
            self.pose_encoder, pose_state = _load_encoder(pose_files[0], load_at, num_input_images=2)
            load_weights(self.pose_encoder, pose_state, pose_files[0])
            self.pose_decoder = self._load_pose_decoder(pose_files[1], self.pose_encoder.num_ch_enc[-1])

        for net in (self.encoder, self.depth_decoder, self.pose_encoder, self.pose_decoder):
            if net is not None:
                net.to(device=self._device, dtype=self._dtype).eval()
        self.scale_note = self._scale_note(use_stereo)

    @staticmethod
    def _load_pose_decoder(path: Path, channels: int) -> PoseDecoder:
        state = load_state_dict_file(path, "cpu")
        head = state.get("net.3.weight")
        outputs = int(head.shape[0]) if isinstance(head, torch.Tensor) and head.ndim == 4 else 0
        if outputs == 0 or outputs % 6:
            raise InputError("not a Monodepth2 pose decoder: 'net.3.weight' must map to 6 x frames channels", path)
        with torch.device("meta"):
            decoder = PoseDecoder(channels, num_frames=outputs // 6)
        load_weights(decoder, state, path)
        return decoder

    def _scale_note(self, use_stereo: bool | None) -> str:
        if self.stereo_trained:
            return (f"Stereo-trained model (use_stereo in encoder.pth): depth is in metres, Monodepth2's depth "
                    f"x {STEREO_SCALE} (the KITTI baseline over the nominal 0.1 of stereo training)"
                    + ("; so is the pose network's translation." if self.has_pose else "."))
        unknown = " encoder.pth has no use_stereo entry, so it is taken as mono-trained." if use_stereo is None else ""
        return ("Mono-trained model: depth is known only up to scale; compare it with ground truth after "
                "per-image median scaling, median(gt) / median(pred), as Monodepth2's evaluation does." + unknown)

    @staticmethod
    def default_device_label() -> str:
        """The device a backend built with no `device` argument would run on, without loading a model."""
        return device_label(default_device())

    @property
    def device(self) -> str:
        return device_label(self._device)

    @property
    def has_pose(self) -> bool:
        return self.pose_decoder is not None

    def _network_input(self, image_rgb: np.ndarray) -> torch.Tensor:
        """(H, W, 3) uint8 -> (1, 3, height, width) in [0, 1] at the training size, resized as monodepth2 does."""
        check_image(image_rgb)
        resized = Image.fromarray(image_rgb).resize((self.input_width, self.input_height), Image.LANCZOS)
        tensor = torch.from_numpy(np.asarray(resized, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
        return tensor.to(device=self._device, dtype=self._dtype)

    def predict_depth(self, image_rgb: np.ndarray) -> DepthPrediction:
        """Depth (H, W) float32 for an (H, W, 3) uint8 image: metres if stereo-trained, else up to scale."""
        start = time.perf_counter()
        x = self._network_input(image_rgb)
        with torch.inference_mode():
            sigmoid = self.depth_decoder(self.encoder(x)).float()
            scaled_disparity, _ = disp_to_depth(sigmoid, MIN_DEPTH_M, MAX_DEPTH_M)
        height, width = image_rgb.shape[:2]
        disparity = cv2.resize(scaled_disparity[0, 0].cpu().numpy(), (width, height), interpolation=cv2.INTER_LINEAR)
        depth = (STEREO_SCALE if self.stereo_trained else 1.0) / disparity
        return DepthPrediction(
            depth_m=depth.astype(np.float32),
            backend=self.name,
            device=self.device,
            metric=self.stereo_trained,
            seconds=time.perf_counter() - start,
        )

    def predict_pose(self, target_rgb: np.ndarray, source_rgb: np.ndarray, source_is_previous: bool) -> RelativePose:
        """T_source_target (4x4 float64) from the pose network, as monodepth2's trainer computes cam_T_cam.

        The frames go in temporal order, (source, target) for the previous frame and (target, source) for the
        next, and the previous frame's transform is inverted. Metric (translation x 5.4) for stereo-trained
        models, up to scale otherwise.
        """
        if self.pose_encoder is None or self.pose_decoder is None:
            raise BackendError("monodepth2: this model folder has no pose network (pose_encoder.pth, pose.pth)",
                               self.model_path)
        if target_rgb.shape != source_rgb.shape:
            raise ValueError(f"target and source images differ in size: {target_rgb.shape} vs {source_rgb.shape}")
        target, source = self._network_input(target_rgb), self._network_input(source_rgb)
        pair = [source, target] if source_is_previous else [target, source]
        with torch.inference_mode():
            axisangle, translation = self.pose_decoder(self.pose_encoder(torch.cat(pair, 1))[-1])
            T = transformation_from_parameters(axisangle[:, 0].float(), translation[:, 0].float(),
                                               invert=source_is_previous)
        T_source_target = T[0].cpu().double().numpy()
        if self.stereo_trained:
            T_source_target[:3, 3] *= STEREO_SCALE
        return RelativePose(T_source_target=T_source_target, origin="pose network", metric=self.stereo_trained)
