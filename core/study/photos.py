"""The emotion model on a person's own labelled photos (`python -m core evaluate RUN --photos DIR`): DIR holds one
folder per emotion (the class names, or FER-2013's other spellings such as `disgust`), every photo goes through
the webcam's own detector and crop, and the largest face is read. This is how a photo set that is not FER-2013
(posed lab photos, say) is measured with one command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..data.images import open_image, to_rgb_array
from ..errors import ConfigError, ImageLoadError
from ..inference.emotions import EmotionDetector

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


def labelled_photos(folder: Path, classes: list[str], aliases: dict[str, str]) -> list[tuple[Path, int]]:
    """(photo, class index) for every image in DIR/<emotion>/; a folder that names no class is a one-line error."""
    if not folder.is_dir():
        raise ConfigError(f"--photos {folder}: no such folder (give a folder with one subfolder per emotion)")
    found = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        name = aliases.get(sub.name.lower(), sub.name.lower())
        if name not in classes:
            raise ConfigError(f"--photos: the folder {sub.name!r} names no emotion; use {', '.join(classes)}")
        found += [(f, classes.index(name)) for f in sorted(sub.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    if not found:
        raise ConfigError(f"--photos {folder}: no photos in subfolders named after the emotions ({', '.join(classes)})")
    return found


def photo_evaluation(detector: EmotionDetector, folder: Path, aliases: dict[str, str]) -> dict[str, Any]:
    """Accuracy on the photos whose face was found and on all of them (a missed face counts as wrong), recall
    per emotion, how often each emotion was predicted (every class should be), and the unreadable files."""
    from sklearn.metrics import f1_score, recall_score

    classes = detector.classes
    truth, predicted, unreadable = [], [], []
    for photo, label in labelled_photos(folder, classes, aliases):
        try:
            faces = detector.detect(to_rgb_array(open_image(photo)), order="rgb")
        except ImageLoadError as exc:  # its message names the file
            unreadable.append(str(exc))
            continue
        except Exception as exc:  # noqa: BLE001 - a photo the detector fails on: counted, the others go on
            unreadable.append(f"{photo}: {exc}")
            continue
        truth.append(label)
        face = max(faces, key=lambda f: f.box[2] * f.box[3], default=None)
        predicted.append(-1 if face is None else classes.index(face.label))
    t, p = np.array(truth, dtype=int), np.array(predicted, dtype=int)
    hit = p >= 0
    labels = list(range(len(classes)))
    recall = recall_score(t[hit], p[hit], labels=labels, average=None, zero_division=0) if hit.any() else []
    return {
        "n": int(len(t)),
        "faces_found": float(hit.mean()) if len(t) else 0.0,
        "accuracy_found": float((t[hit] == p[hit]).mean()) if hit.any() else None,
        "accuracy_all": float((t == p).mean()) if len(t) else None,
        "macro_f1_found": float(f1_score(t[hit], p[hit], labels=labels, average="macro", zero_division=0))
        if hit.any()
        else None,
        "recall": {c: float(r) for c, r in zip(classes, recall)},
        "true_counts": {c: int((t == i).sum()) for i, c in enumerate(classes)},
        "predicted_counts": {c: int((p == i).sum()) for i, c in enumerate(classes)},
        "never_predicted": [c for i, c in enumerate(classes) if not (p == i).any()],
        "unreadable": unreadable,
    }
