"""The notMNIST study with repeats: CNN / MLP x original / permuted pixels, each trained with several seeds.

Every run is an ordinary checkpoint folder named by its config (`cnn-permuted0-s1`); finished runs are skipped,
so an interrupted study continues where it stopped. `core.study.notmnist_summary` turns the folders into mean ± std.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from ..config import Experiment
from ..engine.callbacks import Callback
from ..engine.loop import load_data, run_experiment
from ..runs.record import is_complete
from .notmnist_summary import CELLS

log = logging.getLogger(__name__)


def seed_runs(base: Experiment, seeds: Iterable[int]) -> list[Experiment]:
    """The four configurations x seeds, cell by cell (the permutation stays fixed across seeds)."""
    return [
        dataclasses.replace(base, model=model, permute=permuted, seed=seed)
        for model, permuted in CELLS
        for seed in dict.fromkeys(seeds)
    ]


def run_seeds(
    base: Experiment,
    seeds: Iterable[int],
    out_root: str | Path,
    retrain: bool = False,
    callbacks: Callable[[Experiment], list[Callback]] = lambda config: [],
) -> list[Path]:
    """Train every configuration with every seed into out_root/<run name>; returns the run folders."""
    out_root = Path(out_root)
    data = load_data(base)  # the same splits for all twelve runs
    folders = []
    for config in seed_runs(base, seeds):
        folder = out_root / config.name
        folders.append(folder)
        if is_complete(folder) and not retrain:
            log.info("[%s] already complete, skipped", config.name)
            continue
        log.info("[%s]", config.name)
        run_experiment(config, folder, callbacks(config), data=data, resume=not retrain, overwrite=retrain)
    return folders
