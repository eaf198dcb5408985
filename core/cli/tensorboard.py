"""`python -m core tensorboard [ROOTS]`: TensorBoard events for finished runs, from their meta.json."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from ..errors import ConfigError, StudyError
from .flags import DEFAULT_OUT

log = logging.getLogger(__name__)


def cmd_tensorboard(args: argparse.Namespace) -> int:
    from ..runs.index import run_folders
    from ..runs.record import read_record
    from ..runs.tensorboard import EVENTS_DIR, write_run

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


def register(sub: Any) -> None:
    board = sub.add_parser("tensorboard", help="TensorBoard event files for finished runs, from their meta.json")
    board.add_argument("roots", nargs="*", help="folders of runs (default checkpoints)")
    board.add_argument("--logdir", help="write them all under this folder instead of into each run's tensorboard/")
    board.add_argument("--overwrite", action="store_true", help="rewrite the events a run already has")
    board.set_defaults(func=cmd_tensorboard)
