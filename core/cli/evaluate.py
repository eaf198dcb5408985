"""`python -m core evaluate RUN [RUN ...]`: a run's (or an ensemble's) metrics on a split, in frames or on photos."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

from ..config import TTA_METHODS
from ..errors import ConfigError, DataSourceError
from ..runs.data_source import run_data_source
from ..runs.record import describe_consensus
from .flags import add_mode_flags

log = logging.getLogger(__name__)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..data.cache import load_split
    from ..data.tasks import batch_transform, get_task
    from ..engine.loop import evaluate
    from ..inference.modes import inference_mode
    from ..runs.amend import record_tta, record_unseen  # torch: only when a command runs, not for --help
    from ..runs.checkpoint import load_checkpoint

    if args.in_frames is not None and args.in_frames < 1:
        raise ConfigError("--in-frames must be at least 1 face")
    if args.record_tta and args.tta == "none":
        raise ConfigError("--record-tta stores a test-time augmentation's figures; give --tta flip or --tta ten-crop")
    if len(args.checkpoint) > 1:
        return _evaluate_ensemble(args)
    args.checkpoint = args.checkpoint[0]  # one run from here on (the helpers below read it)
    model, record = load_checkpoint(args.checkpoint)
    config = record.config
    if args.tta != "none" and config.task != "fer":
        raise ConfigError(f"--tta is for emotion (fer) models; {args.checkpoint} is a {config.task} model")
    if args.eval_crop is not None:
        config = _with_eval_crop(args, config)
    if args.photos:
        return _evaluate_photos(args, config.task)
    spec = get_task(config.task).spec
    if args.split not in spec.splits:
        raise ConfigError(f"--split {args.split}: {config.task} has the splits {', '.join(spec.splits)}")
    data = run_data_source(record, args.data)
    split = load_split(spec, data, args.split)
    if args.in_frames:
        return _evaluate_in_frames(args, split)
    train = _train_for_unseen(spec, data, args.split)
    precision, memory_format = args.precision, args.memory_format
    if args.record_unseen and (precision, memory_format) == ("auto", "auto"):
        # the figure joins the trained metrics: evaluate as they were (the mode trained in), not the fastest mode
        trained = record.runtime or {}
        precision = trained.get("precision", config.precision)
        memory_format = trained.get("memory_format", config.memory_format)
    mode, _ = inference_mode(model, config, 256, precision, memory_format)
    metrics = evaluate(model, split, batch_transform(config), mode, train=train, confidence=True, tta=args.tta)
    metrics["mode"] = mode.name
    metrics.update(checkpoint=str(args.checkpoint), source=split.source, tta=args.tta)
    if args.record_unseen:
        record_unseen(args.checkpoint, record, args.split, metrics)
    if args.record_tta:
        record_tta(args.checkpoint, record, args.split, args.tta, metrics)
    if args.json:
        print(json.dumps(metrics))
        return 0
    views = "" if args.tta == "none" else f", {args.tta} test-time augmentation"
    print(f"{args.checkpoint} on {split.source} [{args.split}: {split.origin}, n={metrics['n']}{views}]")
    _print_metrics(metrics)
    return 0


def _evaluate_ensemble(args: argparse.Namespace) -> int:
    """Several runs' mean probability on a split, with the metrics of one run."""
    from ..data.cache import load_split
    from ..data.tasks import get_task
    from ..engine.loop import split_metrics
    from ..inference.ensemble import check_members, mean_probabilities

    alone = {**_as_trained(args), "--eval-crop": args.eval_crop is not None}
    refused = [flag for flag, value in alone.items() if value]
    if refused:
        raise ConfigError(f"{refused[0]} is for one run; give one run folder, not {len(args.checkpoint)}")
    records = check_members(args.checkpoint)
    task = records[0].config.task
    if args.tta != "none" and task != "fer":
        raise ConfigError(f"--tta is for emotion (fer) models; these are {task} models")
    spec = get_task(task).spec
    if args.split not in spec.splits:
        raise ConfigError(f"--split {args.split}: {task} has the splits {', '.join(spec.splits)}")
    data = run_data_source(records[0], args.data)
    split = load_split(spec, data, args.split)
    train = _train_for_unseen(spec, data, args.split)
    probabilities = mean_probabilities(args.checkpoint, split, args.tta, 1.0, args.precision, args.memory_format)
    metrics = split_metrics(probabilities.clamp_min(1e-12).log(), split, train, confidence=True)
    metrics.update(checkpoints=[str(c) for c in args.checkpoint], source=split.source, tta=args.tta)
    if args.json:
        print(json.dumps(metrics))
        return 0
    views = "" if args.tta == "none" else f", {args.tta} test-time augmentation"
    print(f"the mean probability of {len(args.checkpoint)} runs on {split.source} "
          f"[{args.split}: {split.origin}, n={metrics['n']}{views}]")  # fmt: skip
    _print_metrics(metrics)
    return 0


