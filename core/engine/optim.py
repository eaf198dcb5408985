"""The optimiser, the learning-rate schedule and the loss an experiment asks for."""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.lr_scheduler import LRScheduler

from ..config import Experiment
from ..data.sources import ImageSplit


def make_optimizer(model: nn.Module, config: Experiment) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]  # frozen stages get no optimizer state
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay or 0.0)
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay or 0.0)


def make_scheduler(optimizer: torch.optim.Optimizer, config: Experiment, steps: int) -> LRScheduler:
    """Stepped after every batch, so every schedule is smooth in the curves and exact on resume."""
    total = config.epochs * steps
    if config.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    if config.lr_schedule == "step":
        every = config.step_size or max(1, config.epochs // 3)
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=every * steps, gamma=config.gamma)
    if config.lr_schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total)
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


def make_loss(config: Experiment, train: ImageSplit) -> nn.Module:
    weight = None
    if config.class_weights:  # inverse class frequency, mean 1 (disgusted is 1.5 % of FER-2013)
        counts = torch.bincount(train.labels, minlength=len(train.classes)).float().clamp(min=1)
        weight = counts.sum() / (len(counts) * counts)
    return nn.CrossEntropyLoss(weight=weight, label_smoothing=config.label_smoothing)
