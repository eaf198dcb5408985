"""A run in TensorBoard: its per-epoch curves (loss, accuracy, macro-F1, FER+ majority, learning rate), its final
confusion matrix as an image and its hyperparameters with its final metrics (the HParams view), written as event
files in the run's folder (`tensorboard/`). Training writes them as it goes (core.engine.callbacks), and
`python -m core tensorboard` writes them for runs that have none, from their meta.json, so that
`tensorboard --logdir checkpoints` shows the whole study side by side."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from .record import RunRecord

EVENTS_DIR = "tensorboard"
# epoch log key -> TensorBoard tag ({split}: the split the epoch was evaluated on)
SCALARS = {
    "train_loss": "loss/train",
    "train_accuracy": "accuracy/train",
    "lr": "learning_rate",
    "eval_loss": "loss/{split}",
    "eval_accuracy": "accuracy/{split}",
    "eval_macro_f1": "macro_f1/{split}",
    "eval_ferplus_accuracy": "ferplus_majority/{split}",
}


def writer(log_dir: Path, purge_step: int | None = None) -> Any:
    """A SummaryWriter; `purge_step` drops the steps a killed run wrote past its resume point (no duplicates)."""
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(log_dir), purge_step=purge_step)


def epoch_scalars(log: dict[str, Any]) -> dict[str, float]:
    split = log.get("eval_split", "validation")
    return {tag.format(split=split): float(log[key]) for key, tag in SCALARS.items() if log.get(key) is not None}


def write_epoch(events: Any, log: dict[str, Any]) -> None:
    for tag, value in epoch_scalars(log).items():
        events.add_scalar(tag, value, global_step=int(log["epoch"]))


def hparams(record: RunRecord) -> tuple[dict[str, Any], dict[str, float]]:
    """The run's setting (the config's scalar fields) and its final metrics, as the HParams view takes them."""
    setting = {k: v for k, v in record.config.to_dict().items() if isinstance(v, (bool, int, float, str))}
    metrics: dict[str, float] = {}
    for split, m in record.metrics.items():
        metrics[f"final/{split}_accuracy"] = m.accuracy
        if m.macro_f1 is not None:
            metrics[f"final/{split}_macro_f1"] = m.macro_f1
        if m.ferplus and m.ferplus.get("majority_accuracy") is not None:
            metrics[f"final/{split}_ferplus_majority"] = float(m.ferplus["majority_accuracy"])
    return setting, metrics


def confusion_figure(record: RunRecord) -> Any:
    """The held-out split's confusion matrix (rows: true), as a matplotlib figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = record.test or next(iter(record.metrics.values()))
    fig, ax = plt.subplots(figsize=(5.5, 5), dpi=100)
    ax.imshow(m.confusion_matrix, cmap="Blues")
    ticks = range(len(m.classes))
    ax.set_xticks(ticks, m.classes, rotation=90)
    ax.set_yticks(ticks, m.classes)
    for i, row in enumerate(m.confusion_matrix):
        for j, n in enumerate(row):
            ax.text(j, i, str(n), ha="center", va="center", fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{record.name}: {m.split or 'test'}")
    fig.tight_layout()
    return fig


def write_summary(events: Any, record: RunRecord) -> None:
    """What a finished run adds: its confusion matrix and its HParams entry."""
    step = record.best_epoch or len(record.history)
    if record.metrics:
        events.add_figure("confusion_matrix", confusion_figure(record), global_step=step, close=True)
    setting, metrics = hparams(record)
    events.add_hparams(setting, metrics, run_name=".", global_step=step)  # "." : in this run's own folder


def write_run(record: RunRecord, log_dir: Path) -> Path:
    """All of a finished run's events from its record, replacing any there (so it can be rerun)."""
    if log_dir.exists():
        shutil.rmtree(log_dir)
    with writer(log_dir) as events:
        for log in record.history:
            write_epoch(events, log)
        write_summary(events, record)
    return log_dir
