"""Command line: `python -m core train|evaluate|predict ...`."""
from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
from pathlib import Path

from .backbones import WeightsUnavailable
from .checkpoint import CheckpointError
from .config import FER_ARCHS, FREEZE_DEPTHS, LR_SCHEDULES, NOTMNIST_MODELS, Experiment
from .data import DataSourceError
from .images import ImageLoadError
from .sweep import ROWS as SWEEP_ROWS

DEFAULT_OUT = Path("checkpoints")


def _experiment_from_args(args: argparse.Namespace, **overrides) -> Experiment:
    if getattr(args, "config", None):  # a whole experiment as JSON (how the app starts runs)
        try:
            return Experiment.from_dict(json.loads(Path(args.config).read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read experiment config {args.config}: {exc}") from None
    names = {f.name for f in dataclasses.fields(Experiment)}
    values = {k: v for k, v in vars(args).items() if k in names and v is not None}
    if getattr(args, "arch", None):
        values["model"] = args.arch
    return Experiment(**{**values, **overrides})


def _run_with_progress(run, progress_file: str | None):
    """Run training; a progress file (the app's view of the run) learns how it ended, whatever happens."""
    from .callbacks import ProgressFile, TqdmProgress

    progress = ProgressFile(progress_file) if progress_file else None
    callbacks = [TqdmProgress()] + ([progress] if progress else [])

    def cancelled(signum, frame):
        raise KeyboardInterrupt("cancelled")

    signal.signal(signal.SIGTERM, cancelled)  # the app cancels runs with SIGTERM
    try:
        return run(callbacks)
    except (DataSourceError, WeightsUnavailable, ValueError) as exc:
        if progress:
            progress.fail(str(exc))
        raise
    except KeyboardInterrupt:
        if progress:
            progress.fail("cancelled")
        raise
    except BaseException as exc:
        if progress:
            progress.fail(f"{type(exc).__name__}: {exc}")
        raise


def _result_line(name: str, meta: dict) -> str:
    parts = []
    for split in ("validation", "test"):
        m = meta["metrics"].get(split)
        if m:
            parts.append(f"{split} accuracy {m['accuracy']:.4f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}]")
    unseen = meta["metrics"]["test"].get("unseen")
    if unseen:
        parts.append(f"unseen in train {unseen['accuracy']:.4f} (n={unseen['n']})")
    parts.append(f"macro-F1 {meta['metrics']['test']['macro_f1']:.4f}")
    return f"{name}: " + ", ".join(parts) + f", {meta['training_seconds']:.0f}s"


def cmd_train(args: argparse.Namespace) -> int:
    from .train import run_experiment

    config = _experiment_from_args(args)
    out = Path(args.out) if args.out else DEFAULT_OUT / config.task / config.name
    if (out / "meta.json").exists() and not args.resume and not args.progress_file:
        from .checkpoint import read_meta

        if read_meta(out).get("complete"):
            print(f"note: overwriting the finished run in {out}", file=sys.stderr)
    _, meta = _run_with_progress(lambda cbs: run_experiment(config, out, cbs, resume=args.resume), args.progress_file)
    print(_result_line(config.name, meta) + f" -> {out}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from .sweep import default_folder, run_sweep, sweep_command

    base = _experiment_from_args(args, pretrained=False, freeze="none")
    out = Path(args.out) if args.out else DEFAULT_OUT / base.task / default_folder(base)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    summary = _run_with_progress(lambda cbs: run_sweep(base, out, args.rows, callbacks=lambda name: cbs, log=log),
                                 None)
    print(f"{'row':<8} {'status':<12} {'val acc':>8} {'test acc':>8} {'95% CI':>15} {'study':>6}")
    for row in summary["rows"]:
        val, test = row.get("validation", {}), row.get("test", {})
        ci = f"[{test['ci_low']:.3f}, {test['ci_high']:.3f}]" if test else ""
        study = row["study_test_accuracy"]
        print(f"{row['row']:<8} {row['status']:<12} {val.get('accuracy', float('nan')):8.4f} "
              f"{test.get('accuracy', float('nan')):8.4f} {ci:>15} {'' if study is None else f'{study:.3f}':>6}")
    print(f"summary: {out / 'sweep.json'}")
    if any(row["status"] == "unavailable" for row in summary["rows"]):
        print(f"rows marked unavailable need ImageNet weights; on a machine with internet run:\n  "
              f"{sweep_command(summary, out)}")
    return 0


def cmd_seeds(args: argparse.Namespace) -> int:
    from .results import collect_runs, comparison_rows
    from .seeds import run_seeds

    base = _experiment_from_args(args, task="notmnist")
    out = Path(args.out) if args.out else DEFAULT_OUT / "notmnist"

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    _run_with_progress(lambda cbs: run_seeds(base, args.seeds, out, args.retrain, callbacks=lambda c: cbs, log=log),
                       None)
    print(f"{'model':<5} {'pixels':<9} {'seeds':<8} {'test mean ± std':>17} {'unseen mean ± std':>19} median seed")
    for row in comparison_rows(collect_runs(out)):
        if not row.get("seeds"):
            continue
        test = f"{row['test_mean']:.4f} ± {row['test_std'] or 0:.4f}"
        unseen = f"{row['unseen_mean']:.4f} ± {row['unseen_std'] or 0:.4f}" if row["unseen_mean"] is not None else ""
        print(f"{row['model']:<5} {row['pixels']:<9} {','.join(map(str, row['seeds'])):<8} {test:>17} {unseen:>19} "
              f"{row['median_seed']} -> {row['median_path']}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .checkpoint import load_checkpoint
    from .data import load_split
    from .train import evaluate, task_spec
    from .transforms import make_batches

    model, meta = load_checkpoint(args.checkpoint)
    config = Experiment.from_dict(meta["config"])
    spec = task_spec(config.task)
    data = args.data or meta.get("data", {}).get("source")
    split = load_split(spec, data, args.split)
    with_unseen = config.task == "notmnist" and args.split != "train"
    train = load_split(spec, data, "train") if with_unseen else None
    metrics = evaluate(model, split, make_batches(config), config.bf16, train=train, confidence=True)
    metrics.update(checkpoint=str(args.checkpoint), source=split.source)
    if args.json:
        print(json.dumps(metrics))
        return 0
    print(f"{args.checkpoint} on {split.source} [{args.split}: {split.origin}, n={metrics['n']}]")
    print(f"accuracy {metrics['accuracy']:.4f} (95% CI {metrics['ci_low']:.4f}-{metrics['ci_high']:.4f})   "
          f"macro-F1 {metrics['macro_f1']:.4f}")
    if metrics.get("unseen"):
        print(f"accuracy on images unseen in train {metrics['unseen']['accuracy']:.4f} (n={metrics['unseen']['n']})")
    width = max(len(c) for c in metrics["classes"]) + 1
    print(f"\n{'class':>{width}} {'precision':>9} {'recall':>7} {'f1':>6} {'n':>5}")
    for name, m in metrics["per_class"].items():
        print(f"{name:>{width}} {m['precision']:9.3f} {m['recall']:7.3f} {m['f1']:6.3f} {m['support']:5d}")
    print("confusion matrix (rows: true, columns: predicted)")
    print(" " * width + " ".join(f"{c[:5]:>5}" for c in metrics["classes"]))
    for name, row in zip(metrics["classes"], metrics["confusion_matrix"]):
        print(f"{name:>{width}}" + " ".join(f"{v:5d}" for v in row))
    return 0


def _predict_letters(args: argparse.Namespace) -> tuple[list[dict], int]:
    from .predict import Classifier

    classifier = Classifier(args.checkpoint)
    results, failed = [], 0
    for path in args.images:
        try:
            pred = classifier.predict_image(path, invert=args.invert, crop=not args.no_crop)
        except ImageLoadError as exc:
            failed += 1
            print(f"error: {exc}", file=sys.stderr)
            results.append({"file": path, "error": str(exc)})
            continue
        results.append({"file": path, **pred.to_dict()})
        if not args.json:
            top = sorted(pred.probabilities.items(), key=lambda kv: -kv[1])[:3]
            print(f"{path}: {pred.label}  (" + ", ".join(f"{c} {p:.3f}" for c, p in top) + ")")
    return results, failed


def _predict_emotions(args: argparse.Namespace) -> tuple[list[dict], int]:
    from .faces import EmotionDetector
    from .images import open_image, to_rgb_array

    detector = EmotionDetector(args.checkpoint)
    results, failed = [], 0
    for path in args.images:
        try:
            image = open_image(path)
        except ImageLoadError as exc:
            failed += 1
            print(f"error: {exc}", file=sys.stderr)
            results.append({"file": path, "error": str(exc)})
            continue
        faces = ([detector.classify_face_image(image)] if args.no_detect
                 else detector.detect(to_rgb_array(image), order="rgb"))
        results.append({"file": path, "faces": [f.to_dict() for f in faces]})
        if not args.json:
            found = "; ".join(f"{f.label} {f.confidence:.0%} at {list(f.box)}" for f in faces) or "no face found"
            print(f"{path}: {found}")
    return results, failed


def cmd_predict(args: argparse.Namespace) -> int:
    from .checkpoint import read_meta

    task = read_meta(args.checkpoint)["config"].get("task", "notmnist")
    results, failed = (_predict_emotions if task == "fer" else _predict_letters)(args)
    if args.json:
        print(json.dumps({"checkpoint": str(args.checkpoint), "predictions": results}))
    return 1 if failed else 0


def cmd_report(args: argparse.Namespace) -> int:
    from .report import update_readme

    root = Path(__file__).resolve().parent.parent
    if not args.check and not args.no_figures:
        from .figures import FIGURES_DIR, FiguresUnavailable, write_figures

        try:
            for path in write_figures(root / "checkpoints", root / FIGURES_DIR):
                print(f"wrote {path.relative_to(root)}")
        except FiguresUnavailable as exc:
            print(f"warning: {exc}; the tables are still updated", file=sys.stderr)
    current = update_readme(root / "README.md", root / "checkpoints", check=args.check)
    if args.check and not current:
        print("README.md results are out of date: run `python -m core report`", file=sys.stderr)
        return 1
    print("README.md results are up to date" if current else "README.md results rewritten")
    return 0


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES)
    p.add_argument("--seed", type=int)
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                   help="bf16 autocast (default: on for fer where supported, off for notmnist)")
    p.add_argument("--train-limit", type=int, help="use only the first N training images")
    p.add_argument("--test-limit", type=int, help="use only the first N images of validation and test")
    p.add_argument("--out", help="output directory")


def _add_fer(p: argparse.ArgumentParser, freeze: bool = True) -> None:
    p.add_argument("--arch", choices=FER_ARCHS, help="fer: backbone (default resnet18)")
    if freeze:
        p.add_argument("--pretrained", action="store_true", default=None, help="fer: start from ImageNet weights")
        p.add_argument("--freeze", choices=FREEZE_DEPTHS, help="fer: frozen prefix (needs pretrained weights)")
    p.add_argument("--weights", help="fer: local ImageNet state_dict instead of torchvision's download")
    p.add_argument("--img-size", type=int, help="fer: model input size (default 224)")
    p.add_argument("--optimizer", choices=["adam", "sgd"])
    p.add_argument("--step-size", type=int, help="StepLR: epochs per decay")
    p.add_argument("--label-smoothing", type=float)
    p.add_argument("--class-weights", action="store_true", default=None)
    p.add_argument("--rotation", type=float, help="fer: random rotation in degrees")
    p.add_argument("--erasing", type=float, help="fer: random erasing probability")
    p.add_argument("--no-flip", dest="flip", action="store_false", default=None)
    p.add_argument("--data", help="data source (default: $NOTMNIST_DATA or the hub; $FER_DATA)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a model and save a checkpoint directory")
    train.add_argument("task", choices=["notmnist", "fer"])
    train.add_argument("--model", choices=NOTMNIST_MODELS, help="notmnist: cnn or mlp (default cnn)")
    train.add_argument("--permute", action="store_true", default=None, help="notmnist: fixed random pixel permutation")
    train.add_argument("--permutation-seed", type=int)
    train.add_argument("--shift", dest="augment_shift", type=int, help="notmnist: random shift, pixels")
    _add_fer(train)
    _add_common(train)
    train.add_argument("--resume", action="store_true", help="continue from the last completed epoch in --out")
    train.add_argument("--config", help="experiment as JSON (replaces the experiment flags)")
    train.add_argument("--progress-file", help="write live progress as JSON here (used by the app)")
    train.set_defaults(func=cmd_train)

    sweep = sub.add_parser("sweep", help="scratch + pretrained at every freeze depth, into one folder")
    sweep.add_argument("task", choices=["fer"])
    _add_fer(sweep, freeze=False)
    _add_common(sweep)
    sweep.add_argument("--rows", nargs="+", choices=[row[0] for row in SWEEP_ROWS],
                       help="only these rows (default: all six)")
    sweep.set_defaults(func=cmd_sweep)

    seeds = sub.add_parser("seeds", help="notmnist: CNN / MLP x original / permuted, each with several seeds")
    seeds.add_argument("task", choices=["notmnist"])
    seeds.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default 0 1 2)")
    seeds.add_argument("--permutation-seed", type=int, help="the fixed permutation, shared by every run (default 0)")
    seeds.add_argument("--data", help="data source (default: $NOTMNIST_DATA or the hub)")
    seeds.add_argument("--retrain", action="store_true", help="train finished runs again instead of skipping them")
    _add_common(seeds)
    seeds.set_defaults(func=cmd_seeds)

    ev = sub.add_parser("evaluate", help="metrics of a checkpoint on a data split")
    ev.add_argument("checkpoint")
    ev.add_argument("--data", help="data source (default: the one the checkpoint was trained on)")
    ev.add_argument("--split", default="test")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.set_defaults(func=cmd_evaluate)

    pr = sub.add_parser("predict", help="classify image files (letters; or every face, for emotion models)")
    pr.add_argument("checkpoint")
    pr.add_argument("images", nargs="+")
    pr.add_argument("--invert", choices=["auto", "never", "always"], default="auto",
                    help="invert dark-on-light images (auto: decided from the image border)")
    pr.add_argument("--no-crop", action="store_true", help="letters: do not crop the image to the letter first")
    pr.add_argument("--no-detect", action="store_true", help="emotions: each image is already a cropped face")
    pr.add_argument("--json", action="store_true", help="print one JSON object")
    pr.set_defaults(func=cmd_predict)

    rep = sub.add_parser("report", help="regenerate README.md's results tables from checkpoints/*/meta.json")
    rep.add_argument("--check", action="store_true", help="only check; exit 1 when README.md is out of date")
    rep.add_argument("--no-figures", action="store_true", help="only the tables, not the PNG figures")
    rep.set_defaults(func=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (CheckpointError, DataSourceError, WeightsUnavailable, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
