"""`python -m core probe TASK`: time every precision and memory layout of a training setting (cached)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .flags import add_experiment_flags, experiment_from_args


def cmd_probe(args: argparse.Namespace) -> int:
    from ..engine.probe import training_probe
    from ..inference.modes import candidate_modes, probe_file
    from ..inference.runtime import device

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


def register(sub: Any) -> None:
    probe = sub.add_parser("probe", help="time every precision and memory layout of a training setting (cached)")
    probe.add_argument("task", choices=["notmnist", "fer"], help="notmnist letters or fer emotions")
    add_experiment_flags(probe, None)
    probe_options = probe.add_argument_group("probe options")
    probe_options.add_argument("--refresh", action="store_true", help="measure again even when a result is cached")
    probe_options.add_argument("--json", action="store_true", help="print one JSON object")
    probe.set_defaults(func=cmd_probe)
