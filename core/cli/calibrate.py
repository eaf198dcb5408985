"""`python -m core calibrate RUN`: prior adjustment, temperature, flip averaging and the unsure threshold."""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

from ..errors import ConfigError

log = logging.getLogger(__name__)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from ..data.cache import load_split
    from ..data.tasks import batch_transform, get_task
    from ..inference.modes import inference_mode
    from ..runs.amend import record_calibration
    from ..runs.checkpoint import load_checkpoint
    from ..runs.data_source import run_data_source
    from ..study.calibrate import describe, fit, split_logits

    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit {args.limit}: must be at least 1 face (leave it out for all)")
    model, record = load_checkpoint(args.checkpoint)
    if record.task != "fer":
        raise ConfigError(f"{args.checkpoint} is a {record.task} model; calibration is for emotion (fer) models")
    spec = get_task("fer").spec
    data = run_data_source(record, args.data)
    splits = {name: load_split(spec, data, name) for name in ("train", "validation", "test")}
    # (the train split gives the class priors from all its labels; --limit shortens the splits the model reads)
    splits.update({name: splits[name].head(args.limit) for name in ("validation", "test")})
    mode, _ = inference_mode(model, record.config, 256)
    transform = batch_transform(record.config)
    held_out = ("validation", "test")
    votes = None
    if record.config.labels != "fer2013":  # calibrated against the people it learned from: the FER+ votes
        from ..data.ferplus import relabel

        splits = {name: relabel(split, "ferplus-votes") for name, split in splits.items()}
        votes = {name: splits[name].votes for name in held_out}
    logits = {name: split_logits(model, splits[name], transform, mode) for name in held_out}
    labels = {name: splits[name].labels for name in held_out}
    calibration, report = fit(logits, labels, splits["train"].labels, list(record.classes), votes)  # type: ignore[arg-type]
    if not args.no_write:
        record_calibration(args.checkpoint, record, calibration.to_dict(), splits["test"].source, report)
    if args.json:
        print(json.dumps({"calibration": calibration.to_dict(), "report": report}))
        return 0
    flip = "on" if calibration.flip else "off"
    below = "people would disagree" if calibration.disagreement else "unsure"
    print(f"flip averaging {flip}, tau {calibration.tau:.2f}, temperature {calibration.temperature:.3f}, "
          f"{below} below {calibration.threshold:.2f} (fitted on validation)")  # fmt: skip
    print(describe(report, list(record.classes)))
    return 0


def register(sub: Any) -> None:
    cal = sub.add_parser("calibrate", help="fer: fit prior adjustment, temperature and flip averaging on validation")
    cal.add_argument("checkpoint", help="a FER run folder (with meta.json and weights)")
    cal_options = cal.add_argument_group("calibration options")
    cal_options.add_argument("--data", help="data source (default: the one the checkpoint was trained on)")
    cal_options.add_argument("--no-write", action="store_true", help="only report; leave meta.json as it is")
    cal_options.add_argument("--limit", type=int, metavar="N",
                             help="only the first N faces of validation and test (quick checks)")  # fmt: skip
    cal_options.add_argument("--json", action="store_true", help="print one JSON object")
    cal.set_defaults(func=cmd_calibrate)
