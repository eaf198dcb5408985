"""`python -m core seeds notmnist`: CNN / MLP x original / permuted pixels, each with several seeds."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .flags import DEFAULT_OUT, add_experiment_flags, experiment_from_args
from .progress import run_with_progress


def cmd_seeds(args: argparse.Namespace) -> int:
    from ..study.notmnist_seeds import run_seeds
    from ..study.notmnist_summary import collect_runs, comparison_rows

    base = experiment_from_args(args, task="notmnist")
    out = Path(args.out) if args.out else DEFAULT_OUT / "notmnist"
    run_with_progress(lambda cbs: run_seeds(base, args.seeds, out, args.retrain, callbacks=lambda c: cbs), None)
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


def register(sub: Any) -> None:
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
