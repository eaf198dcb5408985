"""Models: the notMNIST CNN and MLP, and the staged ImageNet backbones for FER; `build_model` picks one."""

from __future__ import annotations

from torch import nn

from ..config import Experiment
from .small import MLP, DeepCNN, SmallCNN

__all__ = ["MLP", "SmallCNN", "build_model", "count_parameters"]


def build_model(config: Experiment, num_classes: int = 10, load_weights: bool = True) -> nn.Module:
    """The model `config` describes. load_weights=False skips pretrained weights (a checkpoint follows)."""
    if config.model == "cnn":
        return SmallCNN(num_classes, config.image_size, dropout=0.5 if config.dropout is None else config.dropout)
    if config.model == "deep_cnn":
        return DeepCNN(num_classes, config.image_size, dropout=0.3 if config.dropout is None else config.dropout)
    if config.model == "mlp":
        return MLP(num_classes, config.image_size, dropout=0.3 if config.dropout is None else config.dropout)
    from .backbones import build_backbone  # torchvision only where a backbone is asked for

    return build_backbone(config, num_classes, load_weights=load_weights)


def count_parameters(model: nn.Module, trainable: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable)
