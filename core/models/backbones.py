"""ImageNet backbones for the emotion study, cut into stages so a prefix can be frozen.

Freeze depth -> what is frozen (each depth includes everything before it):

| depth  | ResNet-18                  | MobileNetV2 (same output strides)      |
|--------|----------------------------|----------------------------------------|
| none   | nothing                    | nothing                                |
| layer1 | stem + layer1 (stride 4)   | features[0:4]   (stride 4)             |
| layer2 | + layer2 (stride 8)        | + features[4:7] (stride 8)             |
| layer3 | + layer3 (stride 16)       | + features[7:14] (stride 16)           |
| all    | + layer4 (stride 32)       | + features[14:19] (stride 32, 1x1 conv)|

Only the classifier head trains at `all`. Frozen stages run under `torch.no_grad()` (no autograd work) and
stay in eval mode, so their BatchNorm statistics do not move.

Input: the model takes the grayscale face (N x 1 x H x W in [0, 1]). The study's preprocessing -- repeat to
3 channels, normalise with ImageNet mean/std -- happens exactly inside the first convolution
(`GrayToRGBConv`), which saves two thirds of that layer's work and memory traffic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from ..config import FREEZE_DEPTHS, Experiment
from ..data.transforms import IMAGENET_MEAN, IMAGENET_STD
from ..errors import WeightsUnavailable


def _is_channels_last(w: torch.Tensor) -> bool:
    return w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()


class GrayToRGBConv(nn.Module):
    """The first conv of an RGB network applied to a grayscale image as if it had been repeated to 3 channels
    and normalised per channel -- exactly, with 2 input channels instead of 3:

        sum_c W_c * (g - m_c) / s_c  =  (sum_c W_c / s_c) * g  +  (-sum_c W_c m_c / s_c) * 1

    The all-ones second channel is zero-padded like the image, so the border is exact too. The weight keeps
    its RGB shape, so ImageNet weights load unchanged and train as usual.
    """

    def __init__(self, conv: nn.Conv2d, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        super().__init__()
        self.conv = conv
        self.register_buffer("scale", 1.0 / torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("shift", -(torch.tensor(mean) / torch.tensor(std)).view(1, 3, 1, 1), persistent=False)

    scale: torch.Tensor
    shift: torch.Tensor

    def forward(self, gray: torch.Tensor) -> torch.Tensor:
        c = self.conv
        w = c.weight
        weight = torch.cat([(w * self.scale).sum(1, keepdim=True), (w * self.shift).sum(1, keepdim=True)], 1)
        n, _, h, w_ = gray.shape
        layout = torch.channels_last if _is_channels_last(w) else torch.contiguous_format  # the model's (modes)
        x = torch.empty((n, 2, h, w_), dtype=gray.dtype, device=gray.device, memory_format=layout)
        x[:, 0] = gray[:, 0]
        x[:, 1] = 1.0
        return F.conv2d(x, weight, c.bias, c.stride, c.padding)


class StagedBackbone(nn.Module):
    def __init__(self, stages: list[nn.Module], head: nn.Module):
        super().__init__()
        self.stages = nn.ModuleList(stages)
        self.head = head
        self.frozen = 0

    def freeze(self, depth: str) -> StagedBackbone:
        self.frozen = FREEZE_DEPTHS.index(depth)
        for i, stage in enumerate(self.stages):
            for p in stage.parameters():
                p.requires_grad = i >= self.frozen
        return self.train(self.training)

    def train(self, mode: bool = True) -> StagedBackbone:
        super().train(mode)
        for stage in self.stages[: self.frozen]:
            stage.eval()  # frozen BatchNorm keeps its (ImageNet) statistics
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.frozen:
            with torch.no_grad():
                for stage in self.stages[: self.frozen]:
                    x = stage(x)
        for stage in self.stages[self.frozen :]:
            x = stage(x)
        return self.head(x)


def _staged(arch: str, net: Any, num_classes: int) -> StagedBackbone:  # torchvision's nets: attributes untyped
    if arch == "resnet18":
        stem = nn.Sequential(GrayToRGBConv(net.conv1), net.bn1, net.relu, net.maxpool, net.layer1)
        head = nn.Sequential(net.avgpool, nn.Flatten(), nn.Linear(net.fc.in_features, num_classes))
        return StagedBackbone([stem, net.layer2, net.layer3, net.layer4], head)
    if arch == "mobilenet_v2":
        f = net.features
        f[0][0] = GrayToRGBConv(f[0][0])
        head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(0.2),
            nn.Linear(net.classifier[-1].in_features, num_classes),
        )
        return StagedBackbone([f[0:4], f[4:7], f[7:14], f[14:19]], head)
    raise ValueError(f"unknown architecture {arch!r}")


def imagenet_weights_file(arch: str) -> Path:
    """Where torchvision keeps (or would download) the architecture's ImageNet weights on this machine."""
    weights = torchvision.models.get_model_weights(arch).IMAGENET1K_V1
    return Path(torch.hub.get_dir()) / "checkpoints" / weights.url.rsplit("/", 1)[-1]


def _imagenet_state_dict(arch: str) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet weights through its own weights API (download, or $TORCH_HOME cache)."""
    weights = torchvision.models.get_model_weights(arch).IMAGENET1K_V1
    file_name = weights.url.rsplit("/", 1)[-1]
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:  # URLError offline, RuntimeError on a bad hash, ...
        cache = Path(torch.hub.get_dir()) / "checkpoints"
        raise WeightsUnavailable(
            f"The ImageNet weights for {arch} are not in {cache} ({file_name}) and could not be downloaded "
            f"({type(exc).__name__}); run once with internet, copy {file_name} there, or pass --weights FILE."
        ) from None


def _local_state_dict(path: str) -> dict[str, torch.Tensor]:
    file = Path(path).expanduser()
    if not file.is_file():
        raise WeightsUnavailable(f"No weights file at {file}; pass a torchvision state_dict (.pth or .safetensors).")
    try:
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(file)
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsUnavailable(f"{file} is not a plain state_dict of tensors ({type(exc).__name__}: {exc})") from None


def build_backbone(config: Experiment, num_classes: int, load_weights: bool = True) -> StagedBackbone:
    """The architecture of `config`; with load_weights, ImageNet (or --weights) weights before the new head."""
    net = getattr(torchvision.models, config.arch)(weights=None)
    if load_weights and (config.pretrained or config.weights):
        state = _local_state_dict(config.weights) if config.weights else _imagenet_state_dict(config.arch)
        head_keys = {"fc.weight", "fc.bias", "classifier.1.weight", "classifier.1.bias"}
        missing, unexpected = net.load_state_dict({k: v for k, v in state.items() if k not in head_keys}, strict=False)
        if unexpected or set(missing) - head_keys:
            raise WeightsUnavailable(
                f"the weights do not fit torchvision's {config.model} "
                f"({len(missing)} missing, {len(unexpected)} unexpected tensors)"
            )
    return _staged(config.arch, net, num_classes).freeze(config.freeze)
