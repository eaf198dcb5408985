"""Turning an emotion model's logits into probabilities a person can read: class-prior adjustment, temperature
scaling, an "unsure" threshold and optional flip averaging, all fitted on the validation split
(`python -m core calibrate RUN`) and stored in the run's meta.json under `calibration`.

- Logit adjustment: FER-2013's training faces are 25 % happy and 1.5 % disgusted, and a model trained on them
  leans towards the frequent classes. Subtracting `tau * log(prior)` from the logits moves it back
  (Menon et al., "Long-tail learning via logit adjustment", 2021); tau is chosen on validation.
- Temperature scaling (Guo et al., "On calibration of modern neural networks", 2017): one number T, fitted on
  validation by likelihood, so that a face shown at 70 % is right about 70 % of the time.
- The threshold: the calibrated confidence below which validation predictions were wrong more often than right;
  such faces are shown as "unsure" instead of a confident-looking wrong label.
- Flip averaging: the mean of the logits of the face and its mirror image (both in one batch).

For a model trained on the FER+ votes (`--labels ferplus-votes`) the targets are the ten annotators: the temperature
is fitted by the cross-entropy against the vote distribution, and a face whose predicted top share is under the
threshold that best picks out the validation faces the annotators split on (no emotion got half the votes; F1) is
shown as "people would disagree" (`disagreement`), not as unsure; `calibrate` reports how often the annotators
really split on the faces so labelled, and on the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..data.ferplus import N_EMOTIONS

BINS = 15


@dataclass(frozen=True)
class Calibration:
    temperature: float
    tau: float
    log_prior: tuple[float, ...]
    threshold: float
    flip: bool = False
    disagreement: bool = False  # the threshold marks faces people split on (FER+ votes), not unsure predictions

    def adjusted(self, logits: torch.Tensor) -> torch.Tensor:
        return logits - self.tau * torch.tensor(self.log_prior, dtype=logits.dtype)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.adjusted(logits) / self.temperature, dim=1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "tau": self.tau,
            "log_prior": list(self.log_prior),
            "threshold": self.threshold,
            "flip": self.flip,
            "disagreement": self.disagreement,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], classes: int) -> Calibration:
        """Raises ValueError for anything but finite numbers in range (a record is checked before it is used)."""
        temperature, tau, threshold = (float(d[k]) for k in ("temperature", "tau", "threshold"))
        prior = tuple(float(v) for v in d["log_prior"])
        if not (0.01 <= temperature <= 100 and 0 <= tau <= 5 and 0 <= threshold <= 1 and len(prior) == classes):
            raise ValueError("temperature, tau, threshold or log_prior out of range")
        if not all(np.isfinite(prior)) or not all(isinstance(d.get(k, False), bool) for k in ("flip", "disagreement")):
            raise ValueError("log_prior must be finite, flip and disagreement true or false")
        return cls(temperature, tau, prior, threshold, bool(d.get("flip", False)), bool(d.get("disagreement", False)))


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = BINS) -> float:
    """ECE: the gap between confidence and accuracy, averaged over equal-width confidence bins by their size."""
    confidence = probs.max(1)
    correct = probs.argmax(1) == labels
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(total)


def unsure_threshold(probs: np.ndarray, labels: np.ndarray, bins: int = 20) -> float:
    """The lowest confidence from which on every (non-empty) bin of predictions is right at least half the time."""
    confidence = probs.max(1)
    correct = probs.argmax(1) == labels
    edges = np.linspace(0, 1, bins + 1)
    threshold = 1.0
    for low, high in reversed(list(zip(edges[:-1], edges[1:]))):
        inside = (confidence > low) & (confidence <= high)
        if inside.sum() >= 10 and correct[inside].mean() < 0.5:
            break
        threshold = float(low)
    return threshold


# A face the annotators split on: no emotion got half of their votes.
SPLIT_SHARE = 0.5


def people_split(votes: np.ndarray) -> np.ndarray:
    """Faces on which the annotators split: no emotion got half of their votes (the 7 emotions' own shares)."""
    emotions = votes[:, :N_EMOTIONS]
    total = emotions.sum(1)
    return emotions.max(1) < SPLIT_SHARE * np.maximum(total, 1)


def disagreement_threshold(probs: np.ndarray, split: np.ndarray) -> float:
    """The predicted top share below which a vote-trained model says people would disagree, fitted on validation:
    the one (0.20 to 0.80, in steps of 0.01) whose flagged faces best match the faces the annotators split on
    (F1; the lowest of equals). Only 5 % of faces split, and no band of predicted shares holds a majority of split
    faces, so "below it, most faces split" finds no threshold; F1 weighs catching split faces against flagging
    others. For the shipped vote model it lands near one half, the split rule itself (`calibrate` reports how often
    the annotators split on the flagged faces and on the others)."""
    top = probs.max(1)
    best, best_f1 = 0.0, 0.0
    for threshold in np.round(np.arange(0.20, 0.8001, 0.01), 2):
        flagged = top < threshold
        hits = int((flagged & split).sum())
        if hits == 0:
            continue
        f1 = 2 * hits / (int(flagged.sum()) + int(split.sum()))
        if f1 > best_f1 + 1e-12:
            best, best_f1 = float(threshold), f1
    return best


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The temperature of least validation negative log-likelihood (a 1-d search on a log grid, then finer);
    `labels` are class indices, or a distribution per face (the FER+ votes)."""
    grid: list[float] = torch.logspace(-1.3, 1.3, 121).tolist()

    def nll(t: float) -> float:
        return float(torch.nn.functional.cross_entropy(logits / t, labels))

    best = min(grid, key=nll)
    fine: list[float] = torch.linspace(best * 0.95, best * 1.05, 41).tolist()
    chosen: float = min(fine, key=nll)
    return round(chosen, 4)
