"""Where models run: the device, whether it has bf16, a mode (precision and memory layout), and logits for uint8
batches in a chosen mode. Which mode is fastest is measured by core.inference.modes."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Mode:
    precision: str  # fp32 | bf16
    memory_format: str  # nchw | channels-last

    @property
    def name(self) -> str:
        return f"{self.precision}/{self.memory_format}"

    @property
    def torch_format(self) -> torch.memory_format:
        return torch.channels_last if self.memory_format == "channels-last" else torch.contiguous_format

    def autocast(self, dev: torch.device) -> contextlib.AbstractContextManager:
        if self.precision == "bf16":
            return torch.autocast(dev.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def prepare(self, model: nn.Module) -> nn.Module:
        """The model's 4-d weights in this layout (in place)."""
        return model.to(memory_format=self.torch_format)

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=self.torch_format) if x.dim() == 4 else x

    @classmethod
    def parse(cls, name: str) -> Mode:
        precision, memory_format = name.split("/")
        return cls(precision, memory_format)


FP32 = Mode("fp32", "nchw")


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
    mode = mode or FP32
    dev = next(model.parameters()).device
    out = []
    for start in range(0, len(images_u8), batch_size):
        x = mode.inputs(transform(images_u8[start : start + batch_size]).to(dev))
        with mode.autocast(dev):
            out.append(model(x).float().cpu())
    return torch.cat(out) if out else torch.empty(0, 0)
