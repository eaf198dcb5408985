"""Collecting finished notMNIST runs into the study's 2x2 comparison (model x original/permuted)."""
from __future__ import annotations

from pathlib import Path

from .checkpoint import CheckpointError, list_checkpoints, read_meta

# The reference study's test accuracies (it trained no MLP).
STUDY_ACCURACY = {("cnn", False): 0.93, ("cnn", True): 0.90}
MODEL_NAMES = {"cnn": "CNN", "mlp": "MLP"}


def run_label(config: dict) -> str:
    pixels = f"permuted (seed {config['permutation_seed']})" if config["permute"] else "original"
    return f"{MODEL_NAMES.get(config['model'], config['model'])}, {pixels}"


def collect_runs(root: str | Path, task: str = "notmnist") -> dict[tuple[str, bool], tuple[Path, dict]]:
    """(model, permuted) -> (checkpoint dir, meta) for the newest run of each cell under root."""
    cells: dict[tuple[str, bool], tuple[Path, dict]] = {}
    for path in list_checkpoints(root):
        try:
            meta = read_meta(path)
        except CheckpointError:
            continue
        cfg = meta["config"]
        if cfg.get("task") != task or "metrics" not in meta:
            continue
        key = (cfg["model"], bool(cfg["permute"]))
        if key not in cells or meta.get("created", "") > cells[key][1].get("created", ""):
            cells[key] = (path, meta)
    return cells


def comparison_rows(cells: dict[tuple[str, bool], tuple[Path, dict]]) -> list[dict]:
    """One row per (model, pixels) cell with our figures and the study's."""
    rows = []
    for model in ("cnn", "mlp"):
        for permuted in (False, True):
            path, meta = cells.get((model, permuted), (None, None))
            test = (meta or {}).get("metrics", {}).get("test", {})
            rows.append({
                "model": MODEL_NAMES[model],
                "pixels": "permuted" if permuted else "original",
                "test_accuracy": test.get("accuracy"),
                "unseen_accuracy": (test.get("unseen") or {}).get("accuracy"),
                "macro_f1": test.get("macro_f1"),
                "study_accuracy": STUDY_ACCURACY.get((model, permuted)),
                "epochs": (meta or {}).get("config", {}).get("epochs"),
                "training_seconds": (meta or {}).get("training_seconds"),
                "checkpoint": str(path) if path else None,
            })
    return rows
