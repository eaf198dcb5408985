"""Checkpoints: a directory with the weights (safetensors) and a meta.json (config, classes,
preprocessing, metrics). Nothing is ever unpickled except through `torch.load(weights_only=True)`."""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from .config import Experiment

WEIGHTS_FILE = "model.safetensors"
TORCH_WEIGHTS_FILE = "model.pt"  # accepted on load, read with weights_only=True
META_FILE = "meta.json"
FORMAT = "dl-study-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """Not a valid checkpoint; the message says why in one sentence."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: readers never see a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        tmp.write(data)
        tmp.flush()
        os.fsync(tmp.fileno())
    os.replace(tmp.name, path)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(Path(path), (json.dumps(obj, indent=2) + "\n").encode())


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def save_weights(path: Path, state: dict[str, torch.Tensor]) -> None:
    """A state_dict as safetensors, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        pass
    save_file(tensors, tmp.name)
    os.replace(tmp.name, path)


def save_checkpoint(directory: str | Path, model: nn.Module, meta: dict[str, Any]) -> Path:
    directory = Path(directory)
    save_weights(directory / WEIGHTS_FILE, model.state_dict())
    # meta.json last: a directory with meta.json always has matching weights beside it.
    atomic_write_json(directory / META_FILE, {"format": FORMAT, "format_version": FORMAT_VERSION, **meta})
    return directory


def read_meta(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / META_FILE
    if not path.is_file():
        raise CheckpointError(f"{directory} is not a checkpoint: it has no {META_FILE}")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or "config" not in meta:
        raise CheckpointError(f"{path} is not a checkpoint description (no format/config)")
    return meta


def read_meta_or_none(directory: str | Path) -> dict[str, Any] | None:
    """meta.json of a directory, or None where there is no readable one (a run not finished or not started)."""
    try:
        return read_meta(directory)
    except CheckpointError:
        return None


def is_complete(directory: str | Path) -> bool:
    """Whether the directory holds a finished run (resumable runs are skipped or resumed, finished ones not)."""
    meta = read_meta_or_none(directory)
    return bool(meta and meta.get("complete"))


def _read_weights(directory: Path) -> dict[str, torch.Tensor]:
    if (directory / WEIGHTS_FILE).is_file():
        try:
            return load_file(directory / WEIGHTS_FILE)
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{directory / WEIGHTS_FILE} is not a valid safetensors file ({exc})") from None
    if (directory / TORCH_WEIGHTS_FILE).is_file():
        try:
            state = torch.load(directory / TORCH_WEIGHTS_FILE, map_location="cpu", weights_only=True)
        except Exception as exc:  # UnpicklingError for code in the pickle, EOFError/RuntimeError for truncation
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CheckpointError(
                f"{directory / TORCH_WEIGHTS_FILE} was refused: it is not a plain tensor state_dict ({reason})"
            ) from None
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise CheckpointError(f"{directory / TORCH_WEIGHTS_FILE} does not hold a state_dict of tensors")
        return state
    raise CheckpointError(f"{directory} has no weights ({WEIGHTS_FILE} or {TORCH_WEIGHTS_FILE})")


def load_checkpoint(directory: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Build the model described by meta.json and load its weights; the model is in eval mode."""
    from .models import build_model

    directory = Path(directory)
    meta = read_meta(directory)
    try:
        config = Experiment.from_dict(meta["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{directory / META_FILE} has an invalid config ({exc})") from None
    model = build_model(config, num_classes=len(meta.get("classes", [])) or 10, load_weights=False)
    state = _read_weights(directory)
    expected = model.state_dict()
    mismatched = [k for k in expected if k not in state or state[k].shape != expected[k].shape]
    unexpected = [k for k in state if k not in expected]
    if mismatched or unexpected:
        raise CheckpointError(
            f"weights in {directory} do not fit a '{config.model}' model "
            f"({len(mismatched)} missing or mis-shaped, {len(unexpected)} unexpected tensors)"
        )
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})
    return model.eval(), meta


def has_weights(directory: str | Path) -> bool:
    """Whether the directory can be loaded (some shipped runs keep only their meta.json)."""
    return any((Path(directory) / name).is_file() for name in (WEIGHTS_FILE, TORCH_WEIGHTS_FILE))


def list_checkpoints(root: str | Path, loadable: bool = False) -> list[Path]:
    """Every checkpoint directory under root, sorted; with `loadable`, only those with weights."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = (p.parent for p in root.rglob(META_FILE)
             if not any(part.startswith(".") for part in p.relative_to(root).parts))
    return sorted(p for p in found if not loadable or has_weights(p))
