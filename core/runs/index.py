"""The one checkpoint index: every finished run under some folders, as validated records."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import CheckpointError
from .files import META_FILE, has_weights
from .record import RunRecord, read_record

log = logging.getLogger(__name__)


def _warn(path: Path, error: CheckpointError) -> None:
    log.warning("skipped %s: %s", path, error)


def run_folders(root: str | Path) -> list[Path]:
    """Every folder with a meta.json under root (dot folders, such as job folders, excluded), sorted."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = (
        p.parent for p in root.rglob(META_FILE) if not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    return sorted(found)


def find_runs(
    roots: Path | str | Iterable[Path | str],
    task: str | None = None,
    loadable: bool = False,
    on_error: Callable[[Path, CheckpointError], None] = _warn,
) -> list[RunRecord]:
    """The runs under the roots (each root once), sorted by folder; `task` keeps one task's runs, `loadable`
    only those with weights. A malformed meta.json is skipped and reported to `on_error` (default: a one-line
    warning in the log), so one bad file never hides the others."""
    if isinstance(roots, (str, Path)):
        roots = [roots]
    records = []
    for root in dict.fromkeys(Path(r).resolve() for r in roots):
        for folder in run_folders(root):
            if loadable and not has_weights(folder):
                continue
            try:
                record = read_record(folder)
            except CheckpointError as exc:
                on_error(folder, exc)
                continue
            if task is None or record.task == task:
                records.append(record)
    return records


def agreement(record: RunRecord) -> float | None:
    """The run's validation agreement with people: the mean share of the ten FER+ annotators who chose the emotion
    it predicts (None where its record has no votes)."""
    consensus = record.validation.ferplus if record.validation else None
    return (consensus or {}).get("annotator_agreement")


def best_first(records: Iterable[RunRecord]) -> list[RunRecord]:
    """Best first (the webcam's default model is the first): by validation agreement with the ten FER+ annotators
    where it is recorded, then the runs without it by validation accuracy."""

    def rank(r: RunRecord) -> tuple[bool, float, float]:
        people = agreement(r)
        return people is None, -(people or 0.0), -(r.validation.accuracy if r.validation else 0.0)

    return sorted(records, key=rank)


def webcam_default(root: Path | str) -> RunRecord | None:
    """The emotion model the webcam page opens on: of the FER runs with weights under root, the first by
    `best_first` (None when there is none)."""
    found = best_first(find_runs(root, task="fer", loadable=True))
    return found[0] if found else None
