"""Where and in which precision models run: the device, bf16 autocast, and logits for uint8 batches."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
from torch import nn


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def bf16_supported(dev: torch.device) -> bool:
    if dev.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def autocast(dev: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast where the hardware has it (about 2x faster conv training on these CPUs)."""
    if enabled and bf16_supported(dev):
        return torch.autocast(dev.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    images_u8: torch.Tensor,
    transform: Callable[[torch.Tensor], torch.Tensor],
    bf16: bool = True,
    batch_size: int = 256,
) -> torch.Tensor:
    """Logits for uint8 images, through the evaluation transform, in batches. The model must be in eval mode
    (load_checkpoint returns it so; evaluate sets it): switching modes per call costs milliseconds per frame."""
    dev = next(model.parameters()).device
    out = []
    for start in range(0, len(images_u8), batch_size):
        x = transform(images_u8[start : start + batch_size]).to(dev)
        with autocast(dev, bf16):
            out.append(model(x).float().cpu())
    return torch.cat(out) if out else torch.empty(0, 0)
