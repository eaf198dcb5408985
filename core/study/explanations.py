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
from ..inference.explain import (
    FACE_REGIONS,
    attribute,
    deletion_drops,
    ink_share,
    morans_i,
    normalised,
    overlay,
    region_area,
    region_shares,
)
from ..runs.checkpoint import load_checkpoint
from ..runs.record import RunRecord, read_record

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


def class_maps(
    checkpoint: str | Path, split: ImageSplit, n: int | None = None, method: str = "gradcam", batch: int = 128,
    progress: Callable[[int, int], None] | None = None, side: int = 24,
) -> dict[str, Any]:  # fmt: skip
    """Per emotion, over the first n faces of a split (all by default), each map explaining the face's true
    class: the mean map and the mean face (both `side` x `side`, for figures) and the share of relevance in the
    eye band and the mouth (FACE_REGIONS, with 95 % intervals, beside the share a flat map would give)."""
    import cv2

    model, record = load_checkpoint(checkpoint)
    transform = batch_transform(record.config)
    count = len(split.images) if n is None else min(n, len(split.images))
    maps = []
    for start in range(0, count, batch):
        end = min(start + batch, count)
        maps.append(
            normalised(attribute(model, transform, split.images[start:end], method, split.labels[start:end]).maps)
        )
        if progress is not None:
            progress(end, count)
    all_maps, labels = np.concatenate(maps), split.labels[:count].numpy()  # one class per face
    shares = region_shares(all_maps, FACE_REGIONS, side=all_maps.shape[-1])
    faces = split.images[:count, 0].float().numpy()
    classes: dict[str, Any] = {}
    for index, name in enumerate(record.classes):
        mine = labels == index
        if not mine.any():
            continue
        mean_map = cv2.resize(all_maps[mine].mean(0), (side, side), interpolation=cv2.INTER_AREA)
        mean_face = cv2.resize(faces[mine].mean(0), (side, side), interpolation=cv2.INTER_AREA)
        classes[name] = {
            "n": int(mine.sum()),
            **{region: _mean_ci(values[mine]) for region, values in shares.items()},
            "map": np.round(mean_map / max(float(mean_map.max()), 1e-12), 3).tolist(),
            "face": np.round(mean_face).astype(int).tolist(),
        }
    return {
        "checkpoint": str(checkpoint),
        "method": method,
        "n": count,
        "source": split.source,
        "regions": {name: list(box) for name, box in FACE_REGIONS.items()},
        "area": {name: region_area(box, crop=record.config.eval_crop) for name, box in FACE_REGIONS.items()},
        "classes": classes,
    }


