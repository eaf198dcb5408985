"""The state after each epoch (`last/` in the run's partial folder), so a stopped run continues bit-identically."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import LRScheduler
from torch.optim.swa_utils import AveragedModel

from ..config import Experiment
from ..errors import CheckpointError, ConfigError
from ..runs.files import WEIGHTS_FILE, atomic_write_bytes, read_tensor_pickle, read_weights
from ..runs.layout import LAST_DIR

STATE_FILE = "train_state.pt"
# Settings that may differ on resume without changing the result (where the data is, free-form notes).
RESUMABLE_CHANGES = ("data", "extra")


@dataclass
class Trainables:
    """What a resume state restores: the plain network, its optimiser and schedule, the generator that
    orders the training set, and the average of the weights where the run keeps one."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: LRScheduler
    generator: torch.Generator
    ema: AveragedModel | None = None


@dataclass
class Best:
    """The epoch kept as the model so far (by validation accuracy, or the last epoch) and its weights."""

    epoch: int | None = None
    accuracy: float = -1.0
    weights: dict[str, torch.Tensor] | None = None


def can_resume(out_dir: str | Path | None) -> bool:
    return out_dir is not None and (Path(out_dir) / LAST_DIR / STATE_FILE).is_file()


def save_last(
    out_dir: Path, config: Experiment, parts: Trainables, epoch: int, history: list, best: Best, world_size: int = 1
) -> None:
    """Everything needed to continue after `epoch` (the weights, the best epoch's weights, optimiser, schedule,
    random states, setting) in one file written atomically: a kill leaves the previous epoch's state or this
    one's, never a mix."""
    import io

    last = out_dir / LAST_DIR
    current = {k: v.detach().cpu() for k, v in parts.model.state_dict().items()}
    state = {
        "epoch": epoch,
        "model": current,
        # the best epoch's weights, unless they are the current ones (they are, for last-epoch selection)
        "best_weights": None if best.epoch == epoch else best.weights,
        "history": history,
        "best_epoch": best.epoch,
        "best_accuracy": best.accuracy,
        "optimizer": parts.optimizer.state_dict(),
        "scheduler": parts.scheduler.state_dict(),
        "generator": parts.generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "ema": None if parts.ema is None else {k: v.detach().cpu() for k, v in parts.ema.state_dict().items()},
        "config": config.to_dict(),
        "world_size": world_size,
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(last / STATE_FILE, buffer.getvalue())


def check_same_setting(saved: dict[str, Any] | None, config: Experiment, out_dir: Path) -> None:
    """A resumed run must have the setting it started with, or its record would describe a run that never was."""
    if saved is None:
        return  # state written before settings were saved with it
    now = config.to_dict()
    differ = [k for k in now if k not in RESUMABLE_CHANGES and k in saved and saved[k] != now[k]]
    if differ:
        shown = ", ".join(f"{k} {saved[k]!r} -> {now[k]!r}" for k in differ)
        raise ConfigError(
            f"cannot resume {out_dir}: the setting differs from the saved run ({shown}); resume with "
            "the same flags, or start fresh: another --out, or without --resume"
        )


# The fields of a resume state that are read as plain values: (the kinds each may be, whether it may be absent).
_STATE_FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "epoch": ((int,), False),
    "history": ((list,), False),
    "best_epoch": ((int, type(None)), False),
    "best_accuracy": ((int, float), False),
    "config": ((dict, type(None)), True),  # absent in states written before settings were saved with them
    "world_size": ((int,), True),
}


def _check_state(state: dict[str, Any], last: Path) -> None:
    """A state missing a field or holding one of the wrong kind (hand-edited, or from another program) is refused
    by name before anything is restored from it."""
    for name, (kinds, optional) in _STATE_FIELDS.items():
        if name not in state:
            if optional:
                continue
            problem = f"it has no {name!r}"
        elif isinstance(state[name], bool) or not isinstance(state[name], kinds):
            expected = " or ".join("None" if kind is type(None) else kind.__name__ for kind in kinds)
            problem = f"its {name!r} is a {type(state[name]).__name__}, not {expected}"
        else:
            continue
        raise CheckpointError(
            f"the saved state {last / STATE_FILE} cannot be resumed: {problem}; start fresh without --resume"
        )


def load_last(out_dir: Path, config: Experiment, parts: Trainables, world_size: int = 1) -> tuple[int, list, Best]:
    last = out_dir / LAST_DIR
    state = read_tensor_pickle(last / STATE_FILE)  # never unpickles code
    _check_state(state, last)
    check_same_setting(state.get("config"), config, out_dir)
    saved_world = state.get("world_size", 1)
    if saved_world != world_size:  # the shards and the global batch would differ from the run so far
        raise ConfigError(
            f"cannot resume {out_dir}: it was trained by {saved_world} process(es), this is {world_size}; resume "
            f"with torchrun --nproc_per_node {saved_world}, or start fresh without --resume"
        )
    try:
        current = state["model"] if "model" in state else read_weights(last)  # (states written before v2: a file)
        parts.model.load_state_dict(current)
        parts.optimizer.load_state_dict(state["optimizer"])
        parts.scheduler.load_state_dict(state["scheduler"])
        parts.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if parts.ema is not None:
            parts.ema.load_state_dict(state["ema"])
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise CheckpointError(
            f"the saved state in {last} does not fit this run ({type(exc).__name__}); start fresh without --resume"
        ) from None
    best = Best(state["best_epoch"], state["best_accuracy"])
    if state.get("best_weights") is not None:
        best.weights = state["best_weights"]
    elif best.epoch == state["epoch"]:
        best.weights = {k: v.clone() for k, v in current.items()}
    elif (out_dir / WEIGHTS_FILE).exists():  # states written before v2 kept the best weights beside last/
        best.weights = read_weights(out_dir)
    return state["epoch"], state["history"], best
