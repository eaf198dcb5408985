"""Figures measured after training, added to a finished run's meta.json (its trained metrics stay as they were).

One function per kind of figure; the command line (`evaluate --record-unseen / --record-tta`, `calibrate`,
`explain --record`) and anything else that measures them write through these.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .checkpoint import write_record
from .record import RunRecord, Unseen

log = logging.getLogger(__name__)


def record_unseen(folder: str | Path, record: RunRecord, split: str, metrics: dict[str, Any]) -> None:
    """Add the unseen-in-train figure of `split`, and the FER+ consensus block where the data has votes; refused
    when this evaluation does not reproduce the recorded accuracy (another data set)."""
    recorded = record.metrics.get(split)
    if recorded is None or metrics.get("unseen") is None:
        raise ConfigError(f"{folder} has no recorded {split} metrics to add the unseen-in-train figure to")
    if abs(recorded.accuracy - metrics["accuracy"]) * metrics["n"] > 2:  # more than two faces differ: another set
        raise ConfigError(
            f"this evaluation gives {split} accuracy {metrics['accuracy']:.4f}, the record says "
            f"{recorded.accuracy:.4f}: not the data the run was evaluated on, so nothing was written"
        )
    record.metrics[split] = dataclasses.replace(
        recorded, unseen=Unseen(**metrics["unseen"]), ferplus=metrics.get("ferplus") or recorded.ferplus
    )
    write_record(folder, record)
    log.info("recorded the unseen-in-train %s accuracy in %s/meta.json", split, folder)


def record_tta(folder: str | Path, record: RunRecord, split: str, method: str, metrics: dict[str, Any]) -> None:
    """Add this split's test-time-augmented figures (`method`: flip or ten-crop)."""
    figures = {k: metrics[k] for k in ("n", "accuracy", "ci_low", "ci_high", "macro_f1", "source")}
    if metrics.get("ferplus"):  # the same views against the ten FER+ annotators
        figures["ferplus"] = {k: v for k, v in metrics["ferplus"].items() if k != "unseen"}
    stored = dict(record.test_time_augmentation or {})
    stored[split] = {**stored.get(split, {}), method: figures}
    record.test_time_augmentation = stored
    write_record(folder, record)
    log.info("recorded the %s %s accuracy in %s/meta.json", method, split, folder)


def record_calibration(
    folder: str | Path, record: RunRecord, calibration: dict[str, Any], source: str, report: dict[str, Any]
) -> None:
    """Store a calibration fitted on the validation split, with its report on the held-out splits."""
    record.calibration = {**calibration, "fitted_on": "validation", "source": source, "report": report}
    write_record(folder, record)
    log.info("wrote the calibration into %s/meta.json", folder)


def record_explanations(
    folder: str | Path,
    record: RunRecord,
    method: str,
    split_figures: dict[str, Any] | None = None,
    by_class: dict[str, Any] | None = None,
) -> None:
    """Store the figures of attribution maps over the test split (`explain --faithfulness / --by-class`)."""
    stored = dict(record.explanations or {})
    if split_figures is not None:
        stored["split"] = {**stored.get("split", {}), method: split_figures}
    if by_class is not None:
        stored["by_class"] = {**stored.get("by_class", {}), method: by_class}
    record.explanations = stored
    write_record(folder, record)
    log.info("wrote the figures into %s/meta.json", folder)
