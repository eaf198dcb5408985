"""Models: the notMNIST CNN and MLP, and the staged ImageNet backbones for FER; `build_model` picks one."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ..config import Experiment
from .small import MLP, DeepCNN, SmallCNN

__all__ = ["BUILDERS", "MLP", "DeepCNN", "SmallCNN", "build_model", "count_parameters"]

Builder = Callable[[Experiment, int, bool], nn.Module]  # (config, number of classes, load pretrained weights)


def _dropout(config: Experiment, default: float) -> float:
    return default if config.dropout is None else config.dropout


def _backbone(config: Experiment, num_classes: int, load_weights: bool) -> nn.Module:
    from .backbones import build_backbone  # torchvision only where a backbone is asked for

    return build_backbone(config, num_classes, load_weights=load_weights)


# Every network's builder, by the names of core.config.MODEL_REGISTRY (a test checks they match).
BUILDERS: dict[str, Builder] = {
    "cnn": lambda c, n, _: SmallCNN(n, c.image_size, dropout=_dropout(c, 0.5)),
    "mlp": lambda c, n, _: MLP(n, c.image_size, dropout=_dropout(c, 0.3)),
    "deep_cnn": lambda c, n, _: DeepCNN(n, c.image_size, dropout=_dropout(c, 0.3)),
    "resnet18": _backbone,
    "mobilenet_v2": _backbone,
}


def build_model(config: Experiment, num_classes: int = 10, load_weights: bool = True) -> nn.Module:
    """The model `config` describes. load_weights=False skips pretrained weights (a checkpoint follows)."""
    return BUILDERS[config.arch](config, num_classes, load_weights)


def count_parameters(model: nn.Module, trainable: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable)
