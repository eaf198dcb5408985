"""An exponential moving average of the weights (torch.optim.swa_utils), the model a run evaluates and keeps.

The average follows the trained weights after every optimiser step, batch-norm statistics included, and is
what each epoch's validation measures and what the run saves; the resume state holds it beside the trained
weights.
"""

from __future__ import annotations

from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ..config import Experiment


def make_ema(model: nn.Module, config: Experiment) -> AveragedModel | None:
    if not config.ema_decay:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True)