def explain_crops(
    model: nn.Module, record: RunRecord, found: list[tuple[Box | None, np.ndarray]], method: str,
    target: str | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Each crop (a letter, or a face with its box) explained: the overlay picture (RGB), the class explained,
    the predicted label and the probabilities."""
    transform = batch_transform(record.config)
    wanted = None if target is None else torch.tensor([record.classes.index(target)])
    out = []
    for box, crop in found:
        a = attribute(model, transform, torch.from_numpy(np.array(crop, dtype=np.uint8))[None, None], method, wanted)
        probabilities = {c: float(p) for c, p in zip(record.classes, a.probabilities[0])}
        out.append({"box": None if box is None else list(box), "target": record.classes[int(a.targets[0])],
                    "label": max(probabilities, key=lambda c: probabilities[c]), "probabilities": probabilities,
                    "picture": overlay(crop, a.maps[0])})  # fmt: skip
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
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # FileExistsError: --out names a file (kept as it is); or a place that cannot be written
        reason = "it is a file, not a folder" if out_dir.exists() and not out_dir.is_dir() else exc.strerror or exc
        raise ConfigError(f"--out {out_dir}: cannot hold the overlay PNGs ({reason}); give a folder") from None
    results, errors = [], []
    model, crops = letter_crops(checkpoint) if record.task == "notmnist" else face_crops(checkpoint)
    for file in files:
        try:
            found = crops(open_image(file))
        except Exception as exc:  # noqa: BLE001 - ImageLoadError and friends: one line, the others go on
            errors.append(f"{file}: {exc}")
            continue
        faces = []
        for i, face in enumerate(explain_crops(model, record, found, method, target)):
            suffix = "" if face["box"] is None else f"-face{i + 1}"
            path = out_dir / f"{Path(file).stem}{suffix}-{method}.png"
            Image.fromarray(face.pop("picture")).save(path)
            faces.append({**face, "overlay": str(path)})
        results.append({"file": file, "explained": faces})
    return results, errors


Box = tuple[int, int, int, int]
Crops = Callable[[Image.Image], list[tuple[Box | None, np.ndarray]]]


def letter_crops(checkpoint: str | Path) -> tuple[nn.Module, Crops]:
    """The model, and an image -> the letter as it sees it (inverted if dark-on-light, cropped), as `predict`."""
    from ..inference.letters import LetterClassifier

    classifier = LetterClassifier(checkpoint)
    return classifier.model, lambda image: [(None, classifier.prepare(image))]


def face_crops(checkpoint: str | Path) -> tuple[nn.Module, Crops]:
    """The model, and an image -> every face the detector finds, framed and decoded as the webcam and `predict`."""
    from ..inference.emotions import EmotionDetector
    from ..inference.faces import to_gray

    detector = EmotionDetector(checkpoint, backend="torch")

    def crops(image: Image.Image) -> list[tuple[Box | None, np.ndarray]]:
        gray = to_gray(to_rgb_array(image), "rgb")
        return [
            (box, detector.prepare(crop))
            for box, crop in detector.framed_crops(gray, detector.face_detector.find(gray))
        ]

    return detector.model, crops


def locality_rows(notmnist_root: Path) -> list[dict[str, Any]]:
    """The recorded map figures (`core explain --faithfulness N --record`) of each letter model's median seed."""
    from .notmnist_summary import collect_runs, comparison_rows

    rows = []
    for row in comparison_rows(collect_runs(notmnist_root)):
        run = row.median
        split = (run.explanations or {}).get("split", {}) if run else {}
        if run and split:
            rows.append({"label": row.label, "run": run.name, "split": split})
    return rows


def letters_side_by_side(notmnist_root: Path, letters: str = "ACGJ", method: str = "integrated-gradients"):
    """Bundled test letters (never trained on) and each letter model's map of them, on the letter's own grid:
    (pictures as rows of RGB arrays, column titles, row titles); None without models."""
    from ..data.cache import load_split
    from ..data.notmnist import SPEC
    from .notmnist_summary import collect_runs, comparison_rows
    from .plots import enlarge

    models = [(row.label, row.median.path) for row in comparison_rows(collect_runs(notmnist_root)) if row.median]
    if not models:
        return None
    split = load_split(SPEC, "bundled", "test")
    chosen = [int((split.labels == split.classes.index(c)).nonzero()[0]) for c in letters if c in split.classes]
    images = split.images[chosen]
    rows: list[list[np.ndarray]] = [[enlarge(np.stack([img[0].numpy()] * 3, -1), 5)] for img in images]
    titles: list[list[str]] = [[] for _ in chosen]
    for _, path in models:
        model, record = load_checkpoint(path)  # type: ignore[arg-type]
        a = attribute(model, batch_transform(record.config), images, method)
        for i, picture in enumerate(a.maps):
            rows[i].append(overlay(images[i, 0].numpy(), picture, scale=5))
            titles[i].append(record.classes[int(a.targets[i])])
    row_titles = [f"{split.classes[int(split.labels[c])]} → {' '.join(t)}" for c, t in zip(chosen, titles)]
    return rows, ["the letter"] + [label for label, _ in models], row_titles
