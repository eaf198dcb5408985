"""`python -m core predict RUN IMAGE...`: letters, or every face with its emotion."""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

from ..errors import ImageLoadError
from .flags import add_mode_flags

log = logging.getLogger(__name__)


def _predict_letters(args: argparse.Namespace) -> tuple[list[dict], int]:
    from ..inference.letters import LetterClassifier

    classifier = LetterClassifier(args.checkpoint, args.precision, args.memory_format)
    results, failed = [], 0
    for path in args.images:
        try:
            pred = classifier.predict_image(path, invert=args.invert, crop=not args.no_crop)
        except ImageLoadError as exc:
            failed += 1
            log.error("error: %s", exc)
            results.append({"file": path, "error": str(exc)})
            continue
        results.append({"file": path, **pred.to_dict()})
        if not args.json:
            top = sorted(pred.probabilities.items(), key=lambda kv: -kv[1])[:3]
            print(f"{path}: {pred.label}  (" + ", ".join(f"{c} {p:.3f}" for c, p in top) + ")")
    return results, failed


def _predict_emotions(args: argparse.Namespace) -> tuple[list[dict], int]:
    from ..data.images import open_image, to_rgb_array
    from ..inference.emotions import EmotionDetector

    detector = EmotionDetector(args.checkpoint, precision=args.precision, memory_format=args.memory_format)
    results, failed = [], 0
    for path in args.images:
        try:
            image = open_image(path)
        except ImageLoadError as exc:
            failed += 1
            log.error("error: %s", exc)
            results.append({"file": path, "error": str(exc)})
            continue
        faces = (
            [detector.classify_face_image(image)]
            if args.no_detect
            else detector.detect(to_rgb_array(image), order="rgb")
        )
        results.append({"file": path, "faces": [f.to_dict() for f in faces]})
        if not args.json:
            found = "; ".join(f"{f.label} {f.confidence:.0%} at {list(f.box)}" for f in faces) or "no face found"
            print(f"{path}: {found}")
    return results, failed


def cmd_predict(args: argparse.Namespace) -> int:
    from ..runs.record import read_record

    task = read_record(args.checkpoint).task
    results, failed = (_predict_emotions if task == "fer" else _predict_letters)(args)
    if args.json:
        print(json.dumps({"checkpoint": str(args.checkpoint), "predictions": results}))
    return 1 if failed else 0


def register(sub: Any) -> None:
    pr = sub.add_parser("predict", help="classify image files (letters; or every face, for emotion models)")
    pr.add_argument("checkpoint", help="a run folder (with meta.json and weights)")
    pr.add_argument("images", nargs="+", help="image files (PNG, JPEG, WebP, ...)")
    pr_options = pr.add_argument_group("prediction options")
    pr_options.add_argument(
        "--invert",
        choices=["auto", "never", "always"],
        default="auto",
        help="letters: invert dark-on-light images (default auto: decided from the image border)",
    )
    pr_options.add_argument("--no-crop", action="store_true", help="letters: do not crop the image to the letter first")
    pr_options.add_argument("--no-detect", action="store_true", help="emotions: each image is already a cropped face")
    pr_options.add_argument("--json", action="store_true", help="print one JSON object")
    add_mode_flags(pr_options)
    pr.set_defaults(func=cmd_predict)
