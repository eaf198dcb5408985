"""Writing run files so that no reader ever sees half of one, and reading weights without unpickling code."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CheckpointError

if TYPE_CHECKING:
    import torch

# Fault injection for benchmarks/faults.py only: "NAME" or "NAME:K" kills this process with SIGKILL the K-th
# time it reaches the point NAME (K = 1 by default). Unset, fault_point does nothing.
FAULT_ENV = "STUDY_FAULT_POINT"
_fault_counts: dict[str, int] = {}

WEIGHTS_FILE = "model.safetensors"
TORCH_WEIGHTS_FILE = "model.pt"  # accepted on load, read with weights_only=True
META_FILE = "meta.json"


def fault_point(name: str) -> None:
    """SIGKILL this process here when $STUDY_FAULT_POINT names this point (see FAULT_ENV)."""
    wanted = os.environ.get(FAULT_ENV)
    if not wanted:
        return
    point, _, nth = wanted.rpartition(":")
    if not nth.isdigit():  # no count given: the first time
        point, nth = wanted, "1"
    if point != name:
        return
    _fault_counts[name] = _fault_counts.get(name, 0) + 1
    if _fault_counts[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: readers never see a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        tmp.write(data)
        tmp.flush()
        os.fsync(tmp.fileno())
    fault_point(f"write:{path.name}")  # the temporary file is complete, the rename not yet done
    os.replace(tmp.name, path)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(Path(path), (json.dumps(obj, indent=2) + "\n").encode())


def save_weights(path: Path, state: dict[str, torch.Tensor]) -> None:
    """A state_dict as safetensors, atomically."""
    from safetensors.torch import save_file  # torch, only where weights are written

    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        pass
    save_file(tensors, tmp.name)
    fault_point(f"write:{path.name}")
    os.replace(tmp.name, path)


def read_weights(directory: Path) -> dict[str, torch.Tensor]:
    """The state_dict in a run folder: safetensors, or a plain tensor pickle read with weights_only=True."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if (directory / WEIGHTS_FILE).is_file():
        try:
            return load_file(directory / WEIGHTS_FILE)
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{directory / WEIGHTS_FILE} is not a valid safetensors file ({exc})") from None
    if (directory / TORCH_WEIGHTS_FILE).is_file():
        return read_tensor_pickle(directory / TORCH_WEIGHTS_FILE)
    raise CheckpointError(f"{directory} has no weights ({WEIGHTS_FILE} or {TORCH_WEIGHTS_FILE})")


def read_tensor_pickle(path: Path) -> dict[str, Any]:
    """A torch.save file of tensors and plain values, refused (one line, no hint to unpickle) if it holds code."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError for code in the pickle, EOFError/RuntimeError for truncation
        text = str(exc).strip()
        reason = (
            "it holds something other than tensors and plain values"
            if "weights_only" in text
            else (text.splitlines()[0] if text else type(exc).__name__)
        )
        raise CheckpointError(f"{path} was refused: it is not a plain tensor state_dict ({reason})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} does not hold a dict of tensors")
    return state


def weights_digest(path: Path) -> str:
    """SHA-256 of a weights file: the record keeps it, so a record and the weights beside it can be checked."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def has_weights(directory: str | Path) -> bool:
    """Whether the directory can be loaded (some shipped runs keep only their meta.json)."""
    return any((Path(directory) / name).is_file() for name in (WEIGHTS_FILE, TORCH_WEIGHTS_FILE))


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None
