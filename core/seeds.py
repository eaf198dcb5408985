"""The notMNIST study with repeats: CNN / MLP x original / permuted pixels, each trained with several seeds.

Every run is an ordinary checkpoint folder named by its config (`cnn-permuted0-s1`); finished runs are skipped,
so an interrupted study continues where it stopped. `core.results` turns the folders into mean ± std.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Iterable

from .callbacks import Callback
from .checkpoint import is_complete
from .config import Experiment
from .results import CELLS


def seed_runs(base: Experiment, seeds: Iterable[int]) -> list[Experiment]:
    """The four configurations x seeds, cell by cell (the permutation stays fixed across seeds)."""
    return [dataclasses.replace(base, model=model, permute=permuted, seed=seed)
            for model, permuted in CELLS for seed in dict.fromkeys(seeds)]


def run_seeds(base: Experiment, seeds: Iterable[int], out_root: str | Path, retrain: bool = False,
              callbacks: Callable[[Experiment], list[Callback]] = lambda config: [],
              log: Callable[[str], None] = print) -> list[Path]:
    """Train every configuration with every seed into out_root/<run name>; returns the run folders."""
    from .train import load_data, run_experiment

    out_root = Path(out_root)
    data = load_data(base)  # the same splits for all twelve runs
    folders = []
    for config in seed_runs(base, seeds):
        folder = out_root / config.name
        folders.append(folder)
        if is_complete(folder) and not retrain:
            log(f"[{config.name}] already complete, skipped")
            continue
        log(f"[{config.name}]")
        run_experiment(config, folder, callbacks(config), data=data, resume=not retrain)
    return folders
