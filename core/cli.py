"""Command line: `python -m core train|sweep|seeds|evaluate|calibrate|predict|explain|framed-faces|probe|card|report`.

Every experiment flag comes from core.config.FLAGS. A user's mistake (a bad flag value, file or source) is
one line on stderr and exit code 2; a file that failed among several is exit code 1; a bug keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import (
    EXPLAIN_METHODS,
    FER_ARCHS,
    FLAG_BY_FIELD,
    FLAGS,
    FREEZE_DEPTHS,
    LABEL_SOURCES,
    LR_SCHEDULES,
    MEMORY_FORMATS,
    NOTMNIST_MODELS,
    OPTIMIZERS,
    PRECISIONS,
    TTA_METHODS,
    Experiment,
)
from .data.tasks import get_task
from .errors import ConfigError, DataSourceError, ImageLoadError, StudyError
from .runs.record import RunRecord, describe_consensus

log = logging.getLogger(__name__)
DEFAULT_OUT = Path("checkpoints")
CHOICES = {
    "freeze": FREEZE_DEPTHS,
    "lr_schedule": LR_SCHEDULES,
    "optimizer": OPTIMIZERS,
    "precision": PRECISIONS,
    "memory_format": MEMORY_FORMATS,
    "labels": LABEL_SOURCES,
}
GROUPS = {"model": "model", "training": "training", "data": "data"}


def _arg_type(name: str) -> Callable[[str], Any]:
    """int, float or str, read from the Experiment field's annotation (`int | None` -> int)."""
    hint = typing.get_type_hints(Experiment)[name]
    for kind in (int, float, str):
        if hint is kind or kind in typing.get_args(hint):
            return kind
    return str


def add_experiment_flags(parser: argparse.ArgumentParser, task: str | None, skip: tuple[str, ...] = ()) -> None:
    """The experiment's flags from core.config.FLAGS, in argument groups; `task` keeps one task's flags."""
    groups = {name: parser.add_argument_group(f"{name} options") for name in GROUPS}
    for flag in FLAGS:
        if flag.field in skip or flag.field == "model" or (task and flag.tasks and task not in flag.tasks):
            continue
        group = groups[flag.group]
        if flag.kind == "switch":
            group.add_argument(flag.flag, dest=flag.field, action="store_true", default=None, help=flag.help)
        elif flag.kind == "negated":
            group.add_argument(flag.flag, dest=flag.field, action="store_false", default=None, help=flag.help)
        else:
            help_text = flag.help
            if flag.field == "data" and task:  # one task's command names one environment variable
                help_text = f"data source: a folder, a hub id or `bundled` (default ${get_task(task).spec.env_var}" + (
                    " or the hub)" if get_task(task).spec.hub_id else ")"
                )
            group.add_argument(
                flag.flag,
                dest=flag.field,
                type=_arg_type(flag.field),
                choices=CHOICES.get(flag.field),
                default=None,
                metavar=flag.field.upper() if flag.field not in CHOICES else None,
                help=help_text,
            )
    model = groups["model"]
    if task in (None, "notmnist") and "model" not in skip:
        model.add_argument("--model", choices=NOTMNIST_MODELS, help="notmnist: the network (default cnn)")
    if task in (None, "fer"):
        model.add_argument("--arch", choices=FER_ARCHS, help="fer: the backbone (default resnet18)")


