"""`python -m core train TASK`: one run, into a checkpoint folder."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from ..runs.record import RunRecord
from .flags import DEFAULT_OUT, add_experiment_flags, experiment_from_args
from .progress import run_with_progress


def result_line(name: str, record: RunRecord) -> str:
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
    from ..engine.distributed import close, init_distributed_mode
    from ..engine.loop import run_experiment

    config = experiment_from_args(args)
    out = Path(args.out) if args.out else DEFAULT_OUT / config.task / config.name
    info = init_distributed_mode()  # under torchrun: this process's rank; else one process
    if not info.is_main:
        logging.getLogger("core").setLevel(logging.WARNING)  # rank 0 speaks for the run
    try:
        _, record = run_with_progress(
            lambda cbs: run_experiment(config, out, cbs, resume=args.resume, overwrite=args.overwrite, dist_info=info),
            args.progress_file if info.is_main else None,
            progress_bar=info.is_main,
        )
    finally:
        close(info)
        if args.progress_file and info.is_main:  # an app job: whatever happened, the next queued job may start
            from ..jobs import job_ended

            job_ended(args.progress_file)
    if info.is_main:
        world = f" ({info.world_size} processes, global batch {record.global_batch})" if info.enabled else ""
        print(result_line(config.name, record) + f" -> {out}{world}")
    return 0


def register(sub: Any) -> None:
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
