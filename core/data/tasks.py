"""The tasks by name: each task module says where its data is, how a batch becomes model input and what
meta.json records about that; the training loop and inference ask here instead of branching on the task."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..config import Experiment
from ..errors import ConfigError
from . import fer, notmnist
from .sources import DatasetSpec

if TYPE_CHECKING:
    from .transforms import BatchTransform


@dataclass(frozen=True)
class Task:
    name: str
    spec: DatasetSpec
    make_transform: Callable[[Experiment], BatchTransform]
    preprocessing: Callable[[Experiment], dict[str, Any]]


TASKS = {
    "notmnist": Task("notmnist", notmnist.SPEC, notmnist.make_transform, notmnist.preprocessing),
    "fer": Task("fer", fer.SPEC, fer.make_transform, fer.preprocessing),
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    return TASKS[name]


def batch_transform(config: Experiment) -> BatchTransform:
    """The experiment's batch transform: `.train(images, generator)` and `.eval(images)` on uint8 batches."""
    return get_task(config.task).make_transform(config)
