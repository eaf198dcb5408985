"""Command line: `python -m core train|sweep|seeds|soup|evaluate|calibrate|predict|explain|framed-faces|probe|card|
tensorboard|report`.

One module per command, each registering its arguments beside its handler; every experiment flag comes from
core.config.FLAGS (core.cli.flags). A user's mistake (a bad flag value, file or source) is one line on stderr and
exit code 2; a file that failed among several is exit code 1; a bug keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys

from ..errors import StudyError
from . import (
    calibrate,
    card,
    evaluate,
    explain,
    framed_faces,
    predict,
    probe,
    report,
    seeds,
    soup,
    sweep,
    tensorboard,
    train,
)
from .flags import add_experiment_flags, add_mode_flags, experiment_from_args

__all__ = ["add_experiment_flags", "add_mode_flags", "build_parser", "experiment_from_args", "main"]

# In the order `--help` lists them.
COMMANDS = (
    train,
    sweep,
    seeds,
    soup,
    evaluate,
    predict,
    probe,
    calibrate,
    explain,
    framed_faces,
    card,
    tensorboard,
    report,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description=(__doc__ or "").split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
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
