"""An ensemble of finished runs: the mean of their predicted probabilities, each run read in its own
preprocessing (its own input size and normalisation), so runs of one task trained at different sizes combine.

`python -m core evaluate RUN RUN ...` measures one; knowledge distillation (core.engine.distill) teaches one to a
student. Averaging probabilities, not logits, keeps a run with large logits from outvoting the others.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch

from ..data.sources import ImageSplit
from ..data.tasks import batch_transform
from ..errors import ConfigError
from ..runs.checkpoint import load_checkpoint
from ..runs.files import has_weights
from ..runs.record import RunRecord, read_record
from .modes import inference_mode
from .tta import BATCH, tta_logits

log = logging.getLogger(__name__)


def check_members(folders: Sequence[str | Path], task: str | None = None, classes: Sequence[str] | None = None,
                  role: str = "run", against: str = "the first run") -> list[RunRecord]:  # fmt: skip
    """The records of finished runs with weights, all of one task and one class list (`against`'s: the first
    run's unless given), checked before minutes are spent on any of them."""
    if not folders:
        raise ConfigError(f"no {role} folder given")
    records = []
    for folder in folders:
        record = read_record(folder)
        if not record.complete:
            raise ConfigError(f"{role} {folder} has not finished training")
        if not has_weights(folder):
            raise ConfigError(f"{role} {folder} has a record but no weights (they may not ship with the repository)")
        task = task or record.config.task
        classes = list(classes) if classes is not None else list(record.classes)
        if record.config.task != task or list(record.classes) != classes:
            raise ConfigError(f"{role} {folder} is a {record.config.task} model with other classes than {against}")
        records.append(record)
    return records


def member_logits(folder: str | Path, split: ImageSplit, tta: str = "none", precision: str = "auto",
                  memory_format: str = "auto") -> torch.Tensor:  # fmt: skip
    """One run's logits on a split, in its own preprocessing, averaged over the `tta` views (core.inference.tta),
    in the fastest mode here unless precision or memory format is given."""
    model, record = load_checkpoint(folder)
    mode, _ = inference_mode(model, record.config, BATCH, precision, memory_format)
    with torch.inference_mode():
        return tta_logits(model, split.images, batch_transform(record.config).eval, mode, tta)


def mean_probabilities(folders: Sequence[str | Path], split: ImageSplit, tta: str = "none", temperature: float = 1.0,
                       precision: str = "auto", memory_format: str = "auto") -> torch.Tensor:  # fmt: skip
    """The runs' mean probabilities (softened by `temperature`), one row per image of `split`; each run's own
    accuracy on it is logged as it is done."""
    total = torch.zeros(len(split), len(split.classes))
    for i, folder in enumerate(folders, 1):
        log.info("%d/%d %s: predicting %d %s images", i, len(folders), folder, len(split), split.split)
        logits = member_logits(folder, split, tta, precision, memory_format)
        accuracy = (logits.argmax(1) == split.labels).float().mean().item()
        log.info("%d/%d %s: %.1f %% on %s", i, len(folders), folder, 100 * accuracy, split.split)
        total += torch.softmax(logits / temperature, 1)
    return total / len(folders)
