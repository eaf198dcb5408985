"""A weight soup (Wortsman et al., ICML 2022, "Model soups", arXiv:2203.05482): the mean of the weights of runs
fine-tuned from one starting point, one network that costs what one run costs to serve (an ensemble of the same
runs costs each of them). Runs from one start stay in one basin of the loss, so their mean is a model too.

The first run named is the soup's reference: its labels give the validation score the soup is chosen on, and
its record (recipe, preprocessing) is the soup's, with the soup's figures and its members added.
`greedy` is the paper's greedy soup: the runs in order of their own validation score, each added only if the
soup's validation score does not fall; `uniform` averages them all. The soup is evaluated like a finished run
(every held-out split) and saved as one: weights plus a record that names its members.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..config import SOUP_METHODS
from ..data.sources import ImageSplit
from ..data.tasks import batch_transform, get_task
from ..errors import ConfigError
from ..inference.ensemble import check_members
from ..inference.modes import inference_mode
from ..runs.checkpoint import load_checkpoint, save_checkpoint
from ..runs.files import git_commit
from ..runs.record import RunRecord
from .loop import checked_metrics, data_info, evaluate, held_out_metrics, selection_score

log = logging.getLogger(__name__)

METHODS = SOUP_METHODS


def average_weights(states: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The element-wise mean of state dicts of one network; counters (integer buffers) are the first's."""
    first = states[0]
    for state in states[1:]:
        if state.keys() != first.keys() or any(state[k].shape != first[k].shape for k in first):
            raise ConfigError("these runs are different networks (their weights' names or shapes differ): "
                              "only runs of one architecture and input can be averaged")  # fmt: skip
    return {
        k: torch.stack([s[k].float() for s in states]).mean(0).to(v.dtype) if v.is_floating_point() else v.clone()
        for k, v in first.items()
    }


def _members(folders: Sequence[str | Path]) -> list[RunRecord]:
    if len(folders) < 2:
        raise ConfigError("a soup needs at least two runs")
    if len({str(Path(f).resolve()) for f in folders}) < len(folders):
        raise ConfigError("a run is named twice: each member of a soup is one run")
    records = check_members(folders)
    first = records[0].config
    for folder, record in zip(folders, records):
        if (record.config.model, record.config.img_size) != (first.model, first.img_size):
            raise ConfigError(f"{folder} is a {record.config.model} at {record.config.img_size} px; the first run is "
                              f"a {first.model} at {first.img_size} px: only one network can be averaged")  # fmt: skip
        if record.config.eval_crop != first.eval_crop:
            raise ConfigError(f"{folder} sees {record.config.eval_crop:g} of each face (--eval-crop); the first run "
                              f"sees {first.eval_crop:g}: a soup is scored and served with one view")  # fmt: skip
    return records


class _Scorer:
    """The soup's validation score (the accuracy its runs select epochs on), one evaluation per candidate."""

    def __init__(self, model: nn.Module, record: RunRecord, validation: ImageSplit) -> None:
        self.model, self.record, self.validation = model, record, validation
        self.transform = batch_transform(record.config)
        self.mode, _ = inference_mode(model, record.config, 256)

    def __call__(self, state: dict[str, torch.Tensor]) -> float:
        self.model.load_state_dict(state)
        return selection_score(self.record.config, evaluate(self.model, self.validation, self.transform, self.mode))


def _greedy(
    states: list[dict[str, torch.Tensor]], scores: list[float], score: Callable[[dict[str, torch.Tensor]], float]
) -> tuple[list[int], list[dict[str, Any]]]:
    """Wortsman et al.'s recipe 1: best run first, each next kept if the soup's score holds or rises."""
    order = sorted(range(len(states)), key=lambda i: -scores[i])
    kept, best = [order[0]], scores[order[0]]
    trials = [{"member": order[0], "validation": best, "kept": True}]
    for i in order[1:]:
        trial = score(average_weights([states[j] for j in [*kept, i]]))
        keep = trial >= best
        trials.append({"member": i, "validation": trial, "kept": keep})
        log.info("soup + run %d of the list: validation %.4f (%s)", i + 1, trial, "kept" if keep else "left out")
        if keep:
            kept, best = [*kept, i], trial
    return kept, trials


def check_soup(folders: Sequence[str | Path], method: str) -> list[RunRecord]:
    """The members' records, checked before any weights or data are read."""
    if method not in METHODS:
        raise ConfigError(f"--method {method}: choose {' or '.join(METHODS)}")
    records = _members(folders)
    if "validation" not in get_task(records[0].task).spec.splits:
        raise ConfigError(f"{records[0].task} has no validation split to choose a soup on (its test split must "
                          "stay unseen): soups are for emotion (fer) runs")  # fmt: skip
    return records


def make_soup(
    folders: Sequence[str | Path], splits: dict[str, ImageSplit], method: str = "greedy", out: str | Path | None = None
) -> tuple[nn.Module, RunRecord]:
    """The soup of finished runs, chosen on `splits`' validation and evaluated on every held-out split; saved as
    a run in `out`."""
    records = check_soup(folders, method)
    t0 = time.time()
    loaded = [load_checkpoint(f) for f in folders]
    model, first = loaded[0]
    # copies: the scorer loads each candidate into `model`, whose own tensors the first state would otherwise be
    states = [{k: v.detach().clone() for k, v in m.state_dict().items()} for m, _ in loaded]
    score = _Scorer(model, first, splits["validation"])
    scores = [score(state) for state in states]
    for folder, value in zip(folders, scores):
        log.info("%s: validation %.4f", folder, value)
    if method == "greedy":
        kept, trials = _greedy(states, scores, score)
    else:
        kept = list(range(len(states)))
        trials = [{"member": i, "validation": value, "kept": True} for i, value in enumerate(scores)]
    model.load_state_dict(average_weights([states[i] for i in kept]))
    final = held_out_metrics(model, splits, score.transform, score.mode, splits["train"])
    record = _soup_record(first, records, splits, final, kept, trials, method, time.time() - t0)
    if out is not None:
        save_checkpoint(out, model, record)
    return model, record


def _soup_record(first: RunRecord, records: list[RunRecord], splits: dict[str, ImageSplit], final: dict[str, Any],
                 kept: list[int], trials: list[dict], method: str, seconds: float) -> RunRecord:  # fmt: skip
    members = [str(r.path) for r in records]
    soup: dict[str, Any] = {
        "method": method,
        "members": members,
        "kept": [members[i] for i in kept],
        "trials": [{**t, "member": members[t["member"]]} for t in trials],
    }
    record = replace(
        first,
        data=data_info(splits),
        history=[],
        metrics={},
        best_epoch=None,
        selected_on=f"{method} weight soup of {len(kept)} of {len(records)} runs (validation)",
        training_seconds=round(sum(records[i].training_seconds for i in kept), 1),
        seconds_this_session=round(seconds, 1),
        git_commit=git_commit(),
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        complete=True,
        weights_sha256=None,
        calibration=None,
        explanations=None,
        test_time_augmentation=None,
        soup=soup,
        path=None,
    )
    record.metrics = checked_metrics(record, final)
    return record
