"""`python -m core report`: README.md's results tables and figures, from checkpoints/*/meta.json."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def cmd_report(args: argparse.Namespace) -> int:
    from ..study.report import update_readme

    root = Path(__file__).resolve().parents[2]  # the project folder
    if not args.check and not args.no_figures:
        from ..study.figures import FIGURES_DIR, FiguresUnavailable, write_figures

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


def register(sub: Any) -> None:
    rep = sub.add_parser("report", help="regenerate README.md's results tables from checkpoints/*/meta.json")
    rep_options = rep.add_argument_group("report options")
    rep_options.add_argument("--check", action="store_true", help="only check; exit 1 when README.md is out of date")
    rep_options.add_argument("--no-figures", action="store_true", help="only the tables, not the PNG figures")
    rep.set_defaults(func=cmd_report)
