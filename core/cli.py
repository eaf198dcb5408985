"""Command line: `python -m core train|evaluate|predict ...`."""
from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from .checkpoint import CheckpointError
from .config import NOTMNIST_MODELS, Experiment
from .data import DataSourceError
from .images import ImageLoadError

DEFAULT_OUT = Path("checkpoints")


def _experiment_from_args(args: argparse.Namespace) -> Experiment:
    if args.config:  # a whole experiment as JSON (how the app starts runs); other experiment flags are ignored
        try:
            return Experiment.from_dict(json.loads(Path(args.config).read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read experiment config {args.config}: {exc}") from None
    return Experiment(task=args.task, model=args.model, permute=args.permute,
                      permutation_seed=args.permutation_seed, epochs=args.epochs, batch_size=args.batch_size,
                      lr=args.lr, seed=args.seed, data=args.data, bf16=args.bf16, augment_shift=args.shift,
                      train_limit=args.train_limit, test_limit=args.test_limit)


def cmd_train(args: argparse.Namespace) -> int:
    from .callbacks import ProgressFile, TqdmProgress
    from .train import run_experiment

    try:
        config = _experiment_from_args(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else DEFAULT_OUT / config.task / config.name
    callbacks = [TqdmProgress()]
    progress = ProgressFile(args.progress_file) if args.progress_file else None
    if progress:
        callbacks.append(progress)
    def cancelled(signum, frame):
        raise KeyboardInterrupt("cancelled")

    signal.signal(signal.SIGTERM, cancelled)  # the app cancels runs with SIGTERM; record it in the progress file
    try:
        _, meta = run_experiment(config, out, callbacks)
    except (DataSourceError, ValueError) as exc:
        if progress:
            progress.fail(str(exc))
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if progress:
            progress.fail("cancelled")
        raise
    except BaseException as exc:  # a page polling the progress file must learn that the run died
        if progress:
            progress.fail(f"{type(exc).__name__}: {exc}")
        raise
    test = meta["metrics"]["test"]
    print(f"{config.name}: test accuracy {test['accuracy']:.4f} (unseen in train: "
          f"{test['unseen']['accuracy']:.4f}, n={test['unseen']['n']}), macro-F1 {test['macro_f1']:.4f}, "
          f"{meta['training_seconds']:.0f}s -> {out}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .checkpoint import load_checkpoint
    from .data import load_split
    from .notmnist import SPEC
    from .train import evaluate, permutation_for

    model, meta = load_checkpoint(args.checkpoint)
    config = Experiment.from_dict(meta["config"])
    data = args.data or meta.get("data", {}).get("source")
    split = load_split(SPEC, data, args.split)
    train = load_split(SPEC, data, "train") if args.split != "train" else None
    metrics = evaluate(model, split, permutation_for(config), config.bf16, train=train)
    metrics.update(checkpoint=str(args.checkpoint), source=split.source)
    if args.json:
        print(json.dumps(metrics))
        return 0
    print(f"{args.checkpoint} on {split.source} [{args.split}, n={metrics['n']}]")
    print(f"accuracy {metrics['accuracy']:.4f}   macro-F1 {metrics['macro_f1']:.4f}", end="")
    if metrics.get("unseen"):
        print(f"   accuracy on images unseen in train {metrics['unseen']['accuracy']:.4f} (n={metrics['unseen']['n']})")
    print(f"\n{'class':>6} {'precision':>9} {'recall':>7} {'f1':>6} {'n':>5}")
    for name, m in metrics["per_class"].items():
        print(f"{name:>6} {m['precision']:9.3f} {m['recall']:7.3f} {m['f1']:6.3f} {m['support']:5d}")
    print("confusion matrix (rows: true, columns: predicted)")
    print("      " + " ".join(f"{c:>5}" for c in metrics["classes"]))
    for name, row in zip(metrics["classes"], metrics["confusion_matrix"]):
        print(f"{name:>5} " + " ".join(f"{v:5d}" for v in row))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .predict import Classifier

    classifier = Classifier(args.checkpoint)
    results, failed = [], 0
    for path in args.images:
        try:
            pred = classifier.predict_image(path, invert=args.invert, crop=not args.no_crop)
        except ImageLoadError as exc:
            failed += 1
            print(f"error: {exc}", file=sys.stderr)
            if args.json:
                results.append({"file": path, "error": str(exc)})
            continue
        results.append({"file": path, **pred.to_dict()})
        if not args.json:
            top = sorted(pred.probabilities.items(), key=lambda kv: -kv[1])[:3]
            print(f"{path}: {pred.label}  (" + ", ".join(f"{c} {p:.3f}" for c, p in top) + ")")
    if args.json:
        print(json.dumps({"checkpoint": str(args.checkpoint), "predictions": results}))
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a model and save a checkpoint directory")
    d = Experiment()
    train.add_argument("task", choices=["notmnist"])
    train.add_argument("--model", choices=NOTMNIST_MODELS, default=d.model)
    train.add_argument("--permute", action="store_true", help="apply a fixed random pixel permutation")
    train.add_argument("--permutation-seed", type=int, default=d.permutation_seed)
    train.add_argument("--epochs", type=int, default=d.epochs)
    train.add_argument("--batch-size", type=int, default=d.batch_size)
    train.add_argument("--lr", type=float, default=d.lr)
    train.add_argument("--seed", type=int, default=d.seed)
    train.add_argument("--shift", type=int, default=d.augment_shift, help="random shift augmentation, pixels")
    train.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=d.bf16)
    train.add_argument("--data", help="hub id, dataset folder or image folder (default: $NOTMNIST_DATA or the hub)")
    train.add_argument("--train-limit", type=int, help="use only the first N training images")
    train.add_argument("--test-limit", type=int, help="use only the first N test images")
    train.add_argument("--out", help="checkpoint directory (default: checkpoints/TASK/RUN_NAME)")
    train.add_argument("--config", help="experiment as JSON (overrides the experiment flags above)")
    train.add_argument("--progress-file", help="write live progress as JSON here (used by the app)")
    train.set_defaults(func=cmd_train)

    ev = sub.add_parser("evaluate", help="metrics of a checkpoint on a data split")
    ev.add_argument("checkpoint")
    ev.add_argument("--data", help="data source (default: the one the checkpoint was trained on)")
    ev.add_argument("--split", default="test")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.set_defaults(func=cmd_evaluate)

    pr = sub.add_parser("predict", help="classify image files")
    pr.add_argument("checkpoint")
    pr.add_argument("images", nargs="+")
    pr.add_argument("--invert", choices=["auto", "never", "always"], default="auto",
                    help="invert dark-on-light images (auto: decided from the image border)")
    pr.add_argument("--no-crop", action="store_true", help="do not crop the image to the letter first")
    pr.add_argument("--json", action="store_true", help="print one JSON object")
    pr.set_defaults(func=cmd_predict)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (CheckpointError, DataSourceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
