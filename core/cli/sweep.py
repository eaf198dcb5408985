"""`python -m core sweep fer`: scratch and pretrained at every freeze depth, into one folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .flags import DEFAULT_OUT, add_experiment_flags, experiment_from_args
from .progress import run_with_progress


def cmd_sweep(args: argparse.Namespace) -> int:
    from ..study.sweep import (
        RowStatus,
        default_folder,
        run_sweep,
        sweep_command,
        sweep_rows,
        torchrun_command,
        torchrun_launcher,
    )

    base = experiment_from_args(args, task="fer", pretrained=False, freeze="none")
    out = Path(args.out) if args.out else DEFAULT_OUT / base.task / default_folder(base)
    if args.launcher == "torchrun" and args.dry_run:
        for name, config in sweep_rows(base, args.rows):
            print(" ".join(torchrun_command(config, out / name, args.nproc_per_node)))
        return 0
    launch = torchrun_launcher(args.nproc_per_node) if args.launcher == "torchrun" else None
    summary = run_with_progress(
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


def register(sub: Any) -> None:
    from ..study.sweep import ROWS as SWEEP_ROWS

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
