"""The whole webcam pipeline on FER-2013's own test faces: each face pasted into a 640 x 480 frame at a random
place and size, then detect -> crop -> preprocess -> classify, exactly as a video frame goes. Compared with
classifying the same 48 x 48 faces directly ("crop-only"), the gap is what the detector's framing costs; the
framing of the found faces (the pasted face's side and centre relative to the cascade's box) is measured too,
which is how the detector's crop was matched to FER-2013's (core.inference.faces.HaarCascade.FRAMING)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from ..data.ferplus import COLUMNS, MANIFEST_FILE, VOTES_FILE, plurality
from ..data.sources import ImageSplit
from ..inference.emotions import EmotionDetector, prepare_face
from ..inference.faces import Box, FaceDetector, HaarCascade, face_crop, iou

FRAME = (480, 640)


CONTEXT = 0.25  # the face's surroundings, mirrored from its own border, on every side (a share of its side)


def paste(face: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A gray frame (smooth random background, sensor noise) holding the face, enlarged, and where the face is.
    The face keeps some surroundings (its border mirrored outwards), as a face in a camera frame has hair and
    neck around it: a crop slightly wider than the face then sees plausible pixels, not a hard edge."""
    h, w = FRAME
    side = int(rng.integers(120, 260))
    pad = int(round(side * CONTEXT))
    small_pad = max(1, int(round(face.shape[0] * CONTEXT)))
    framed = cv2.copyMakeBorder(face, small_pad, small_pad, small_pad, small_pad, cv2.BORDER_REFLECT_101)
    outer = side + 2 * pad
    x, y = int(rng.integers(0, w - outer)), int(rng.integers(0, h - outer))
    background = cv2.resize(rng.integers(40, 200, size=(6, 8)).astype(np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)
    frame = background.astype(np.int16)
    frame[y : y + outer, x : x + outer] = cv2.resize(framed, (outer, outer), interpolation=cv2.INTER_CUBIC)
    frame += rng.integers(-4, 5, size=FRAME)
    return np.clip(frame, 0, 255).astype(np.uint8), (x + pad, y + pad, side, side)


def matching_face(finder: FaceDetector, frame: np.ndarray, truth: Box) -> Box | None:
    """The cascade's box for the pasted face: the found box overlapping it most, if it overlaps by IoU 0.3."""
    best = max(finder.find(frame), key=lambda b: iou(b, truth), default=None)
    return best if best is not None and iou(best, truth) >= 0.3 else None


def in_frame_evaluation(detector: EmotionDetector, split: ImageSplit, n: int | None = None, seed: int = 0) -> dict:
    """Crop-only and in-frame accuracy on the first n faces of a split, the detection rate and the framing."""
    rng = np.random.default_rng(seed)
    count = min(n or len(split), len(split))
    faces = split.images[:count, 0].numpy()
    labels = split.labels[:count].numpy()
    crop_pred = np.concatenate([detector.classify(list(faces[i : i + 256])).argmax(1) for i in range(0, count, 256)])
    found, frame_pred, scale, shift_x, shift_y = [], [], [], [], []
    for face in faces:
        frame, truth = paste(face, rng)
        best = matching_face(detector.face_detector, frame, truth)
        if best is None:
            found.append(False)
            frame_pred.append(-1)
            continue
        found.append(True)
        scale.append(truth[2] / best[2])
        shift_x.append((truth[0] + truth[2] / 2 - (best[0] + best[2] / 2)) / best[2])
        shift_y.append((truth[1] + truth[3] / 2 - (best[1] + best[3] / 2)) / best[3])
        _, probs = detector.crops_and_probabilities(frame, [best])
        frame_pred.append(int(probs[0].argmax()))
    hit = np.array(found)
    in_frame = np.array(frame_pred)
    result: dict[str, Any] = {
        "n": count,
        "detected": float(hit.mean()),
        "crop_only_accuracy": float((crop_pred == labels).mean()),
        "crop_only_accuracy_detected": float((crop_pred[hit] == labels[hit]).mean()) if hit.any() else None,
        "in_frame_accuracy_detected": float((in_frame[hit] == labels[hit]).mean()) if hit.any() else None,
        "in_frame_accuracy_all": float((in_frame == labels).mean()),  # a missed face counts as wrong
        "framing": {
            "margin": detector.framing.margin,
            "shift_y": detector.framing.shift_y,
            "fer_side_over_box": float(np.median(scale)) if scale else None,
            "fer_centre_dx_over_box": float(np.median(shift_x)) if shift_x else None,
            "fer_centre_dy_over_box": float(np.median(shift_y)) if shift_y else None,
        },
    }
    if result["in_frame_accuracy_detected"] is not None:
        result["gap_points"] = 100 * (result["crop_only_accuracy_detected"] - result["in_frame_accuracy_detected"])
    if split.votes is not None:  # the same predictions against the ten FER+ annotators' plurality
        winners, has = plurality(split.votes[:count].numpy())

        def agree(pred: np.ndarray, mask: np.ndarray) -> float | None:
            keep = mask & has
            return float(winners[keep, pred[keep]].mean()) if keep.any() else None

        result["ferplus"] = {
            "n": int(has.sum()),
            "crop_only_majority_accuracy": agree(crop_pred, np.ones(count, dtype=bool)),
            "crop_only_majority_accuracy_detected": agree(crop_pred, hit),
            "in_frame_majority_accuracy_detected": agree(np.maximum(in_frame, 0), hit),
        }
    return result


def framed_faces(
    split: ImageSplit,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    face_detector: FaceDetector | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each face of a split as the webcam's pipeline sees it: pasted into a frame (`paste`), found by the
    cascade, cropped with the webcam's framing and decoded back to the split's size. Returns the crops
    (N x H x W uint8; the face itself where the cascade missed it) and which faces were found. A training set of
    these teaches a model the detector's framing (`python -m core framed-faces`)."""
    rng = np.random.default_rng(seed)
    finder = face_detector or HaarCascade()  # the webcam's detector
    faces = split.images[:, 0].numpy()
    out, found = faces.copy(), np.zeros(len(faces), dtype=bool)
    size = faces.shape[-1]
    for i, face in enumerate(faces):
        frame, truth = paste(face, rng)
        best = matching_face(finder, frame, truth)
        if best is not None:
            _, crop = face_crop(frame, best, finder.framing)
            out[i], found[i] = prepare_face(crop, size), True
        if progress is not None and ((i + 1) % 500 == 0 or i + 1 == len(faces)):
            progress(i + 1, len(faces))
    return out, found


def write_framed_source(splits: dict[str, ImageSplit], out_dir: Path, seed: int = 0,
                        progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:  # fmt: skip
    """A data source (parquet, as `datasets` writes it) whose train split holds every training face twice: as
    it is and as the webcam frames it (where the cascade found it); validation and test are the originals, so
    results stay comparable. Returns what was written."""
    from datasets import ClassLabel, Dataset, Features
    from datasets import Image as ImageFeature
    from PIL import Image

    train = splits["train"]
    crops, found = framed_faces(train, seed, progress)
    features = Features({"image": ImageFeature(), "label": ClassLabel(names=list(train.classes))})
    (out_dir / "data").mkdir(parents=True, exist_ok=True)
    counts = {}
    written: dict[str, tuple[list[np.ndarray], np.ndarray | None]] = {}
    for name, split in splits.items():
        images = list(split.images[:, 0].numpy())
        labels = split.labels.tolist()
        votes = None if split.votes is None else split.votes.numpy()
        if name == "train":
            images += list(crops[found])
            labels += split.labels[torch.from_numpy(found)].tolist()
            votes = None if votes is None else np.concatenate([votes, votes[found]])  # a framed face keeps its votes
        table = Dataset.from_dict({"image": [Image.fromarray(i) for i in images], "label": labels}, features=features)
        table.to_parquet(str(out_dir / "data" / f"{name}-00000-of-00001.parquet"))
        counts[name] = len(labels)
        written[name] = images, votes
    if all(votes is not None for _, votes in written.values()):
        write_votes(out_dir, written)
    summary = {"source": train.source, "seed": seed, "framed": int(found.sum()), "missed": int((~found).sum()),
               "images": counts, "votes": (out_dir / VOTES_FILE).is_file()}  # fmt: skip
    (out_dir / "README.md").write_text(
        "# FER-2013 with detector-framed training faces\n\n"
        f"Written by `python -m core framed-faces` from `{train.source}` (seed {seed}). The train split holds every "
        f"training face as it is and, for the {summary['framed']:,} the cascade found (missed {summary['missed']:,}), "
        "the same face as the webcam's pipeline crops it: pasted into a 640x480 frame at a random place and size, "
        "found by OpenCV's Haar cascade, cropped with the webcam's framing, decoded back to 48x48. Validation and "
        "test are the original splits.\n\n"
        f"Images per split: {counts}.\n"
        + (
            f"\n`{VOTES_FILE}` holds the FER+ annotators' votes for every row (a framed face keeps its face's votes) "
            f"and `{MANIFEST_FILE}` each row's pixel MD5, as in the source.\n"
            if summary["votes"]
            else ""
        )
    )
    return summary


def write_votes(out_dir: Path, splits: dict[str, tuple[list[np.ndarray], np.ndarray | None]]) -> None:
    """ferplus.csv and manifest.csv for a written source, one row per image of each split in its order (the
    votes checked against the pixels when read: core.data.ferplus)."""
    import csv
    import hashlib

    with (
        (out_dir / VOTES_FILE).open("w", newline="") as votes_file,
        (out_dir / MANIFEST_FILE).open("w", newline="") as manifest_file,
    ):
        votes_csv, manifest_csv = csv.writer(votes_file), csv.writer(manifest_file)
        votes_csv.writerow(["split", "index", *COLUMNS])
        manifest_csv.writerow(["split", "index", "pixel_md5"])
        for name, (images, votes) in splits.items():
            assert votes is not None
            for i, (image, row) in enumerate(zip(images, votes)):
                cells = [int(v) for v in row] if row.sum() > 0 else [""] * len(COLUMNS)
                votes_csv.writerow([name, i, *cells])
                manifest_csv.writerow([name, i, hashlib.md5(np.ascontiguousarray(image).tobytes()).hexdigest()])
