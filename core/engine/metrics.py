"""Classification metrics (scikit-learn), and agreement with the FER+ annotators, as JSON-ready dicts."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from ..data import ferplus


def classification_metrics(y_true, y_pred, classes: tuple[str, ...] | list[str]) -> dict:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = list(range(len(classes)))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {
        "n": int(len(y_true)),
        "accuracy": float((y_true == y_pred).mean()) if len(y_true) else float("nan"),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(classes, precision, recall, f1, support)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "classes": list(classes),
    }


def bootstrap_ci(correct, n_resamples: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of accuracy from per-sample correctness."""
    correct = np.asarray(correct, dtype=np.float64)
    if len(correct) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = correct[rng.integers(0, len(correct), size=(n_resamples, len(correct)))].mean(axis=1)
    alpha = (1 - level) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def consensus_metrics(probabilities: torch.Tensor, votes: torch.Tensor, mask: torch.Tensor | None = None) -> dict:
    """How a model's predictions agree with the ten annotators, on the faces with votes (optionally within
    `mask`): majority accuracy (a prediction naming any emotion of a tied plurality counts as right) with its 95 %
    bootstrap interval, the mean share of the votes that the predicted emotion got, and the cross-entropy of the
    predicted distribution against the vote distribution."""
    probs = probabilities.double().numpy()
    counts = votes.numpy().astype(np.float64)
    voted = counts.sum(1) > 0
    if mask is not None:
        voted &= mask.numpy()
    probs, counts = probs[voted], counts[voted]
    preds = probs.argmax(1)
    winners, has = ferplus.plurality(counts)
    correct = winners[has, preds[has]]
    low, high = bootstrap_ci(correct)
    with_emotions = ferplus.emotion_votes(counts).sum(1) > 0
    target = ferplus.distribution(counts)[with_emotions]
    nll = -(target * np.log(np.clip(probs[with_emotions], 1e-12, None))).sum(1)
    agreement = counts[np.arange(len(preds)), preds] / counts.sum(1)
    return {
        "n": int(has.sum()),
        "majority_accuracy": float(correct.mean()) if has.any() else None,
        "ci_low": low if has.any() else None,
        "ci_high": high if has.any() else None,
        "ties": int((winners[has].sum(1) > 1).sum()),
        "n_voted": int(len(counts)),
        "annotator_agreement": float(agreement.mean()) if len(counts) else None,
        "vote_nll": float(nll.mean()) if len(nll) else None,
    }
