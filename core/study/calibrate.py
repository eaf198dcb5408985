"""Fitting an emotion model's calibration (core.inference.calibration) on the validation split and reporting it on
test: accuracy, macro-F1, every class's recall and the expected calibration error, before and after."""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from ..data.ferplus import distribution
from ..data.sources import ImageSplit
from ..data.transforms import BatchTransform
from ..engine.metrics import classification_metrics, consensus_metrics
from ..inference.calibration import (
    Calibration,
    disagreement_threshold,
    expected_calibration_error,
    fit_temperature,
    people_split,
    unsure_threshold,
)
from ..inference.modes import Mode
from ..inference.runtime import predict_logits

log = logging.getLogger(__name__)

TAUS = [round(0.05 * i, 2) for i in range(31)]  # 0 .. 1.5
MAX_ACCURACY_COST = 0.003  # the adjustment may cost at most 0.3 points of validation accuracy
FLIP_GAIN = 0.0  # flip averaging (the standard test-time augmentation) is kept unless it lowers validation accuracy


def split_logits(model: nn.Module, split: ImageSplit, transform: BatchTransform, mode: Mode) -> dict[str, torch.Tensor]:
    """Logits of the faces and of their mirror images."""
    return {
        "plain": predict_logits(model, split.images, transform.eval, mode),
        "mirrored": predict_logits(model, split.images, lambda x: transform.eval(x).flip(-1), mode),
    }


def _view(logits: dict[str, torch.Tensor], flip: bool) -> torch.Tensor:
    return (logits["plain"] + logits["mirrored"]) / 2 if flip else logits["plain"]


def summary(probs: torch.Tensor, labels: torch.Tensor, classes: list[str]) -> dict[str, Any]:
    m = classification_metrics(labels.numpy(), probs.argmax(1).numpy(), classes)
    return {
        "accuracy": m["accuracy"],
        "macro_f1": m["macro_f1"],
        "recall": {name: c["recall"] for name, c in m["per_class"].items()},
        "predicted": {name: int((probs.argmax(1) == i).sum()) for i, name in enumerate(classes)},
        "ece": expected_calibration_error(probs.numpy(), labels.numpy()),
    }


def fit(
    logits: dict[str, dict[str, torch.Tensor]], labels: dict[str, torch.Tensor], train_labels: torch.Tensor,
    classes: list[str], votes: dict[str, torch.Tensor] | None = None,
) -> tuple[Calibration, dict[str, Any]]:  # fmt: skip
    """Flip, tau and temperature from validation; the report on every split given (validation, test). With
    `votes` (a model trained on the FER+ votes; `labels` are then the annotators' plurality), the temperature is
    fitted against the vote distribution and the threshold marks the faces people split on."""
    val, y = logits["validation"], labels["validation"]
    counts = torch.bincount(train_labels, minlength=len(classes)).double()
    log_prior = torch.log(counts / counts.sum()).float()

    def accuracy(x: torch.Tensor) -> float:
        return float((x.argmax(1) == y).float().mean())

    flip = accuracy(_view(val, True)) >= accuracy(_view(val, False)) + FLIP_GAIN
    base = _view(val, flip)
    floor = accuracy(base) - MAX_ACCURACY_COST

    def macro_f1(tau: float) -> float:
        preds = (base - tau * log_prior).argmax(1).numpy()
        return float(classification_metrics(y.numpy(), preds, classes)["macro_f1"])

    tau = max((t for t in TAUS if accuracy(base - t * log_prior) >= floor), key=macro_f1)
    adjusted = base - tau * log_prior
    if votes is None:
        temperature = fit_temperature(adjusted, y)
        threshold = unsure_threshold(torch.softmax(adjusted / temperature, 1).numpy(), y.numpy())
    else:
        temperature = fit_temperature(adjusted, torch.from_numpy(distribution(votes["validation"].numpy())))
        probs = torch.softmax(adjusted / temperature, 1).numpy()
        threshold = disagreement_threshold(probs, people_split(votes["validation"].numpy()))
    calibration = Calibration(temperature, tau, tuple(log_prior.tolist()), threshold, flip, votes is not None)
    report = {
        name: {
            "before": summary(torch.softmax(split["plain"], 1), labels[name], classes),
            "after": summary(calibration.probabilities(_view(split, flip)), labels[name], classes),
            "flip_only": summary(torch.softmax(_view(split, True), 1), labels[name], classes),
        }
        for name, split in logits.items()
    }
    if votes is not None:
        for name, split in logits.items():
            report[name]["disagreement"] = disagreement_report(calibration, _view(split, flip), votes[name])
            calibrated = calibration.probabilities(_view(split, flip))
            report[name]["ferplus_after"] = consensus_metrics(calibrated, votes[name])
    log.info("calibration: flip %s, tau %.2f, temperature %.3f, unsure below %.2f", flip, tau, temperature, threshold)
    return calibration, report


def disagreement_report(calibration: Calibration, logits: torch.Tensor, votes: torch.Tensor) -> dict[str, Any]:
    """How often the annotators really split on the faces labelled "people would disagree", and on the others."""
    flagged = calibration.probabilities(logits).numpy().max(1) < calibration.threshold
    split = people_split(votes.numpy())
    return {
        "labelled": int(flagged.sum()),
        "others": int((~flagged).sum()),
        "people_split_when_labelled": float(split[flagged].mean()) if flagged.any() else None,
        "people_split_otherwise": float(split[~flagged].mean()) if (~flagged).any() else None,
    }


def describe(report: dict[str, Any], classes: list[str]) -> str:
    """The before/after table as text (CLI)."""
    lines = []
    for split, r in report.items():
        lines.append(f"{split}:")
        for name in ("before", "flip_only", "after"):
            m = r[name]
            recalls = " ".join(f"{c[:4]} {m['recall'][c]:.2f}" for c in classes)
            lines.append(f"  {name:<9} accuracy {m['accuracy']:.4f}  macro-F1 {m['macro_f1']:.4f}  ECE "
                         f"{m['ece']:.4f}  min recall {min(m['recall'].values()):.2f}  [{recalls}]")  # fmt: skip
        split = r.get("disagreement")
        if split and split["people_split_when_labelled"] is not None:
            lines.append(f"  'people would disagree' on {split['labelled']:,} faces: the annotators split on "
                         f"{split['people_split_when_labelled']:.0%} of them, on {split['people_split_otherwise']:.0%} "
                         "of the others")  # fmt: skip
    return "\n".join(lines)
