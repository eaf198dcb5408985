"""Checkpoints: a run folder with the weights (safetensors) and meta.json (the run record). Nothing is ever
unpickled except through `torch.load(weights_only=True)`."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from ..config import Experiment
from ..errors import CheckpointError, ConfigError
from ..models import build_model
from .files import META_FILE, WEIGHTS_FILE, atomic_write_json, read_weights, save_weights, weights_digest
from .record import RunRecord, read_record


def save_checkpoint(directory: str | Path, model: nn.Module, record: RunRecord) -> Path:
    directory = Path(directory)
    save_weights(directory / WEIGHTS_FILE, model.state_dict())
    record.weights_sha256 = weights_digest(directory / WEIGHTS_FILE)
    # meta.json last: a directory with meta.json always has matching weights beside it (and names their digest).
    atomic_write_json(directory / META_FILE, record.to_dict())
    record.path = directory
    return directory


def write_record(directory: str | Path, record: RunRecord) -> None:
    """Rewrite a run's meta.json alone (atomically), for figures added after training; the weights stay."""
    atomic_write_json(Path(directory) / META_FILE, record.to_dict())


def start_from_run(model: nn.Module, config: Experiment, classes: list[str]) -> None:
    """Load `config.init_from`'s trained weights into a fresh model of the same kind (fine-tuning a run)."""
    assert config.init_from is not None
    source, record = load_checkpoint(config.init_from)
    theirs = record.config
    # The input size may differ: the fer backbones' weights do not depend on it (convolutions, then global
    # pooling), and fine-tuning at a new size is a lever of its own. (notMNIST's sizes are fixed at 28 px; a
    # dense layer sized otherwise would not load, below.)
    if (theirs.task, theirs.model) != (config.task, config.model):
        raise ConfigError(
            f"--init-from {config.init_from} is a {theirs.task} {theirs.model}; this run is a {config.task} "
            f"{config.model}"
        )
    if list(record.classes) != classes:
        raise ConfigError(f"--init-from {config.init_from} has other classes ({', '.join(record.classes)})")
    try:
        model.load_state_dict(source.state_dict())
    except RuntimeError as exc:  # e.g. another architecture's shapes: one line, not torch's list of every key
        detail = " ".join(str(exc).split("\n\t", 1)[-1].split())[:160]  # torch's first line only names the class
        msg = f"--init-from {config.init_from}: its weights do not fit this model ({detail})"
        raise ConfigError(msg) from None


def load_checkpoint(directory: str | Path) -> tuple[nn.Module, RunRecord]:
    """Build the model the record describes and load its weights; the model is in eval mode."""
    directory = Path(directory)
    record = read_record(directory)
    model = build_model(record.config, num_classes=len(record.classes), load_weights=False)
    state = read_weights(directory)
    expected = model.state_dict()
    mismatched = [k for k in expected if k not in state or getattr(state[k], "shape", None) != expected[k].shape]
    unexpected = [k for k in state if k not in expected]
    if mismatched or unexpected:
        raise CheckpointError(
            f"weights in {directory} do not fit a '{record.config.model}' model "
            f"({len(mismatched)} missing or mis-shaped, {len(unexpected)} unexpected tensors)"
        )
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})
    return model.eval(), record
