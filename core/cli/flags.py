"""The experiment's flags on the command line (from core.config.FLAGS) and the Experiment they describe."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..config import (
    CHOICES,
    FER_ARCHS,
    FLAG_BY_FIELD,
    FLAGS,
    MEMORY_FORMATS,
    NOTMNIST_MODELS,
    PRECISIONS,
    Experiment,
    field_type,
)
from ..data.tasks import get_task
from ..errors import ConfigError

DEFAULT_OUT = Path("checkpoints")
GROUPS = {"model": "model", "training": "training", "data": "data"}


def add_experiment_flags(parser: argparse.ArgumentParser, task: str | None, skip: tuple[str, ...] = ()) -> None:
    """The experiment's flags from core.config.FLAGS, in argument groups; `task` keeps one task's flags."""
    groups = {name: parser.add_argument_group(f"{name} options") for name in GROUPS}
    for flag in FLAGS:
        if flag.field in skip or flag.field == "model" or (task and flag.tasks and task not in flag.tasks):
            continue
        group = groups[flag.group]
        if flag.kind == "switch":
            group.add_argument(flag.flag, dest=flag.field, action="store_true", default=None, help=flag.help)
        elif flag.kind == "negated":
            group.add_argument(flag.flag, dest=flag.field, action="store_false", default=None, help=flag.help)
        else:
            help_text = flag.help
            if flag.field == "data" and task:  # one task's command names one environment variable
                help_text = f"data source: a folder, a hub id or `bundled` (default ${get_task(task).spec.env_var}" + (
                    " or the hub)" if get_task(task).spec.hub_id else ")"
                )
            group.add_argument(
                flag.flag,
                dest=flag.field,
                type=field_type(flag.field),
                choices=CHOICES.get(flag.field),
                default=None,
                metavar=flag.field.upper() if flag.field not in CHOICES else None,
                help=help_text,
            )
    model = groups["model"]
    if task in (None, "notmnist") and "model" not in skip:
        model.add_argument("--model", choices=NOTMNIST_MODELS, help="notmnist: the network (default cnn)")
    if task in (None, "fer"):
        model.add_argument("--arch", choices=FER_ARCHS, help="fer: the backbone (default resnet18)")


def experiment_from_args(args: argparse.Namespace, **overrides: Any) -> Experiment:
    """The Experiment that the parsed flags describe (or --config, a whole experiment as JSON)."""
    if getattr(args, "config", None):
        try:
            values = json.loads(Path(args.config).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise ConfigError(f"cannot read experiment config {args.config}: {exc}") from None
        return Experiment.from_dict(values)
    values = {f.field: getattr(args, f.field) for f in FLAGS if getattr(args, f.field, None) is not None}
    task = overrides.get("task") or args.task
    for name in values:
        flag = FLAG_BY_FIELD[name]
        if flag.tasks and task not in flag.tasks:
            raise ConfigError(f"{flag.flag} is a {'/'.join(flag.tasks)} option; it does not apply to {task}")
    if getattr(args, "model", None) and task != "notmnist":
        raise ConfigError(f"--model is for notmnist; {task} takes --arch")
    if getattr(args, "arch", None):
        if task != "fer":
            raise ConfigError(f"--arch is for fer; {task} takes --model")
        values["model"] = args.arch
    elif getattr(args, "model", None):
        values["model"] = args.model
    return Experiment(**{"task": task, **values, **overrides})


def add_mode_flags(group: Any) -> None:
    """Inference's precision and layout: auto measures the fastest forward pass once (cached)."""
    group.add_argument("--precision", choices=PRECISIONS, default="auto", help="auto (default), fp32 or bf16")
    group.add_argument(
        "--memory-format", choices=MEMORY_FORMATS, default="auto", help="auto (default), nchw or channels-last"
    )
