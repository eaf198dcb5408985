"""Collecting finished notMNIST runs into the study's 2x2 comparison (model x original/permuted), with every
seed of a cell: mean ± std across seeds, and the median seed as the cell's checkpoint."""
from __future__ import annotations

import statistics
from pathlib import Path

from .checkpoint import CheckpointError, list_checkpoints, read_meta

# The reference study's test accuracies (it trained no MLP).
STUDY_ACCURACY = {("cnn", False): 0.93, ("cnn", True): 0.90}
MODEL_NAMES = {"cnn": "CNN", "mlp": "MLP"}
CELLS = (("cnn", False), ("cnn", True), ("mlp", False), ("mlp", True))
# Config fields that may differ between the seeds of one cell.
PER_RUN_FIELDS = ("seed", "data", "extra")

Run = tuple[Path, dict]


def _setting(config: dict) -> dict:
    return {k: v for k, v in config.items() if k not in PER_RUN_FIELDS}


def collect_runs(root: str | Path, task: str = "notmnist") -> dict[tuple[str, bool], list[Run]]:
    """(model, permuted) -> the finished runs of that cell under root, one per seed, sorted by seed.

    Only runs with the same setting as the cell's newest run count (an old 2-epoch try beside a 10-epoch
    study does not join its mean); of two runs with the same seed the newer wins."""
    groups: dict[tuple[str, bool], list[Run]] = {}
    for path in list_checkpoints(root):
        try:
            meta = read_meta(path)
        except CheckpointError:
            continue
        cfg = meta["config"]
        if cfg.get("task") != task or "metrics" not in meta or meta.get("complete") is False:
            continue
        groups.setdefault((cfg["model"], bool(cfg["permute"])), []).append((path, meta))
    cells = {}
    for key, runs in groups.items():
        runs.sort(key=lambda run: run[1].get("created", ""))
        setting = _setting(runs[-1][1]["config"])
        by_seed = {meta["config"]["seed"]: (path, meta) for path, meta in runs if _setting(meta["config"]) == setting}
        cells[key] = [by_seed[s] for s in sorted(by_seed)]
    return cells


def _test(meta: dict) -> dict:
    return meta["metrics"]["test"]


def _unseen(meta: dict) -> float | None:
    return (_test(meta).get("unseen") or {}).get("accuracy")


def median_run(runs: list[Run]) -> Run:
    """The seed whose test accuracy is the median (the lower middle one for an even count)."""
    ranked = sorted(runs, key=lambda run: (_test(run[1])["accuracy"], run[1]["config"]["seed"]))
    return ranked[(len(ranked) - 1) // 2]


def _mean_std(values: list[float | None]) -> tuple[float | None, float | None]:
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def summarise_cell(runs: list[Run]) -> dict:
    """Mean and sample standard deviation across seeds, the per-seed figures, and the median seed."""
    test_mean, test_std = _mean_std([_test(m)["accuracy"] for _, m in runs])
    unseen_mean, unseen_std = _mean_std([_unseen(m) for _, m in runs])
    f1_mean, _ = _mean_std([_test(m)["macro_f1"] for _, m in runs])
    median_path, median_meta = median_run(runs)
    return {
        "seeds": [m["config"]["seed"] for _, m in runs],
        "test_mean": test_mean, "test_std": test_std,
        "unseen_mean": unseen_mean, "unseen_std": unseen_std,
        "macro_f1_mean": f1_mean,
        "seconds_mean": statistics.fmean(m.get("training_seconds") or 0.0 for _, m in runs),
        "epochs": median_meta["config"]["epochs"],
        "median_seed": median_meta["config"]["seed"], "median_path": median_path, "median_meta": median_meta,
        "per_seed": [{"seed": m["config"]["seed"], "test_accuracy": _test(m)["accuracy"], "unseen_accuracy": _unseen(m),
                      "macro_f1": _test(m)["macro_f1"], "training_seconds": m.get("training_seconds"),
                      "checkpoint": str(p)} for p, m in runs],
    }


def comparison_rows(cells: dict[tuple[str, bool], list[Run]]) -> list[dict]:
    """One row per (model, pixels) cell with our figures across seeds and the study's."""
    rows = []
    for model, permuted in CELLS:
        runs = cells.get((model, permuted))
        summary = summarise_cell(runs) if runs else {}
        rows.append({"model": MODEL_NAMES[model], "pixels": "permuted" if permuted else "original",
                     "study_accuracy": STUDY_ACCURACY.get((model, permuted)), **summary})
    return rows


def by_cell(rows: list[dict]) -> dict[tuple[str, str], dict]:
    """(model name, pixels) -> comparison row, for the cells that have runs."""
    return {(r["model"], r["pixels"]): r for r in rows if r.get("seeds")}


def permutation_drop(cells: dict[tuple[str, str], dict], model: str) -> float | None:
    """Mean test accuracy on original minus on permuted pixels (None until both cells have runs)."""
    original, permuted = cells.get((model, "original")), cells.get((model, "permuted"))
    return original["test_mean"] - permuted["test_mean"] if original and permuted else None
