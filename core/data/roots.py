"""Which data sources a browser user may pick: hub ids, the bundled sample, and dataset folders found under the
configured data roots. Nothing else is read, so a page can never be made to walk or read arbitrary server paths.

    STUDY_DATA_ROOTS=/srv/data:/home/me/data   # folders searched for datasets (default: ../shared/data, ~/data)
"""

from __future__ import annotations

import os
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataSourceError
from .sources import DatasetSpec, is_hub_id

ROOTS_ENV = "STUDY_DATA_ROOTS"
PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
SCAN_DEPTH = 2  # a dataset folder is a root, or a folder at most this far below one
SCAN_SECONDS = 1.0  # the scan stops there, whatever it has found
SCAN_ENTRIES = 2000  # and after looking at this many folders


def data_roots() -> list[Path]:
    """The folders datasets are looked for in: $STUDY_DATA_ROOTS, else ../shared/data and ~/data (those that exist)."""
    configured = os.environ.get(ROOTS_ENV)
    if configured:
        candidates = [Path(p).expanduser() for p in configured.split(os.pathsep) if p.strip()]
    else:
        candidates = [PROJECT_ROOT.parent / "shared" / "data", Path.home() / "data"]
    return [p.resolve() for p in candidates if p.is_dir()]


def _class_names(folder: Path) -> set[str]:
    """The class names a dataset folder declares: its README's label names, or its class sub-folders."""
    readme = folder / "README.md"
    names: set[str] = set()
    if readme.is_file() and readme.stat().st_size < 200_000:
        names |= {m.lower() for m in re.findall(r"'\d+':\s*([\w-]+)", readme.read_text(errors="replace"))}
    for split in (folder, folder / "train"):
        if split.is_dir():
            names |= {p.name.lower() for p in split.iterdir() if p.is_dir()}
    return names


def fits(spec: DatasetSpec, folder: Path) -> bool:
    """Whether a folder looks like a dataset of this task (every class present, by name or alias)."""
    names = _class_names(folder)
    wanted = {c.lower() for c in spec.classes}
    aliases = {a.lower(): c.lower() for a, c in spec.aliases.items()}
    return wanted <= {aliases.get(n, n) for n in names}


@dataclass(frozen=True)
class Choice:
    """One source a user may pick, and how the app shows it."""

    source: str  # what core.data.cache.load_split takes
    label: str
    full: bool  # a full dataset (can train); the bundled sample is not


def local_datasets(spec: DatasetSpec, roots: list[Path] | None = None) -> list[Path]:
    """Dataset folders of this task under the roots, found by a scan bounded in depth, entries and time."""
    found, seen, deadline = [], 0, time.monotonic() + SCAN_SECONDS
    queue = [(root, 0) for root in (data_roots() if roots is None else roots)]
    while queue and seen < SCAN_ENTRIES and time.monotonic() < deadline:
        folder, depth = queue.pop(0)
        seen += 1
        try:
            if fits(spec, folder):
                found.append(folder)
                continue
            if depth < SCAN_DEPTH:
                queue += [(p, depth + 1) for p in sorted(folder.iterdir()) if p.is_dir() and not p.name.startswith(".")]
        except OSError:
            continue  # unreadable: not offered
    return found


def hub_reachable(timeout: float = 1.0) -> bool:
    """Whether the Hugging Face hub answers now (never, with HF_HUB_OFFLINE=1 or HF_DATASETS_OFFLINE=1)."""
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1":
        return False
    try:
        socket.create_connection(("huggingface.co", 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def choices(spec: DatasetSpec, online: bool, roots: list[Path] | None = None) -> list[Choice]:
    """What the app offers for a task, the best first: the hub copy when online, then local datasets, then the
    bundled sample (which can show samples but not train)."""
    out = []
    hub = Choice(spec.hub_id, f"{spec.hub_id} (Hugging Face hub)", True) if spec.hub_id else None
    if hub and online:
        out.append(hub)
    for folder in local_datasets(spec, roots):
        shown = (
            str(folder.relative_to(PROJECT_ROOT.parent)) if folder.is_relative_to(PROJECT_ROOT.parent) else str(folder)
        )
        out.append(Choice(str(folder), f"{shown} (local folder)", True))
    if hub and not online:
        out.append(Choice(spec.hub_id or "", f"{spec.hub_id} (hub, unreachable now)", True))
    if spec.bundled is not None:
        out.append(Choice("bundled", "bundled sample (200 test images; no training)", False))
    return out


def reference(source: str) -> str:
    """A portable name for a data source, kept in a run's record: a folder under a data root as its path below
    that root ("fer"), any other folder by its name ("framed-fer"), a hub id or `bundled` as itself."""
    if not _looks_like_path(source):
        return source
    folder = Path(source).expanduser().resolve()
    for root in data_roots():
        if folder.is_relative_to(root) and folder != root:
            return folder.relative_to(root).as_posix()
    return folder.name


def _looks_like_path(source: str) -> bool:
    return not is_hub_id(source) and source != "bundled"


def locate(spec: DatasetSpec, task: str, source: str, portable: str | None = None) -> str:
    """The data a run was trained on, on this machine: the recorded source where it exists (or is a hub id),
    else the dataset folder its portable reference names under the data roots, else one of this task's dataset
    folders there with the same name. A one-line error names what was looked for when none is found."""
    if not _looks_like_path(source) or Path(source).expanduser().is_dir():
        return source
    name = portable or Path(source).name
    roots = data_roots()
    for root in roots:
        candidate = root / name
        if ".." not in Path(name).parts and candidate.is_dir() and fits(spec, candidate):
            return str(candidate)
    for folder in local_datasets(spec, roots):
        if folder.name == Path(name).name:
            return str(folder)
    where = ", ".join(str(r) for r in roots) or "none exist"
    raise DataSourceError(
        f"the run's data ({source}) is not on this machine, and no {task} dataset '{name}' is under the data "
        f"roots ({where}; set {ROOTS_ENV}); give --data"
    )
