"""The freeze-depth sweep: scratch, and pretrained with every freeze depth, into one folder.

Each row is an ordinary run directory (resumable; finished rows are skipped), and `sweep.json` summarises
them after every row, so a sweep interrupted anywhere loses at most the epoch in progress.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from .callbacks import Callback
from .checkpoint import atomic_write_json, is_complete, read_meta_or_none
from .config import Experiment

# (row name, pretrained, freeze depth), in the study's order plus full fine-tuning as the upper reference.
ROWS = (("scratch", False, "none"), ("none", True, "none"), ("layer1", True, "layer1"),
        ("layer2", True, "layer2"), ("layer3", True, "layer3"), ("all", True, "all"))
# The study's test accuracies (ResNet-18, 224 px); it had no full fine-tuning row.
STUDY_TEST_ACCURACY = {"scratch": 0.591, "layer1": 0.667, "layer2": 0.655, "layer3": 0.629, "all": 0.424}
ROW_LABELS = {"scratch": "from scratch", "none": "fine-tune all", "layer1": "freeze layer1",
              "layer2": "freeze layer1+2", "layer3": "freeze layer1+2+3", "all": "freeze all conv"}
SUMMARY_FILE = "sweep.json"
# Setting fields the sweep command takes as flags (the others keep their defaults).
SETTING_FLAGS = {name: "--" + name.replace("_", "-") for name in (
    "img_size", "epochs", "batch_size", "optimizer", "lr", "weight_decay", "lr_schedule", "step_size",
    "label_smoothing", "rotation", "erasing", "seed", "train_limit", "test_limit")}


def sweep_rows(base: Experiment, rows: Iterable[str] | None = None) -> list[tuple[str, Experiment]]:
    """The rows to run, in the order asked for (default: all six in the study's order)."""
    spec = {name: (pretrained, freeze) for name, pretrained, freeze in ROWS}
    names = list(dict.fromkeys(rows)) if rows else list(spec)
    return [(name, dataclasses.replace(base, pretrained=spec[name][0], freeze=spec[name][1])) for name in names]


def row_summary(name: str, folder: Path, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """What sweep.json and the comparison page say about one row folder (meta: its meta.json, if read)."""
    row: dict[str, Any] = {"row": name, "label": ROW_LABELS[name], "study_test_accuracy": STUDY_TEST_ACCURACY.get(name),
                           "folder": folder.name}
    meta = meta or read_meta_or_none(folder)
    if meta is None:
        row["status"] = "running" if (folder / "last").exists() else "missing"
        return row
    row["status"] = "complete" if meta.get("complete") else "running"
    for split, m in meta.get("metrics", {}).items():
        row[split] = {k: m.get(k) for k in ("accuracy", "macro_f1", "ci_low", "ci_high", "n", "split_origin")}
    row.update(best_epoch=meta.get("best_epoch"), epochs=meta["config"]["epochs"],
               training_seconds=meta.get("training_seconds"), trainable_parameters=meta.get("trainable_parameters"))
    return row


def current_rows(folder: Path, errors: dict[str, str], metas: dict[str, dict] | None = None) -> list[dict[str, Any]]:
    """Every row as its folder says now; a row whose weights were unavailable keeps that reason."""
    rows = []
    for name, _, _ in ROWS:
        row = row_summary(name, folder / name, (metas or {}).get(name))
        if errors.get(name) and row["status"] != "complete":
            row.update(status="unavailable", error=errors[name])
        rows.append(row)
    return rows


def write_summary(out_dir: Path, base: Experiment, errors: dict[str, str]) -> dict[str, Any]:
    rows = current_rows(out_dir, errors)
    summary = {"task": base.task, "model": base.model, "img_size": base.img_size, "epochs": base.epochs,
               "setting": {k: v for k, v in base.to_dict().items() if k not in ("pretrained", "freeze", "extra")},
               "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "rows": rows}
    atomic_write_json(out_dir / SUMMARY_FILE, summary)
    return summary


def run_sweep(base: Experiment, out_dir: str | Path, rows: Iterable[str] | None = None,
              callbacks: Callable[[str], list[Callback]] = lambda name: [], data=None,
              log: Callable[[str], None] = print) -> dict[str, Any]:
    from .backbones import WeightsUnavailable
    from .train import load_data, run_experiment

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = data or load_data(base)
    errors: dict[str, str] = {}
    write_summary(out_dir, base, errors)
    for name, config in sweep_rows(base, rows):
        folder = out_dir / name
        if is_complete(folder):
            log(f"[{name}] already complete, skipped")
            continue
        log(f"[{name}] {config.name}")
        try:
            run_experiment(config, folder, callbacks(name), data=data, resume=True)
        except WeightsUnavailable as exc:
            errors[name] = str(exc)
            log(f"[{name}] skipped: {exc}")
        write_summary(out_dir, base, errors)
    return json.loads((out_dir / SUMMARY_FILE).read_text())


def default_folder(base: Experiment) -> str:
    return f"sweep-{base.model}-{base.img_size}px-{base.epochs}ep"


def sweep_command(summary: dict[str, Any], folder: Path | None = None, data: str | None = None) -> str:
    """The one command that runs this sweep's setting again: finished rows are skipped, so on a machine that
    can download ImageNet weights it fills exactly the rows that were unavailable."""
    setting = summary["setting"]
    base = Experiment.from_dict({**setting, "pretrained": False, "freeze": "none"})
    default = Experiment(task=base.task, model=base.model)
    parts = ["python -m core sweep", base.task, "--arch", base.model]
    for name, flag in SETTING_FLAGS.items():
        value = getattr(base, name)
        if value is not None and (value != getattr(default, name) or name in ("img_size", "epochs")):
            parts += [flag, str(value)]
    parts += ["--class-weights"] if base.class_weights else []
    parts += ["--no-flip"] if not base.flip else []
    parts += ["--data", data or base.data or "$FER_DATA"]
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
        done = sum(r.get("status") == "complete" for r in summary.get("rows", []))
        return done > 0, summary.get("epochs", 0), done

    return sorted(folders, key=key, reverse=True)


def read_sweep(folder: str | Path) -> tuple[dict[str, Any], dict[str, dict]]:
    """The sweep's summary, rebuilt from its row folders (a row may have finished since sweep.json was
    written), and the meta.json of every row that has one."""
    folder = Path(folder)
    summary = json.loads((folder / SUMMARY_FILE).read_text())
    errors = {r["row"]: r.get("error") for r in summary.get("rows", []) if r.get("status") == "unavailable"}
    metas = {name: meta for name, _, _ in ROWS if (meta := read_meta_or_none(folder / name)) is not None}
    summary["rows"] = current_rows(folder, errors, metas)
    return summary, metas
