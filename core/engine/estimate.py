"""How long an epoch will take on this machine, measured with a few real training steps on random input."""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from ..config import Experiment
from ..data.tasks import get_task
from ..inference.runtime import autocast, device
from ..models import build_model, memory_format
from .optim import make_optimizer


def seconds_per_image(config: Experiment, steps: int = 2, batch: int = 16) -> float:
    """Training seconds per image for this architecture, input size and freeze depth (no weights needed)."""
    torch.manual_seed(0)
    dev = device()
    classes = len(get_task(config.task).spec.classes)
    model = build_model(config, num_classes=classes, load_weights=False).to(dev).to(memory_format=memory_format(config))
    optimizer = make_optimizer(model, config)
    x = torch.rand(batch, 1, config.image_size, config.image_size, device=dev)
    y = torch.randint(0, classes, (batch,), device=dev)
    model.train()
    times = []
    for _ in range(steps + 1):  # the first step pays one-off costs
        start = time.perf_counter()
        with autocast(dev, bool(config.bf16)):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return min(times[1:]) / batch
