"""Knowledge distillation (Hinton et al., 2015): the student learns the teachers' softened predictions beside
the labels.

The teachers are finished runs of the same task and classes, each read in its own preprocessing (its own input
size). Their predictions on the training split (averaged with the mirror image, then over the teachers) are
computed once, before the first epoch, and kept with the run's resume state, so a step only looks its images'
targets up. An augmented view of an image is given the plain image's targets: fixed soft labels, the usual
approximation, which costs no teacher forward pass per step.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F

from ..config import Experiment
from ..data.sources import ImageSplit
from ..errors import ConfigError
from ..inference.ensemble import check_members, mean_probabilities
from ..runs.files import save_weights
from ..runs.layout import LAST_DIR

log = logging.getLogger(__name__)
TARGETS_FILE = "teacher_targets.safetensors"


def teacher_folders(config: Experiment) -> list[str]:
    return [part.strip() for part in (config.teachers or "").split(",") if part.strip()]


def check_teachers(config: Experiment, classes: list[str]) -> None:
    """Every teacher a finished run of this task with these classes, checked before minutes are spent on any."""
    folders = teacher_folders(config)
    if not folders:
        raise ConfigError("--teachers names no run folder")
    check_members(folders, config.task, classes, role="teacher", against="this run")


def soft_targets(config: Experiment, split: ImageSplit) -> torch.Tensor:
    """The teachers' mean probabilities at the distillation temperature, one row per image of `split` (the
    teachers checked first: `check_teachers`, which run_experiment calls before any data is read). Faces are
    symmetric enough for the mirror image to be a second opinion: fer teachers average it in."""
    log.info("teachers: predicting the %d %s images once (kept for --resume)", len(split), split.split)
    tta = "flip" if config.task == "fer" else "none"
    return mean_probabilities(teacher_folders(config), split, tta, config.distill_temperature)


def training_targets(config: Experiment, train: ImageSplit, work: Path | None) -> torch.Tensor:
    """The soft targets of the training split, read from the run's resume state when a resumed run has them."""
    path = work / LAST_DIR / TARGETS_FILE if work is not None else None
    if path is not None and path.is_file():
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            targets = load_file(path).get("targets")
        except (SafetensorError, OSError, ValueError):
            targets = None  # a damaged file is computed again, not trusted
        if targets is not None and targets.shape == (len(train), len(train.classes)):
            return targets
    targets = soft_targets(config, train)
    if path is not None:
        save_weights(path, {"targets": targets})
    return targets


def distillation_loss(
    hard_loss: torch.Tensor, logits: torch.Tensor, targets: torch.Tensor, config: Experiment
) -> torch.Tensor:
    """(1 - w) x the label loss + w x T^2 x KL(teachers || student), both softened by T (Hinton's scaling keeps
    the soft term's gradients comparable across temperatures)."""
    t, w = config.distill_temperature, config.distill_weight
    soft = F.kl_div(F.log_softmax(logits / t, 1), targets, reduction="batchmean") * t * t
    return (1 - w) * hard_loss + w * soft