def _as_trained(args: argparse.Namespace) -> dict[str, Any]:
    """The flags that read one run as it was trained (recording into it, or through its webcam pipeline)."""
    return {"--record-unseen": args.record_unseen, "--record-tta": args.record_tta, "--photos": args.photos,
            "--in-frames": args.in_frames}  # fmt: skip


def _with_eval_crop(args: argparse.Namespace, config: Any) -> Any:
    """The run's recipe with another evaluation crop (checked as --eval-crop is checked when training)."""
    if config.task != "fer":
        raise ConfigError(f"--eval-crop is for emotion (fer) models; {args.checkpoint} is a {config.task} model")
    used = [flag for flag, on in _as_trained(args).items() if on]
    if used:
        raise ConfigError(f"--eval-crop tries a view on a split; {used[0]} reads the run as it was trained")
    return dataclasses.replace(config, eval_crop=args.eval_crop)


def _train_for_unseen(spec: Any, data: str | None, split: str) -> Any:
    """The train split, for the unseen-in-train figure of another split; None for train itself, or for a source
    without one (which still evaluates)."""
    from ..data.cache import load_split

    if split == "train":
        return None
    try:
        return load_split(spec, data, "train")
    except DataSourceError as exc:
        log.warning("no unseen-in-train figure: %s", exc)
        return None


def _print_metrics(metrics: dict[str, Any]) -> None:
    print(
        f"accuracy {metrics['accuracy']:.4f} (95% CI {metrics['ci_low']:.4f}-{metrics['ci_high']:.4f})   "
        f"macro-F1 {metrics['macro_f1']:.4f}"
    )
    unseen = metrics.get("unseen")
    if unseen and unseen["accuracy"] is not None:
        print(
            f"accuracy on images unseen in train {unseen['accuracy']:.4f} (95% CI {unseen['ci_low']:.4f}-"
            f"{unseen['ci_high']:.4f}, n={unseen['n']} of {metrics['n']})"
        )
    consensus = metrics.get("ferplus")
    if consensus and consensus["majority_accuracy"] is not None:
        print(f"FER+ ten annotators: {describe_consensus(consensus)}")
    width = max(len(c) for c in metrics["classes"]) + 1
    print(f"\n{'class':>{width}} {'precision':>9} {'recall':>7} {'f1':>6} {'n':>5}")
    for name, m in metrics["per_class"].items():
        print(f"{name:>{width}} {m['precision']:9.3f} {m['recall']:7.3f} {m['f1']:6.3f} {m['support']:5d}")
    print("confusion matrix (rows: true, columns: predicted)")
    print(" " * width + " ".join(f"{c[:5]:>5}" for c in metrics["classes"]))
    for name, row in zip(metrics["classes"], metrics["confusion_matrix"]):
        print(f"{name:>{width}}" + " ".join(f"{v:5d}" for v in row))


def _evaluate_photos(args: argparse.Namespace, task: str) -> int:
    from ..data.fer import SPEC
    from ..inference.emotions import EmotionDetector
    from ..study.photos import photo_evaluation

    if task != "fer":
        raise ConfigError(f"--photos is for emotion (fer) models; {args.checkpoint} is a {task} model")
    result = photo_evaluation(EmotionDetector(args.checkpoint), Path(args.photos), SPEC.aliases)
    for line in result["unreadable"]:
        log.error("error: %s", line)
    if args.json:
        print(json.dumps({**result, "checkpoint": str(args.checkpoint), "photos": str(args.photos)}))
        return 1 if result["unreadable"] else 0
    if not result["n"]:  # every photo unreadable (each said above): no figure to give
        print(f"{args.checkpoint}: none of the photos in {args.photos} could be read, so there is no accuracy")
        return 1
    found = result["accuracy_found"]
    print(f"{args.checkpoint} on {result['n']} photos in {args.photos}: a face found in {result['faces_found']:.1%}; "
          f"accuracy {'—' if found is None else f'{found:.1%}'} of those, {result['accuracy_all']:.1%} of all "
          f"(a missed face counts as wrong)")  # fmt: skip
    for name, recall in result["recall"].items():
        print(f"  {name:<10} recall {recall:.2f}  ({result['true_counts'][name]} photos, predicted "
              f"{result['predicted_counts'][name]} times)")  # fmt: skip
    if result["never_predicted"]:
        print(f"never predicted: {', '.join(result['never_predicted'])}")
    return 1 if result["unreadable"] else 0