def experiment_from_args(args: argparse.Namespace, **overrides: Any) -> Experiment:
    """The Experiment that the parsed flags describe (or --config, a whole experiment as JSON)."""
    if getattr(args, "config", None):
        try:
            values = json.loads(Path(args.config).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise ConfigError(f"cannot read experiment config {args.config}: {exc}") from None
        return Experiment.from_dict(values)
    values = {f.field: getattr(args, f.field) for f in FLAGS if getattr(args, f.field, None) is not None}
    task = overrides.get("task") or args.task
    for name in values:
        flag = FLAG_BY_FIELD[name]
        if flag.tasks and task not in flag.tasks:
            raise ConfigError(f"{flag.flag} is a {'/'.join(flag.tasks)} option; it does not apply to {task}")
    if getattr(args, "model", None) and task != "notmnist":
        raise ConfigError(f"--model is for notmnist; {task} takes --arch")
    if getattr(args, "arch", None):
        if task != "fer":
            raise ConfigError(f"--arch is for fer; {task} takes --model")
        values["model"] = args.arch
    elif getattr(args, "model", None):
        values["model"] = args.model
    return Experiment(**{"task": task, **values, **overrides})


def _run_with_progress(run: Callable[[list], Any], progress_file: str | None, progress_bar: bool = True) -> Any:
    """Run training; a progress file (the app's view of the run) learns how it ended, whatever happens."""
    from .engine.callbacks import Callback, ProgressFile, TensorBoardEvents, TqdmProgress

    progress = ProgressFile(progress_file) if progress_file else None
    callbacks: list[Callback] = ([TqdmProgress()] if progress_bar else []) + ([progress] if progress else [])
    if progress_bar:  # the process that speaks for the run (rank 0 under torchrun) writes its TensorBoard events
        callbacks.append(TensorBoardEvents())

    def cancelled(signum: int, frame: object) -> None:
        raise KeyboardInterrupt("cancelled")

    signal.signal(signal.SIGTERM, cancelled)  # the app cancels runs with SIGTERM
    try:
        return run(callbacks)
    except StudyError as exc:
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


def _result_line(name: str, record: RunRecord) -> str:
    parts = []
    for split in ("validation", "test"):
        m = record.metrics.get(split)
        if m:
            parts.append(f"{split} accuracy {m.accuracy:.4f} [{m.ci_low:.3f}, {m.ci_high:.3f}]")
    test = record.test
    if test and test.unseen and test.unseen.accuracy is not None:
        parts.append(f"unseen in train {test.unseen.accuracy:.4f} (n={test.unseen.n})")
    if test:
        parts.append(f"macro-F1 {test.macro_f1:.4f}")
    return f"{name}: " + ", ".join(parts) + f", {record.training_seconds:.0f}s"


def cmd_train(args: argparse.Namespace) -> int:
    from .engine.distributed import close, init_distributed_mode
    from .engine.loop import run_experiment

    config = experiment_from_args(args)
    out = Path(args.out) if args.out else DEFAULT_OUT / config.task / config.name
    info = init_distributed_mode()  # under torchrun: this process's rank; else one process
    if not info.is_main:
        logging.getLogger("core").setLevel(logging.WARNING)  # rank 0 speaks for the run
    try:
        _, record = _run_with_progress(
            lambda cbs: run_experiment(config, out, cbs, resume=args.resume, overwrite=args.overwrite, dist_info=info),
            args.progress_file if info.is_main else None,
            progress_bar=info.is_main,
        )
    finally:
        close(info)
        if args.progress_file and info.is_main:  # an app job: whatever happened, the next queued job may start
            from .jobs import dispatch

            dispatch(Path(args.progress_file).parent.parent)
    if info.is_main:
        world = f" ({info.world_size} processes, global batch {record.global_batch})" if info.enabled else ""
        print(_result_line(config.name, record) + f" -> {out}{world}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from .study.sweep import RowStatus, default_folder, run_sweep, sweep_command, sweep_rows, torchrun_command

    base = experiment_from_args(args, task="fer", pretrained=False, freeze="none")
    out = Path(args.out) if args.out else DEFAULT_OUT / base.task / default_folder(base)
    if args.launcher == "torchrun" and args.dry_run:
        for name, config in sweep_rows(base, args.rows):
            print(" ".join(torchrun_command(config, out / name, args.nproc_per_node)))
        return 0
    launch = _torchrun_launcher(args.nproc_per_node) if args.launcher == "torchrun" else None
    summary = _run_with_progress(
        lambda cbs: run_sweep(base, out, args.rows, callbacks=lambda name: cbs, launch=launch), None
    )
    print(f"{'row':<8} {'status':<12} {'val acc':>8} {'test acc':>8} {'95% CI':>15} {'study':>6}")
    for row in summary["rows"]:
        val, test = row.get("validation", {}), row.get("test", {})
        ci = f"[{test['ci_low']:.3f}, {test['ci_high']:.3f}]" if test else ""
        study = row["study_test_accuracy"]
        print(
            f"{row['row']:<8} {row['status']:<12} {val.get('accuracy', float('nan')):8.4f} "
            f"{test.get('accuracy', float('nan')):8.4f} {ci:>15} {'' if study is None else f'{study:.3f}':>6}"
        )
    print(f"summary: {out / 'sweep.json'}")
    if any(row["status"] == RowStatus.UNAVAILABLE for row in summary["rows"]):
        print(
            f"rows marked unavailable need ImageNet weights; on a machine with internet run:\n  "
            f"{sweep_command(summary, out)}"
        )
    return 0


def _torchrun_launcher(nproc: int) -> Callable[[str, Experiment, Path], None]:
    """Run one sweep row as `torchrun --nproc_per_node N -m core train ...`, its output passed through."""
    import shutil
    import subprocess

    from .errors import WeightsUnavailable
    from .study.sweep import torchrun_command

    if shutil.which("torchrun") is None:
        raise ConfigError("torchrun is not on PATH (it comes with PyTorch: use the environment's bin/torchrun)")

    def launch(name: str, config: Experiment, folder: Path) -> None:
        command = torchrun_command(config, folder, nproc)
        log.info("[%s] %s", name, " ".join(command))
        proc = subprocess.run(command, stderr=subprocess.PIPE, text=True)
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        if proc.returncode != 0 and errors and "ImageNet weights" in errors[-1]:
            raise WeightsUnavailable(errors[-1].removeprefix("error: "))
        if proc.returncode != 0:
            raise StudyError(f"row {name} failed (torchrun exit {proc.returncode}): {(errors or ['see above'])[-1]}")

    return launch


def cmd_seeds(args: argparse.Namespace) -> int:
    from .study.notmnist_seeds import run_seeds
    from .study.notmnist_summary import collect_runs, comparison_rows

    base = experiment_from_args(args, task="notmnist")
    out = Path(args.out) if args.out else DEFAULT_OUT / "notmnist"
    _run_with_progress(lambda cbs: run_seeds(base, args.seeds, out, args.retrain, callbacks=lambda c: cbs), None)
    print(f"{'model':<5} {'pixels':<9} {'seeds':<8} {'test mean ± std':>17} {'unseen mean ± std':>19} median seed")
    for row in comparison_rows(collect_runs(out)):
        if not row.runs or row.median is None:
            continue
        test = f"{row.test_mean:.4f} ± {row.test_std or 0:.4f}"
        unseen = f"{row.unseen_mean:.4f} ± {row.unseen_std or 0:.4f}" if row.unseen_mean is not None else ""
        print(
            f"{row.model:<5} {row.pixels:<9} {','.join(map(str, row.seeds)):<8} {test:>17} {unseen:>19} "
            f"{row.median.config.seed} -> {row.median.path}"
        )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .data.cache import load_split
    from .data.tasks import batch_transform, get_task
    from .engine.loop import evaluate
    from .inference.modes import inference_mode
    from .runs.checkpoint import load_checkpoint

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
    if args.photos:
        return _evaluate_photos(args, config.task)
    spec = get_task(config.task).spec
    if args.split not in spec.splits:
        raise ConfigError(f"--split {args.split}: {config.task} has the splits {', '.join(spec.splits)}")
    data = args.data or record.data.source or None
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
        _record_unseen(args.checkpoint, record, args.split, metrics)
    if args.record_tta:
        _record_tta(args.checkpoint, record, args.split, args.tta, metrics)
    if args.json:
        print(json.dumps(metrics))
        return 0
    views = "" if args.tta == "none" else f", {args.tta} test-time augmentation"
    print(f"{args.checkpoint} on {split.source} [{args.split}: {split.origin}, n={metrics['n']}{views}]")
    _print_metrics(metrics)
    return 0


def _evaluate_ensemble(args: argparse.Namespace) -> int:
    """Several runs' mean probability on a split, with the metrics of one run."""
    from .data.cache import load_split
    from .data.tasks import get_task
    from .engine.loop import split_metrics
    from .inference.ensemble import check_members, mean_probabilities

    alone = {"--record-unseen": args.record_unseen, "--record-tta": args.record_tta, "--photos": args.photos,
             "--in-frames": args.in_frames}  # fmt: skip
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
    data = args.data or records[0].data.source or None
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


def _train_for_unseen(spec: Any, data: str | None, split: str) -> Any:
    """The train split, for the unseen-in-train figure of another split; None for train itself, or for a source
    without one (which still evaluates)."""
    from .data.cache import load_split

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
    from .data.fer import SPEC
    from .inference.emotions import EmotionDetector
    from .study.photos import photo_evaluation

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
    from .inference.emotions import EmotionDetector
    from .study.in_frames import in_frame_evaluation

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


def _record_unseen(checkpoint: str, record: RunRecord, split: str, metrics: dict[str, Any]) -> None:
    """Add the figures measured after training to a finished run's record of this split: unseen-in-train, and the
    FER+ consensus block where the data has votes (its other metrics stay as trained); refused when this
    evaluation does not reproduce the recorded accuracy."""
    import dataclasses

    from .runs.checkpoint import write_record
    from .runs.record import Unseen

    recorded = record.metrics.get(split)
    if recorded is None or metrics.get("unseen") is None:
        raise ConfigError(f"{checkpoint} has no recorded {split} metrics to add the unseen-in-train figure to")
    if abs(recorded.accuracy - metrics["accuracy"]) * metrics["n"] > 2:  # more than two faces differ: another set
        raise ConfigError(
            f"this evaluation gives {split} accuracy {metrics['accuracy']:.4f}, the record says "
            f"{recorded.accuracy:.4f}: not the data the run was evaluated on, so nothing was written"
        )
    record.metrics[split] = dataclasses.replace(
        recorded, unseen=Unseen(**metrics["unseen"]), ferplus=metrics.get("ferplus") or recorded.ferplus
    )
    write_record(checkpoint, record)
    log.info("recorded the unseen-in-train %s accuracy in %s/meta.json", split, checkpoint)


def _record_tta(checkpoint: str, record: RunRecord, split: str, method: str, metrics: dict[str, Any]) -> None:
    """Add this split's test-time-augmented figures to a finished run's record (its trained metrics stay)."""
    from .runs.checkpoint import write_record

    figures = {k: metrics[k] for k in ("n", "accuracy", "ci_low", "ci_high", "macro_f1", "source")}
    if metrics.get("ferplus"):  # the same views against the ten FER+ annotators
        figures["ferplus"] = {k: v for k, v in metrics["ferplus"].items() if k != "unseen"}
    stored = dict(record.test_time_augmentation or {})
    stored[split] = {**stored.get(split, {}), method: figures}
    record.test_time_augmentation = stored
    write_record(checkpoint, record)
    log.info("recorded the %s %s accuracy in %s/meta.json", method, split, checkpoint)


def _predict_letters(args: argparse.Namespace) -> tuple[list[dict], int]:
    from .inference.letters import LetterClassifier

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
    from .data.images import open_image, to_rgb_array
    from .inference.emotions import EmotionDetector

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
    from .runs.record import read_record

    task = read_record(args.checkpoint).task
    results, failed = (_predict_emotions if task == "fer" else _predict_letters)(args)
    if args.json:
        print(json.dumps({"checkpoint": str(args.checkpoint), "predictions": results}))
    return 1 if failed else 0


def add_mode_flags(group: Any) -> None:
    """Inference's precision and layout: auto measures the fastest forward pass once (cached)."""
    group.add_argument("--precision", choices=PRECISIONS, default="auto", help="auto (default), fp32 or bf16")
    group.add_argument(
        "--memory-format", choices=MEMORY_FORMATS, default="auto", help="auto (default), nchw or channels-last"
    )


def cmd_probe(args: argparse.Namespace) -> int:
    from .engine.probe import training_probe
    from .inference.modes import candidate_modes, probe_file
    from .inference.runtime import device

    config = experiment_from_args(args)
    result = training_probe(config, refresh=args.refresh)
    chosen = result.fastest(candidate_modes(config.precision, config.memory_format, device()))
    if args.json:
        print(json.dumps({**result.to_dict(), "chosen": chosen.name, "file": str(probe_file(result.key))}))
        return 0
    key = result.key
    setting = f"{key['arch']} {key['img_size']} px, freeze {key['freeze']}, batch {key['batch_size']}"
    print(f"{setting} on {key['processor']}")
    print(f"(timed with batches of {result.batch}, {result.seconds:.1f} s, {result.measured})")
    for name, rate in sorted(result.images_per_s.items(), key=lambda kv: -kv[1]):
        evaluation = result.eval_images_per_s.get(name)
        mark = "  <- chosen" if name == chosen.name else ""
        timed = f"{evaluation:8.1f} img/s" if evaluation else "       (not timed)"
        print(f"  {name:<22} train {rate:8.1f} img/s   evaluate {timed}{mark}")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from .data.cache import load_split
    from .data.tasks import batch_transform, get_task
    from .inference.modes import inference_mode
    from .runs.checkpoint import load_checkpoint, write_record
    from .study.calibrate import describe, fit, split_logits

    model, record = load_checkpoint(args.checkpoint)
    if record.task != "fer":
        raise ConfigError(f"{args.checkpoint} is a {record.task} model; calibration is for emotion (fer) models")
    spec = get_task("fer").spec
    data = args.data or record.data.source or None
    splits = {name: load_split(spec, data, name) for name in ("train", "validation", "test")}
    mode, _ = inference_mode(model, record.config, 256)
    transform = batch_transform(record.config)
    held_out = ("validation", "test")
    votes = None
    if record.config.labels != "fer2013":  # calibrated against the people it learned from: the FER+ votes
        from .data.ferplus import relabel

        splits = {name: relabel(split, "ferplus-votes") for name, split in splits.items()}
        votes = {name: splits[name].votes for name in held_out}
    logits = {name: split_logits(model, splits[name], transform, mode) for name in held_out}
    labels = {name: splits[name].labels for name in held_out}
    calibration, report = fit(logits, labels, splits["train"].labels, list(record.classes), votes)  # type: ignore[arg-type]
    if not args.no_write:
        record.calibration = {**calibration.to_dict(), "fitted_on": "validation", "source": splits["test"].source,
                              "report": report}  # fmt: skip
        write_record(args.checkpoint, record)
        log.info("wrote the calibration into %s/meta.json", args.checkpoint)
    if args.json:
        print(json.dumps({"calibration": calibration.to_dict(), "report": report}))
        return 0
    flip = "on" if calibration.flip else "off"
    below = "people would disagree" if calibration.disagreement else "unsure"
    print(f"flip averaging {flip}, tau {calibration.tau:.2f}, temperature {calibration.temperature:.3f}, "
          f"{below} below {calibration.threshold:.2f} (fitted on validation)")  # fmt: skip
    print(describe(report, list(record.classes)))
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from .data.cache import load_split
    from .data.tasks import get_task
    from .runs.checkpoint import write_record
    from .runs.record import read_record
    from .study.explanations import class_maps, explain_files, split_figures

    for flag, value in (("--faithfulness", args.faithfulness), ("--by-class", args.by_class)):
        if value is not None and value < 1:
            raise ConfigError(f"{flag} must be at least 1 image")
    if not args.images and not args.faithfulness and not args.by_class:
        raise ConfigError("give image files to explain, or --faithfulness N or --by-class N (or both)")
    record = read_record(args.checkpoint)
    if args.by_class and record.task != "fer":
        raise ConfigError(f"--by-class is for emotion (fer) models; {args.checkpoint} is a {record.task} model")
    if args.record and not (args.faithfulness or args.by_class):
        raise ConfigError("--record stores the figures of --faithfulness N or --by-class N; give one of them")
    output: dict[str, Any] = {"checkpoint": str(args.checkpoint), "method": args.method}
    results, errors = explain_files(args.checkpoint, args.images, args.method, args.target, Path(args.out))
    output["images"] = results
    for line in errors:
        log.error("error: %s", line)
    split = None
    if args.faithfulness or args.by_class:
        split = load_split(get_task(record.task).spec, args.data or record.data.source or None, "test")
    if args.faithfulness and split is not None:
        output.update(split_figures(args.checkpoint, split, args.faithfulness, args.method))
    if args.by_class and split is not None:
        from tqdm import tqdm

        with tqdm(total=min(args.by_class, len(split)), desc=f"maps by class ({args.method})", unit="face",
                  leave=False, disable=args.json or None) as bar:  # fmt: skip
            output["by_class"] = class_maps(args.checkpoint, split, args.by_class, args.method,
                                            progress=lambda done, _: bar.update(done - bar.n))  # fmt: skip
    if args.record:
        stored = dict(record.explanations or {})
        if args.faithfulness:
            figures = {k: v for k, v in output.items() if k not in ("images", "by_class", "checkpoint")}
            stored["split"] = {**stored.get("split", {}), args.method: {**figures, "source": split and split.source}}
        if args.by_class:
            block = {k: v for k, v in output["by_class"].items() if k != "checkpoint"}
            stored["by_class"] = {**stored.get("by_class", {}), args.method: block}
        record.explanations = stored
        write_record(args.checkpoint, record)
        log.info("wrote the figures into %s/meta.json", args.checkpoint)
    if args.json:
        print(json.dumps(output))
        return 1 if errors else 0
    for item in results:
        for face in item["explained"]:
            where = f" face at {face['box']}" if face["box"] else ""
            print(f"{item['file']}{where}: {face['label']} (explaining {face['target']}) -> {face['overlay']}")
    if args.faithfulness:
        m = output["morans_i"]
        drops = f"by {output['deletion_drop']:.3f}, 10 % random pixels by {output['random_drop']:.3f}"
        print(
            f"over {output['n']} test images ({args.method}): deleting the 10 % most-attributed pixels lowers "
            f"the true class {drops}; Moran's I {m['mean']:.3f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}]"
        )
        if "ink_share" in output:
            ink = output["ink_share"]
            print(f"share of relevance on the ink {ink['mean']:.3f} [{ink['ci_low']:.3f}, {ink['ci_high']:.3f}]")
    if args.by_class:
        block = output["by_class"]
        area = block["area"]
        print(f"share of relevance ({args.method}, {block['n']} test faces; a flat map: eyes {area['eyes']:.0%}, "
              f"mouth {area['mouth']:.0%})")  # fmt: skip
        for name, row in block["classes"].items():
            print(f"  {name:<10} eyes {row['eyes']['mean']:.1%}  mouth {row['mouth']['mean']:.1%}  ({row['n']} faces)")
    return 1 if errors else 0


def cmd_framed_faces(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .data.cache import load_split
    from .study.in_frames import write_framed_source

    if args.limit is not None and args.limit < 1:  # head(0) or head(-5) would frame (almost) every face
        raise ConfigError(f"--limit {args.limit}: must be at least 1 face (leave it out for all)")
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty; give a new folder for the framed data source")
    spec = get_task("fer").spec
    splits = {name: load_split(spec, args.data, name) for name in ("train", "validation", "test")}
    if args.limit is not None:
        splits = {name: split.head(args.limit) for name, split in splits.items()}
    with tqdm(total=len(splits["train"]), desc="framing the training faces", unit="face", leave=False) as bar:
        summary = write_framed_source(splits, out, args.seed, lambda done, _: bar.update(done - bar.n))
    print(f"wrote {out}: {summary['framed']:,} framed training faces beside the originals "
          f"({summary['missed']:,} not found by the cascade); train on it with --data {out}")  # fmt: skip
    return 0


def cmd_card(args: argparse.Namespace) -> int:
    from .runs.record import read_record
    from .study.model_card import hub_card, model_card

    record = read_record(args.checkpoint)
    print(model_card(record) if args.plain else hub_card(record), end="")
    return 0


def cmd_tensorboard(args: argparse.Namespace) -> int:
    from .runs.index import run_folders
    from .runs.record import read_record
    from .runs.tensorboard import EVENTS_DIR, write_run

    roots = [Path(r) for r in (args.roots or [DEFAULT_OUT])]
    for root in roots:
        if not root.is_dir():
            raise ConfigError(f"{root} is not a folder of runs")
    written = 0
    for root in roots:
        for folder in run_folders(root):
            target = (Path(args.logdir) / root.name / folder.relative_to(root)) if args.logdir else folder / EVENTS_DIR
            if target.exists() and not args.logdir and not args.overwrite:
                continue  # a run that wrote its own events as it trained
            try:
                write_run(read_record(folder), target)
            except StudyError as exc:  # a damaged run is named and skipped; the others are written
                log.warning("skipped %s: %s", folder, exc)
                continue
            written += 1
    where = args.logdir or " ".join(str(r) for r in roots)
    print(f"wrote the TensorBoard events of {written} run{'s' if written != 1 else ''}; tensorboard --logdir {where}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .study.report import update_readme

    root = Path(__file__).resolve().parent.parent
    if not args.check and not args.no_figures:
        from .study.figures import FIGURES_DIR, FiguresUnavailable, write_figures

        try:
            for path in write_figures(root / "checkpoints", root / FIGURES_DIR):
                print(f"wrote {path.relative_to(root)}")
        except FiguresUnavailable as exc:
            log.warning("warning: %s; the tables are still updated", exc)
    current = update_readme(root / "README.md", root / "checkpoints", check=args.check)
    if args.check and not current:
        log.error("README.md results are out of date: run `python -m core report`")
        return 1
    print("README.md results are up to date" if current else "README.md results rewritten")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .study.sweep import ROWS as SWEEP_ROWS

    parser = argparse.ArgumentParser(prog="python -m core", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = sub.add_parser("train", help="train a model and save a checkpoint directory")
    train.add_argument("task", choices=["notmnist", "fer"], help="notmnist letters or fer emotions")
    add_experiment_flags(train, None)
    run = train.add_argument_group("run options")
    run.add_argument("--out", help="output directory (default checkpoints/TASK/RUN-NAME)")
    run.add_argument("--resume", action="store_true", help="continue from the last completed epoch in --out")
    run.add_argument(
        "--overwrite", action="store_true", help="replace a finished run in --out (kept until the new one is done)"
    )
    run.add_argument("--config", help="the whole experiment as a JSON file (replaces the experiment flags)")
    run.add_argument("--progress-file", help="write live progress as JSON here (the app's background jobs)")
    train.set_defaults(func=cmd_train)

    sweep = sub.add_parser("sweep", help="fer: scratch + pretrained at every freeze depth, into one folder")
    sweep.add_argument("task", choices=["fer"], help="the sweep is a fer study")
    add_experiment_flags(sweep, "fer", skip=("pretrained", "freeze"))
    sweep_options = sweep.add_argument_group("sweep options")
    sweep_options.add_argument(
        "--rows",
        nargs="+",
        choices=[row[0] for row in SWEEP_ROWS],
        help="only these rows, in this order (default: all six)",
    )
    sweep_options.add_argument("--out", help="sweep folder (default checkpoints/fer/sweep-ARCH-SIZEpx-EPOCHSep)")
    sweep_options.add_argument(
        "--launcher", choices=["none", "torchrun"], default="none",
        help="none: every row in this process (default); torchrun: each row data-parallel through torchrun",
    )  # fmt: skip
    sweep_options.add_argument(
        "--nproc-per-node", type=int, default=2, help="with --launcher torchrun: processes per row (default 2)"
    )
    sweep_options.add_argument("--dry-run", action="store_true", help="with --launcher torchrun: print the commands")
    sweep.set_defaults(func=cmd_sweep)

    seeds = sub.add_parser("seeds", help="notmnist: CNN / MLP x original / permuted, each with several seeds")
    seeds.add_argument("task", choices=["notmnist"], help="the seeds study is a notmnist study")
    add_experiment_flags(seeds, "notmnist", skip=("model", "permute", "seed"))
    seeds_options = seeds.add_argument_group("seeds options")
    seeds_options.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default 0 1 2)")
    seeds_options.add_argument(
        "--retrain", action="store_true", help="train finished runs again instead of skipping them"
    )
    seeds_options.add_argument("--out", help="results folder (default checkpoints/notmnist)")
    seeds.set_defaults(func=cmd_seeds)

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

    probe = sub.add_parser("probe", help="time every precision and memory layout of a training setting (cached)")
    probe.add_argument("task", choices=["notmnist", "fer"], help="notmnist letters or fer emotions")
    add_experiment_flags(probe, None)
    probe_options = probe.add_argument_group("probe options")
    probe_options.add_argument("--refresh", action="store_true", help="measure again even when a result is cached")
    probe_options.add_argument("--json", action="store_true", help="print one JSON object")
    probe.set_defaults(func=cmd_probe)

    cal = sub.add_parser("calibrate", help="fer: fit prior adjustment, temperature and flip averaging on validation")
    cal.add_argument("checkpoint", help="a FER run folder (with meta.json and weights)")
    cal_options = cal.add_argument_group("calibration options")
    cal_options.add_argument("--data", help="data source (default: the one the checkpoint was trained on)")
    cal_options.add_argument("--no-write", action="store_true", help="only report; leave meta.json as it is")
    cal_options.add_argument("--json", action="store_true", help="print one JSON object")
    cal.set_defaults(func=cmd_calibrate)

    ex = sub.add_parser("explain", help="attribution maps: what a model relies on, per image (and per face)")
    ex.add_argument("checkpoint", help="a run folder (with meta.json and weights)")
    ex.add_argument("images", nargs="*", help="image files; every face is explained for emotion models")
    ex_options = ex.add_argument_group("explanation options")
    ex_options.add_argument("--method", choices=EXPLAIN_METHODS, default="integrated-gradients",
                            help="attribution method (Captum; default integrated-gradients)")  # fmt: skip
    ex_options.add_argument("--target", help="explain this class (default: the predicted one)")
    ex_options.add_argument("--out", default="explanations", help="folder for the overlay PNGs (default explanations)")
    ex_options.add_argument(
        "--faithfulness", type=int, metavar="N",
        help="also over the first N test images: deletion_drop (10 %% most-attributed pixels deleted) against "
        "random_drop, Moran's I and the share on the ink",
    )  # fmt: skip
    ex_options.add_argument(
        "--by-class", type=int, metavar="N",
        help="emotion models: over the first N test faces, the mean map per emotion and its share in the eyes "
        "and the mouth (use --method gradcam for the last stage)",
    )  # fmt: skip
    ex_options.add_argument("--record", action="store_true",
                            help="store the --faithfulness / --by-class figures in the run's meta.json "
                            "(the README and the app show them)")  # fmt: skip
    ex_options.add_argument("--data", help="data source for --faithfulness / --by-class (default: the checkpoint's)")
    ex_options.add_argument("--json", action="store_true", help="print one JSON object")
    ex.set_defaults(func=cmd_explain)

    fr = sub.add_parser(
        "framed-faces", help="a FER data source whose training faces also come as the webcam frames them"
    )
    fr.add_argument("--data", help="the FER-2013 source to read (default: $FER_DATA)")
    fr.add_argument("--out", required=True, help="a new folder for the data source (parquet)")
    fr.add_argument("--seed", type=int, default=0, help="where and how large each face is pasted (default 0)")
    fr.add_argument("--limit", type=int, help="only the first N faces of each split (quick checks)")
    fr.set_defaults(func=cmd_framed_faces)

    card = sub.add_parser("card", help="a run's model card as a Hugging Face Hub README (YAML block, then Markdown)")
    card.add_argument("checkpoint", help="a run folder (with meta.json)")
    card.add_argument("--plain", action="store_true",
                      help="the Markdown card alone, without the YAML block the Hugging Face Hub reads")  # fmt: skip
    card.set_defaults(func=cmd_card)

    board = sub.add_parser("tensorboard", help="TensorBoard event files for finished runs, from their meta.json")
    board.add_argument("roots", nargs="*", help="folders of runs (default checkpoints)")
    board.add_argument("--logdir", help="write them all under this folder instead of into each run's tensorboard/")
    board.add_argument("--overwrite", action="store_true", help="rewrite the events a run already has")
    board.set_defaults(func=cmd_tensorboard)

    rep = sub.add_parser("report", help="regenerate README.md's results tables from checkpoints/*/meta.json")
    rep_options = rep.add_argument_group("report options")
    rep_options.add_argument("--check", action="store_true", help="only check; exit 1 when README.md is out of date")
    rep_options.add_argument("--no-figures", action="store_true", help="only the tables, not the PNG figures")
    rep.set_defaults(func=cmd_report)
    return parser


def configure_logging() -> None:
    """The library's notices as plain lines on stderr; other packages' only from WARNING up. The hub reader's
    note that a local dataset README has no model-card block is noise for every local source."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    logging.getLogger("core").setLevel(logging.INFO)
    logging.getLogger("huggingface_hub.repocard").setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except StudyError as exc:  # the user's mistake: one line; anything else is a bug and keeps its traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
