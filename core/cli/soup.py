"""`python -m core soup RUN RUN [...] --out DIR`: one run's weights from the mean of several (a weight soup)."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..config import SOUP_METHODS
from ..errors import ConfigError


def cmd_soup(args: argparse.Namespace) -> int:
    from ..engine.loop import load_data
    from ..engine.soup import check_soup, make_soup
    from ..runs.data_source import run_data_source
    from ..runs.record import describe_consensus
    from .train import result_line

    out = Path(args.out)
    if (out / "meta.json").exists():
        raise ConfigError(f"--out {out} already holds a run; choose a new folder (nothing was written)")
    first = check_soup(args.checkpoints, args.method)[0]
    # every split whole (a member's train or test limit is not the soup's), from the data the first run names
    data = run_data_source(first, args.data)
    splits = load_data(replace(first.config, data=data, train_limit=None, test_limit=None))
    _, record = make_soup(args.checkpoints, splits, args.method, out)
    if args.json:
        print(json.dumps({"out": str(out), "soup": record.soup, "metrics": record.to_dict()["metrics"]}))
        return 0
    assert record.soup is not None
    print(f"{args.method} soup of {len(record.soup['kept'])} of {len(args.checkpoints)} runs: "
          + ", ".join(Path(k).name for k in record.soup["kept"]))  # fmt: skip
    print(result_line(out.name, record) + f" -> {out}")
    for split in ("validation", "test"):
        metrics = record.metrics.get(split)
        if metrics is not None and metrics.ferplus:
            print(f"{split}, FER+ votes: {describe_consensus(metrics.ferplus)}")
    return 0


def register(sub: Any) -> None:
    soup = sub.add_parser("soup", help="average the weights of runs fine-tuned from one start (a weight soup)")
    soup.add_argument("checkpoints", nargs="+", metavar="RUN", help="run folders of one network (two or more)")
    soup.add_argument("--out", required=True, help="the new run's folder")
    soup.add_argument("--method", choices=SOUP_METHODS, default="greedy",
                      help="greedy (default): runs in order of validation score, each kept only if the soup's "
                           "validation score does not fall; uniform: all of them")  # fmt: skip
    soup.add_argument("--data", help="data source (default: the one the first run was trained on)")
    soup.add_argument("--json", action="store_true", help="print one JSON object")
    soup.set_defaults(func=cmd_soup)
