"""The freeze-depth sweep: scratch, and pretrained with every freeze depth, into one folder.

Each row is an ordinary run directory (resumable; finished rows are skipped), and `sweep.json` summarises
them after every row, so a sweep interrupted anywhere loses at most the epoch in progress.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Experiment
from ..errors import CheckpointError, ConfigError, StudyError, WeightsUnavailable
from ..runs.files import META_FILE, atomic_write_json
from ..runs.layout import partial_dir
from ..runs.record import RunRecord, is_complete, read_record

if TYPE_CHECKING:
    from ..engine.callbacks import Callback

log = logging.getLogger(__name__)

# (row name, pretrained, freeze depth), in the study's order plus full fine-tuning as the upper reference.
ROWS = (
    ("scratch", False, "none"),
    ("none", True, "none"),
    ("layer1", True, "layer1"),
    ("layer2", True, "layer2"),
    ("layer3", True, "layer3"),
    ("all", True, "all"),
)
# The study's test accuracies (ResNet-18, 224 px); it had no full fine-tuning row.
STUDY_TEST_ACCURACY = {"scratch": 0.591, "layer1": 0.667, "layer2": 0.655, "layer3": 0.629, "all": 0.424}
ROW_LABELS = {
    "scratch": "from scratch",
    "none": "fine-tune all",
    "layer1": "freeze layer1",
    "layer2": "freeze layer1+2",
    "layer3": "freeze layer1+2+3",
    "all": "freeze all conv",
}
SUMMARY_FILE = "sweep.json"
# Fields the sweep sets per row (or names separately), not flags of its command.
ROW_FIELDS = ("pretrained", "freeze", "weights", "data")


def sweep_rows(base: Experiment, rows: Iterable[str] | None = None) -> list[tuple[str, Experiment]]:
    """The rows to run, in the order asked for (default: all six in the study's order)."""
    spec = {name: (pretrained, freeze) for name, pretrained, freeze in ROWS}
    names = list(dict.fromkeys(rows)) if rows else list(spec)
    return [(name, dataclasses.replace(base, pretrained=spec[name][0], freeze=spec[name][1])) for name in names]


class RowStatus(StrEnum):
    """A sweep row's state, as sweep.json and the comparison page say it."""

    COMPLETE = "complete"
    RUNNING = "running"  # state in its partial folder, no record yet
    MISSING = "missing"  # not started
    UNAVAILABLE = "unavailable"  # its pretrained weights could not be had
    INVALID = "invalid"  # a meta.json that is not a valid run record


def read_row(folder: Path) -> tuple[RunRecord | None, str | None]:
    """A row folder's record, or the one-line reason its meta.json is not valid (logged as a warning)."""
    if not (folder / META_FILE).exists():
        return None, None
    try:
        return read_record(folder), None
    except CheckpointError as exc:
        log.warning("skipped %s: %s", folder, exc)
        return None, str(exc)


def row_summary(name: str, folder: Path, record: RunRecord | None = None) -> dict[str, Any]:
    """What sweep.json and the comparison page say about one row folder (record: its run record, if read)."""
    row: dict[str, Any] = {
        "row": name,
        "label": ROW_LABELS[name],
        "study_test_accuracy": STUDY_TEST_ACCURACY.get(name),
        "folder": folder.name,
    }
    invalid = None
    if record is None:
        record, invalid = read_row(folder)
    if invalid:
        row.update(status=RowStatus.INVALID, error=invalid)
        return row
    if record is None:
        row["status"] = RowStatus.RUNNING if partial_dir(folder).exists() else RowStatus.MISSING
        return row
    row["status"] = RowStatus.COMPLETE if record.complete else RowStatus.RUNNING
    for split, m in record.metrics.items():
        row[split] = {
            "accuracy": m.accuracy,
            "macro_f1": m.macro_f1,
            "ci_low": m.ci_low,
            "ci_high": m.ci_high,
            "n": m.n,
            "split_origin": m.split_origin,
        }
        if m.unseen is not None:
            row[split]["unseen"] = m.unseen.to_dict()
        if m.ferplus is not None:
            row[split]["ferplus"] = m.ferplus
    row.update(
        best_epoch=record.best_epoch,
        epochs=record.config.epochs,
        training_seconds=record.training_seconds,
        trainable_parameters=record.trainable_parameters,
    )
    return row


def current_rows(
    folder: Path, errors: dict[str, str], records: dict[str, RunRecord] | None = None
) -> list[dict[str, Any]]:
    """Every row as its folder says now; a row whose weights were unavailable keeps that reason."""
    rows = []
    for name, _, _ in ROWS:
        row = row_summary(name, folder / name, (records or {}).get(name))
        if errors.get(name) and row["status"] not in (RowStatus.COMPLETE, RowStatus.INVALID):
            row.update(status=RowStatus.UNAVAILABLE, error=errors[name])
        rows.append(row)
    return rows


def write_summary(out_dir: Path, base: Experiment, errors: dict[str, str]) -> dict[str, Any]:
    rows = current_rows(out_dir, errors)
    summary = {
        "task": base.task,
        "model": base.model,
        "img_size": base.img_size,
        "epochs": base.epochs,
        "setting": {k: v for k, v in base.to_dict().items() if k not in ("pretrained", "freeze", "extra")},
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "rows": rows,
    }
    atomic_write_json(out_dir / SUMMARY_FILE, summary)
    return summary


def run_sweep(
    base: Experiment,
    out_dir: str | Path,
    rows: Iterable[str] | None = None,
    callbacks: Callable[[str], list[Callback]] = lambda name: [],
    data=None,
    launch: Callable[[str, Experiment, Path], None] | None = None,
) -> dict[str, Any]:
    """Run the rows in this process, or hand each to `launch(name, config, folder)` (e.g. a torchrun command)."""
    from ..engine.loop import load_data, run_experiment  # the training code, only when a sweep runs

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = None if launch else (data or load_data(base))
    errors: dict[str, str] = {}
    write_summary(out_dir, base, errors)
    for name, config in sweep_rows(base, rows):
        folder = out_dir / name
        if is_complete(folder):
            log.info("[%s] already complete, skipped", name)
            continue
        log.info("[%s] %s", name, config.name)
        try:
            if launch:
                launch(name, config, folder)
            else:
                run_experiment(config, folder, callbacks(name), data=data, resume=True)
        except WeightsUnavailable as exc:
            errors[name] = str(exc)
            log.warning("[%s] skipped: %s", name, exc)
        write_summary(out_dir, base, errors)
    return json.loads((out_dir / SUMMARY_FILE).read_text())


def torchrun_command(config: Experiment, folder: Path, nproc: int) -> list[str]:
    """One row as a torchrun training on this machine (`--resume`: it continues a stopped row, or starts it)."""
    return ["torchrun", "--standalone", "--nproc_per_node", str(nproc), "-m", "core", "train", config.task,
            *config.to_args(always=("model", "img_size", "epochs")), "--out", str(folder), "--resume"]  # fmt: skip


def torchrun_launcher(nproc: int) -> Callable[[str, Experiment, Path], None]:
    """Run one sweep row as `torchrun --nproc_per_node N -m core train ...`, its output passed through."""
    if shutil.which("torchrun") is None:
        raise ConfigError("torchrun is not on PATH (it comes with PyTorch: use the environment's bin/torchrun)")

    def launch(name: str, config: Experiment, folder: Path) -> None:
        command = torchrun_command(config, folder, nproc)
        log.info("[%s] %s", name, " ".join(command))
        proc = subprocess.run(command, stderr=subprocess.PIPE, text=True)
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        if proc.returncode != 0 and errors and "ImageNet weights" in errors[-1]:
            raise WeightsUnavailable(errors[-1].removeprefix("error: "))
        if proc.returncode != 0:
            raise StudyError(f"row {name} failed (torchrun exit {proc.returncode}): {(errors or ['see above'])[-1]}")

    return launch


def default_folder(base: Experiment) -> str:
    return f"sweep-{base.model}-{base.img_size}px-{base.epochs}ep"


def sweep_command(summary: dict[str, Any], folder: Path | None = None, data: str | None = None) -> str:
    """The one command that runs this sweep's setting again: finished rows are skipped, so on a machine that
    can download ImageNet weights it fills exactly the rows that were unavailable."""
    base = Experiment.from_dict({**summary["setting"], "pretrained": False, "freeze": "none"})
    parts = ["python -m core sweep", base.task]
    parts += base.to_args(skip=ROW_FIELDS, always=("model", "img_size", "epochs"))
    parts += ["--data", data or base.data or "$FER_DATA"]  # the reader's own copy when none was recorded
    if folder is not None and folder.name != default_folder(base):
        parts += ["--out", str(folder)]
    return " ".join(parts)


def find_sweeps(root: str | Path) -> list[Path]:
    """Every sweep folder (one with a sweep.json) under root, newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted((p.parent for p in root.rglob(SUMMARY_FILE)), key=lambda p: -(p / SUMMARY_FILE).stat().st_mtime)


def by_completeness(folders: Iterable[Path]) -> list[Path]:
    """Sweeps with results first, then the longest-trained, then the most rows finished: the first one is
    what the comparison page opens on and what the README's figure shows (the shipped study on a fresh install)."""

    def key(folder: Path) -> tuple[bool, int, int]:
        summary = json.loads((folder / SUMMARY_FILE).read_text())
        done = sum(r.get("status") == RowStatus.COMPLETE for r in summary.get("rows", []))
        return done > 0, summary.get("epochs", 0), done

    return sorted(folders, key=key, reverse=True)


def read_sweep(folder: str | Path) -> tuple[dict[str, Any], dict[str, RunRecord]]:
    """The sweep's summary, rebuilt from its row folders (a row may have finished since sweep.json was
    written), and the run record of every row that has one."""
    folder = Path(folder)
    summary = json.loads((folder / SUMMARY_FILE).read_text())
    errors = {r["row"]: r.get("error") for r in summary.get("rows", []) if r.get("status") == RowStatus.UNAVAILABLE}
    records = {name: record for name, _, _ in ROWS if (record := read_row(folder / name)[0]) is not None}
    summary["rows"] = current_rows(folder, errors, records)
    return summary, records


def test_split_origin(records: dict[str, RunRecord]) -> str:
    """How the sweep's test split was made from its source (said beside every test figure)."""
    first = next(iter(records.values()), None)
    return (first.data.splits.get("test") if first else None) or "the source's test split"
