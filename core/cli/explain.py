"""`python -m core explain RUN [IMAGE...]`: attribution maps, their faithfulness and where they fall on a face."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from ..config import EXPLAIN_METHODS
from ..errors import ConfigError

log = logging.getLogger(__name__)


def cmd_explain(args: argparse.Namespace) -> int:
    from ..data.cache import load_split
    from ..data.tasks import get_task
    from ..runs.amend import record_explanations
    from ..runs.data_source import run_data_source
    from ..runs.record import read_record
    from ..study.explanations import class_maps, explain_files, split_figures

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
        split = load_split(get_task(record.task).spec, run_data_source(record, args.data), "test")
    if args.faithfulness and split is not None:
        output.update(split_figures(args.checkpoint, split, args.faithfulness, args.method))
    if args.by_class and split is not None:
        from tqdm import tqdm

        with tqdm(total=min(args.by_class, len(split)), desc=f"maps by class ({args.method})", unit="face",
                  leave=False, disable=args.json or None) as bar:  # fmt: skip
            output["by_class"] = class_maps(args.checkpoint, split, args.by_class, args.method,
                                            progress=lambda done, _: bar.update(done - bar.n))  # fmt: skip
    if args.record:
        figures = {k: v for k, v in output.items() if k not in ("images", "by_class", "checkpoint")}
        by_class = {k: v for k, v in output.get("by_class", {}).items() if k != "checkpoint"}
        record_explanations(args.checkpoint, record, args.method,
                            {**figures, "source": split and split.source} if args.faithfulness else None,
                            by_class if args.by_class else None)  # fmt: skip
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


def register(sub: Any) -> None:
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
