"""MixUp and CutMix of a training batch (torchvision.transforms.v2), drawn from the run's own generator.

torchvision's transforms draw from torch's global random state; each batch forks that state and seeds it from
the run's generator, so a resumed run mixes exactly the batches an uninterrupted one would, and a run without
mixing draws nothing extra.
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2

from ..config import Experiment


class BatchMixer:
    """Blends each batch with a shuffled copy of itself: MixUp (a weighted average of two images), CutMix (a box
    of one pasted into the other), or one of the two at random per batch when both are set. The targets become
    the same blend of the two one-hot labels."""

    def __init__(self, config: Experiment, num_classes: int) -> None:
        choices: list[v2.Transform] = []
        if config.mixup > 0:
            choices.append(v2.MixUp(alpha=config.mixup, num_classes=num_classes))
        if config.cutmix > 0:
            choices.append(v2.CutMix(alpha=config.cutmix, num_classes=num_classes))
        self.transform = choices[0] if len(choices) == 1 else v2.RandomChoice(choices)

    def __call__(
        self, images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            mixed, targets = self.transform(images, labels)
        return mixed, targets


def make_mixer(config: Experiment, num_classes: int) -> BatchMixer | None:
    return BatchMixer(config, num_classes) if config.mixup > 0 or config.cutmix > 0 else None
