"""Explanations of a checkpoint (`python -m core explain`): attribution overlays for a user's images (every face,
for emotion models, through the same detector and crop as `predict`), and over a test split the figures that
say whether a map means anything (deletion against random deletion) and how local it is (Moran's I, the share
on the letter's ink)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..data.images import open_image, to_rgb_array
from ..data.sources import ImageSplit
from ..data.tasks import batch_transform
from ..engine.metrics import bootstrap_ci
from ..errors import ConfigError
from ..inference.explain import attribute, deletion_drops, ink_share, morans_i, overlay
from ..runs.checkpoint import load_checkpoint
from ..runs.record import read_record

# What deleted pixels become: the letters' background is black; a face's pixel becomes mid-gray.
FILL = {"notmnist": 0, "fer": 128}


def _mean_ci(values: np.ndarray) -> dict[str, float]:
    # bootstrap_ci resamples a mean: the same percentile interval serves any per-image figure
    low, high = bootstrap_ci(values)
    return {"mean": float(values.mean()), "ci_low": low, "ci_high": high}


def split_figures(checkpoint: str | Path, split: ImageSplit, n: int, method: str) -> dict[str, Any]:
    """Over the first n images of a split, each map explaining the true class: the faithfulness check (mean
    drop of the true class's probability when the 10 % most-attributed pixels are deleted, and when 10 % random
    ones are), Moran's I of the maps and, for letters, the share of relevance on the ink; with 95 % intervals."""
    model, record = load_checkpoint(checkpoint)
    transform = batch_transform(record.config)
    images, labels = split.images[:n], split.labels[:n]
    maps = attribute(model, transform, images, method, labels).maps
    deletion, random = deletion_drops(model, transform, images, labels, maps, fill=FILL[record.task])
    out: dict[str, Any] = {
        "checkpoint": str(checkpoint),
        "method": method,
        "n": int(len(images)),
        "deletion_drop": deletion,
        "random_drop": random,
        "morans_i": _mean_ci(morans_i(maps)),
    }
    if record.task == "notmnist":
        out["ink_share"] = _mean_ci(ink_share(maps, images))
    return out


def explain_files(
    checkpoint: str | Path, files: list[str], method: str, target: str | None, out_dir: Path
) -> tuple[list[dict[str, Any]], list[str]]:
    """One overlay PNG per image (per face for emotion models) in out_dir; (results, errors)."""
    record = read_record(checkpoint)
    if target is not None and target not in record.classes:
        raise ConfigError(f"--target {target!r} is not one of this model's classes: {', '.join(record.classes)}")
    if not files:
        return [], []
    transform = batch_transform(record.config)
    out_dir.mkdir(parents=True, exist_ok=True)
    results, errors = [], []
    model, crops = _letter_crops(checkpoint) if record.task == "notmnist" else _face_crops(checkpoint)
    for file in files:
        try:
            found = crops(file)
        except Exception as exc:  # noqa: BLE001 - ImageLoadError and friends: one line, the others go on
            errors.append(f"{file}: {exc}")
            continue
        faces = []
        for i, (box, crop) in enumerate(found):
            images = torch.from_numpy(np.array(crop, dtype=np.uint8))[None, None]
            wanted = None if target is None else torch.tensor([record.classes.index(target)])
            a = attribute(model, transform, images, method, wanted)
            suffix = "" if box is None else f"-face{i + 1}"
            path = out_dir / f"{Path(file).stem}{suffix}-{method}.png"
            Image.fromarray(overlay(crop, a.maps[0])).save(path)
            probabilities = {c: float(p) for c, p in zip(record.classes, a.probabilities[0])}
            faces.append({"box": None if box is None else list(box), "target": record.classes[int(a.targets[0])],
                          "label": max(probabilities, key=lambda c: probabilities[c]), "probabilities": probabilities,
                          "overlay": str(path)})  # fmt: skip
        results.append({"file": file, "explained": faces})
    return results, errors


Crops = Callable[[str], list[tuple[tuple[int, int, int, int] | None, np.ndarray]]]


def _letter_crops(checkpoint: str | Path) -> tuple[nn.Module, Crops]:
    """The model, and a file -> the letter as it sees it (inverted if dark-on-light, cropped), as `predict`."""
    from ..inference.letters import LetterClassifier

    classifier = LetterClassifier(checkpoint)
    return classifier.model, lambda file: [(None, classifier.prepare(open_image(file)))]


def _face_crops(checkpoint: str | Path) -> tuple[nn.Module, Crops]:
    """The model, and a file -> every face the detector finds, framed and decoded as the webcam and `predict`."""
    from ..inference.emotions import EmotionDetector
    from ..inference.faces import square_box, to_gray

    detector = EmotionDetector(checkpoint, backend="torch")

    def crops(file: str) -> list[tuple[tuple[int, int, int, int] | None, np.ndarray]]:
        gray = to_gray(to_rgb_array(open_image(file)), "rgb")
        out: list[tuple[tuple[int, int, int, int] | None, np.ndarray]] = []
        for box in detector.finder.find(gray):
            x, y, w, h = square_box(box, gray.shape, detector.margin, detector.shift_y)
            out.append(((x, y, w, h), detector.prepare(gray[y : y + h, x : x + w])))
        return out

    return detector.model, crops
