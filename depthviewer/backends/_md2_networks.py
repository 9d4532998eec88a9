"""Monodepth2's networks (Godard et al. 2019), rebuilt with the parameter names of its checkpoints.

The modules hold exactly the parameters of monodepth2's `ResnetEncoder` (`encoder.*`, a torchvision ResNet),
`DepthDecoder` (`decoder.0` ... `decoder.13`) and `PoseDecoder` (`net.0` ... `net.3`), so a checkpoint loads
with `load_state_dict`; the forward passes compute what monodepth2's do, without its tuple-keyed dicts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

# ResNet depth -> (block, blocks per stage): the torchvision models monodepth2 offers.
RESNETS: dict[int, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}
NUM_CH_DEC = (16, 32, 64, 128, 256)


def resnet_depth(keys: set[str] | list[str], prefix: str = "encoder.") -> int | None:
    """The ResNet depth (18, 34, 50, 101, 152) whose parameter names these are, None if none fits.

    Bottleneck blocks (ResNet-50 and deeper) are the only ones with a `conv3`.
    """
    keys = set(keys)
    stages = []
    for stage in range(1, 5):
        head = f"{prefix}layer{stage}."
        blocks = {key[len(head):].split(".", 1)[0] for key in keys if key.startswith(head)}
        if not blocks or not all(block.isdigit() for block in blocks):
            return None
        stages.append(max(int(block) for block in blocks) + 1)
    block = Bottleneck if f"{prefix}layer1.0.conv3.weight" in keys else BasicBlock
    for depth, layout in RESNETS.items():
        if layout == (block, tuple(stages)):
            return depth
    return None


class ResnetEncoder(nn.Module):
    """A ResNet feature pyramid: (B, 3 * num_input_images, H, W) RGB in [0, 1] -> 5 maps at H/2 ... H/32.

    Channels (64, 64, 128, 256, 512), or (64, 256, 512, 1024, 2048) for bottleneck ResNets. The input is
    normalised inside, (x - 0.45) / 0.225, as monodepth2 does; the pose encoder stacks 2 images (6 channels).
    """

    def __init__(self, num_layers: int, num_input_images: int = 1) -> None:
        super().__init__()
        block, layers = RESNETS[num_layers]
        self.encoder = ResNet(block, list(layers))
        if num_input_images != 1:
            self.encoder.conv1 = nn.Conv2d(3 * num_input_images, 64, kernel_size=7, stride=2, padding=3, bias=False)
        widen = block.expansion
        self.num_ch_enc = (64, 64 * widen, 128 * widen, 256 * widen, 512 * widen)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        e = self.encoder
        f0 = e.relu(e.bn1(e.conv1((image - 0.45) / 0.225)))
        f1 = e.layer1(e.maxpool(f0))
        f2 = e.layer2(f1)
        f3 = e.layer3(f2)
        return [f0, f1, f2, f3, e.layer4(f3)]


class Conv3x3(nn.Module):
    """3x3 convolution after a reflection pad of 1: the map keeps its size."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(1)
        self.conv = nn.Conv2d(in_channels, out_channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pad(x))


class ConvBlock(nn.Module):
    """Conv3x3 then ELU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = Conv3x3(in_channels, out_channels)
        self.nonlin = nn.ELU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlin(self.conv(x))


class DepthDecoder(nn.Module):
    """Monodepth2's U-Net decoder: encoder features -> sigmoid disparity (B, 1, H, W) at the input size.

    `decoder` holds, in monodepth2's order, the blocks (upconv 4, 0), (4, 1), (3, 0), ... (0, 1), then the
    disparity heads of scales 0..3; only the scale-0 head is evaluated (the finest, the one used at test time).
    """

    def __init__(self, num_ch_enc: tuple[int, ...]) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        for i in range(4, -1, -1):
            blocks.append(ConvBlock(num_ch_enc[-1] if i == 4 else NUM_CH_DEC[i + 1], NUM_CH_DEC[i]))
            blocks.append(ConvBlock(NUM_CH_DEC[i] + (num_ch_enc[i - 1] if i > 0 else 0), NUM_CH_DEC[i]))
        heads = [Conv3x3(NUM_CH_DEC[scale], 1) for scale in range(4)]
        self.decoder = nn.ModuleList(blocks + heads)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = features[-1]
        for step, i in enumerate(range(4, -1, -1)):
            # Upsample after the first conv, then concatenate the skip: monodepth2's order.
            x = F.interpolate(self.decoder[2 * step](x), scale_factor=2, mode="nearest")
            if i > 0:
                x = torch.cat([x, features[i - 1]], 1)
            x = self.decoder[2 * step + 1](x)
        return torch.sigmoid(self.decoder[10](x))


class PoseDecoder(nn.Module):
    """Monodepth2's pose head on the last feature map of the pose encoder.

    Returns (axisangle, translation), each (B, num_frames, 3), already multiplied by 0.01 as monodepth2 does.
    """

    def __init__(self, num_ch_enc_last: int, num_frames: int = 2) -> None:
        super().__init__()
        self.num_frames = num_frames
        self.net = nn.ModuleList([
            nn.Conv2d(num_ch_enc_last, 256, 1),
            nn.Conv2d(256, 256, 3, 1, 1),
            nn.Conv2d(256, 256, 3, 1, 1),
            nn.Conv2d(256, 6 * num_frames, 1),
        ])

    def forward(self, last_feature: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = last_feature
        for conv in self.net[:3]:
            x = F.relu(conv(x))
        out = 0.01 * self.net[3](x).mean((2, 3)).view(-1, self.num_frames, 6)
        return out[..., :3], out[..., 3:]


def disp_to_depth(sigmoid: torch.Tensor, min_depth: float, max_depth: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Monodepth2's mapping of the sigmoid output s: (scaled disparity, depth = 1 / scaled disparity).

    scaled = 1/max_depth + (1/min_depth - 1/max_depth) * s, so depth lies in [min_depth, max_depth].
    """
    min_disp, max_disp = 1.0 / max_depth, 1.0 / min_depth
    scaled = min_disp + (max_disp - min_disp) * sigmoid
    return scaled, 1.0 / scaled


def transformation_from_parameters(
    axisangle: torch.Tensor, translation: torch.Tensor, invert: bool = False
) -> torch.Tensor:
    """(B, 3) axis-angle and (B, 3) translation -> (B, 4, 4) transform, as monodepth2 builds cam_T_cam.

    Without `invert` the transform is T(t) R; with it, R^T T(-t), its inverse (monodepth2 inverts for the
    previous frame, whose pose network input is ordered (previous, target)).
    """
    angle = axisangle.norm(dim=-1, keepdim=True)
    axis = axisangle / (angle + 1e-7)
    cos, sin = torch.cos(angle)[..., None], torch.sin(angle)[..., None]
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    cross = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).view(-1, 3, 3)
    eye = torch.eye(3, dtype=axis.dtype, device=axis.device)
    rotation = cos * eye + sin * cross + (1 - cos) * axis[:, :, None] * axis[:, None, :]
    t = translation[:, :, None]
    if invert:
        rotation = rotation.transpose(1, 2)
        t = -(rotation @ t)
    out = torch.zeros(axisangle.shape[0], 4, 4, dtype=axis.dtype, device=axis.device)
    out[:, :3, :3] = rotation
    out[:, :3, 3:] = t
    out[:, 3, 3] = 1
    return out
