"""Where models run: the device, whether it has bf16, and logits for uint8 batches in a chosen mode."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from .modes import Mode


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def bf16_supported(dev: torch.device) -> bool:
    if dev.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    images_u8: torch.Tensor,
    transform: Callable[[torch.Tensor], torch.Tensor],
    mode: Mode | None = None,
    batch_size: int = 256,
) -> torch.Tensor:
    """Logits for uint8 images, through the evaluation transform, in batches, in `mode` (core.inference.modes;
    default fp32, the model's own layout). The model must be in eval mode (load_checkpoint returns it so;
    evaluate sets it): switching modes per call costs milliseconds per frame."""
    from .modes import FP32

    mode = mode or FP32
    dev = next(model.parameters()).device
    out = []
    for start in range(0, len(images_u8), batch_size):
        x = mode.inputs(transform(images_u8[start : start + batch_size]).to(dev))
        with mode.autocast(dev):
            out.append(model(x).float().cpu())
    return torch.cat(out) if out else torch.empty(0, 0)