def _evaluate_in_frames(args: argparse.Namespace, split: Any) -> int:
    from ..inference.emotions import EmotionDetector
    from ..study.in_frames import in_frame_evaluation

    detector = EmotionDetector(args.checkpoint)
    result = in_frame_evaluation(detector, split, args.in_frames)
    result.update(checkpoint=str(args.checkpoint), split=args.split, backend=detector.backend,
                  calibrated=detector.calibration is not None)  # fmt: skip
    if args.json:
        print(json.dumps(result))
        return 0
    framing = result["framing"]
    print(f"{args.checkpoint} on {result['n']:,} {args.split} faces pasted into 640x480 frames")
    if result["in_frame_accuracy_detected"] is None:
        print("  the cascade found none of them: no in-frame figure (try more faces)")
        return 0
    print(f"  the cascade found {result['detected']:.1%} of them")
    print(f"  crop-only accuracy {result['crop_only_accuracy']:.2%} (all), "
          f"{result['crop_only_accuracy_detected']:.2%} (the found ones)")  # fmt: skip
    print(f"  in-frame accuracy  {result['in_frame_accuracy_detected']:.2%} (the found ones): gap "
          f"{result['gap_points']:.1f} points")  # fmt: skip
    consensus = result.get("ferplus")
    if consensus and consensus["in_frame_majority_accuracy_detected"] is not None:
        print(f"  FER+ majority (the {consensus['n']:,} faces with a plurality): crop-only "
              f"{consensus['crop_only_majority_accuracy_detected']:.2%}, in frames "
              f"{consensus['in_frame_majority_accuracy_detected']:.2%} (the found ones)")  # fmt: skip
    print(f"  framing: FER face side / cascade box {framing['fer_side_over_box']:.3f} (crop margin "
          f"{framing['margin']}), centre offset {framing['fer_centre_dx_over_box']:+.3f}, "
          f"{framing['fer_centre_dy_over_box']:+.3f} of the box")  # fmt: skip
    return 0


def register(sub: Any) -> None:
    ev = sub.add_parser("evaluate", help="metrics of a checkpoint on a data split")
    ev.add_argument(
        "checkpoint", nargs="+",
        help="a run folder (with meta.json and weights); several: their ensemble, the mean of their probabilities",
    )  # fmt: skip
    ev_options = ev.add_argument_group("evaluation options")
    ev_options.add_argument(
        "--data", help="data source (default: the one the checkpoint was trained on; several runs: the first's)"
    )
    ev_options.add_argument("--split", default="test", help="train, validation (fer) or test (default test)")
    ev_options.add_argument("--json", action="store_true", help="print one JSON object")
    ev_options.add_argument(
        "--record-unseen",
        action="store_true",
        help="also store the unseen-in-train figure (and, where the data has FER+ votes, the consensus block) of this "
        "split in the checkpoint's meta.json (for runs recorded before they were computed; the other metrics stay "
        "as trained)",
    )
    ev_options.add_argument(
        "--tta", choices=TTA_METHODS, default="none",
        help="fer: average the logits of views of each face: flip (2) or ten-crop (corners, centre and mirrors; 10)",
    )  # fmt: skip
    ev_options.add_argument(
        "--record-tta", action="store_true",
        help="store this split's --tta accuracy in the checkpoint's meta.json (shown in the README's tables)",
    )  # fmt: skip
    ev_options.add_argument(
        "--eval-crop", type=float, metavar="SHARE",
        help="fer: see the centre of each face, this share of its side, instead of the run's own view (to choose "
        "a train --eval-crop on the validation split; not with --record-unseen or --record-tta)",
    )  # fmt: skip
    ev_options.add_argument(
        "--in-frames", type=int, metavar="N",
        help="fer: the whole webcam pipeline on the split's first N faces pasted into 640x480 frames, against "
        "classifying the crops directly",
    )  # fmt: skip
    ev_options.add_argument(
        "--photos", metavar="DIR",
        help="fer: your own labelled photos, DIR/<emotion>/*.jpg, through the webcam's detector (largest face)",
    )  # fmt: skip
    add_mode_flags(ev_options)
    ev.set_defaults(func=cmd_evaluate)
