"""Collecting finished notMNIST runs into the study's 2x2 comparison (model x original/permuted), with every
seed of a cell: mean ± std across seeds, and the median seed as the cell's checkpoint."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

from ..config import MODEL_NAMES
from ..runs.index import find_runs
from ..runs.record import RunRecord, SplitMetrics

# The reference study's test accuracies (it trained no MLP).
STUDY_ACCURACY = {("cnn", False): 0.93, ("cnn", True): 0.90}
CELLS = (("cnn", False), ("cnn", True), ("mlp", False), ("mlp", True))
# Config fields that may differ between the seeds of one cell.
PER_RUN_FIELDS = ("seed", "data", "extra")

Cell = tuple[str, bool]  # (model, permuted)


def _setting(run: RunRecord) -> dict:
    return {k: v for k, v in run.config.to_dict().items() if k not in PER_RUN_FIELDS}


def _test(run: RunRecord) -> SplitMetrics:
    assert run.test is not None  # collect_runs keeps only runs with test metrics
    return run.test


def _unseen(run: RunRecord) -> float | None:
    unseen = _test(run).unseen
    return unseen.accuracy if unseen else None


def collect_runs(root: str | Path) -> dict[Cell, list[RunRecord]]:
    """(model, permuted) -> the finished runs of that cell under root, one per seed, sorted by seed.

    Only runs with the same setting as the cell's newest run count (an old 2-epoch try beside a 10-epoch
    study does not join its mean); of two runs with the same seed the newer wins."""
    groups: dict[Cell, list[RunRecord]] = {}
    for run in find_runs(root, task="notmnist"):
        if run.test is None or not run.complete:
            continue
        groups.setdefault((run.config.model or "", run.config.permute), []).append(run)
    cells = {}
    for key, runs in groups.items():
        runs.sort(key=lambda run: run.created)
        setting = _setting(runs[-1])
        by_seed = {run.config.seed: run for run in runs if _setting(run) == setting}
        cells[key] = [by_seed[s] for s in sorted(by_seed)]
    return cells


def left_out(root: str | Path, cells: dict[Cell, list[RunRecord]]) -> dict[Cell, list[RunRecord]]:
    """The finished runs of each of the study's cells under root that collect_runs did not average in (another
    setting than the cell's newest run, or an older run of the same seed), so a page can say so."""
    kept = {run.path for runs in cells.values() for run in runs}
    out: dict[Cell, list[RunRecord]] = {}
    for run in find_runs(root, task="notmnist"):
        cell = (run.config.model or "", run.config.permute)
        if cell in CELLS and run.test is not None and run.complete and run.path not in kept:
            out.setdefault(cell, []).append(run)
    return out


def setting_difference(run: RunRecord, reference: RunRecord) -> str:
    """How a run's setting differs from another's, as flags: 'train_limit 1000 (not None), epochs 2 (not 10)'."""
    mine, theirs = _setting(run), _setting(reference)
    return ", ".join(f"{k} {mine[k]} (not {theirs[k]})" for k in mine if mine[k] != theirs.get(k)) or "an older run"


def median_run(runs: list[RunRecord]) -> RunRecord:
    """The seed whose test accuracy is the median (the lower middle one for an even count)."""
    ranked = sorted(runs, key=lambda run: (_test(run).accuracy, run.config.seed))
    return ranked[(len(ranked) - 1) // 2]


def _mean_std(values: list[float | None]) -> tuple[float | None, float | None]:
    present = [v for v in values if v is not None]
    if not present:
        return None, None
    return statistics.fmean(present), (statistics.stdev(present) if len(present) > 1 else None)


@dataclass(frozen=True)
class SeedResult:
    seed: int
    test_accuracy: float
    unseen_accuracy: float | None
    macro_f1: float
    training_seconds: float
    checkpoint: str


@dataclass
class CellSummary:
    """One configuration of the 2x2: our figures across seeds (None where it has no runs) and the study's."""

    model: str  # "CNN" or "MLP"
    pixels: str  # "original" or "permuted"
    study_accuracy: float | None
    runs: list[RunRecord] = field(default_factory=list)
    test_mean: float | None = None
    test_std: float | None = None
    unseen_mean: float | None = None
    unseen_std: float | None = None
    macro_f1_mean: float | None = None
    seconds_mean: float | None = None
    median: RunRecord | None = None
    per_seed: list[SeedResult] = field(default_factory=list)

    @property
    def seeds(self) -> list[int]:
        return [run.config.seed for run in self.runs]

    @property
    def label(self) -> str:
        return f"{self.model}, {self.pixels}"


def summarise_cell(model: str, permuted: bool, runs: list[RunRecord]) -> CellSummary:
    """Mean and sample standard deviation across seeds, the per-seed figures, and the median seed."""
    cell = CellSummary(
        MODEL_NAMES[model], "permuted" if permuted else "original", STUDY_ACCURACY.get((model, permuted)), runs
    )
    if not runs:
        return cell
    cell.test_mean, cell.test_std = _mean_std([_test(r).accuracy for r in runs])
    cell.unseen_mean, cell.unseen_std = _mean_std([_unseen(r) for r in runs])
    cell.macro_f1_mean, _ = _mean_std([_test(r).macro_f1 for r in runs])
    cell.seconds_mean = statistics.fmean(r.training_seconds for r in runs)
    cell.median = median_run(runs)
    cell.per_seed = [
        SeedResult(r.config.seed, _test(r).accuracy, _unseen(r), _test(r).macro_f1, r.training_seconds, str(r.path))
        for r in runs
    ]
    return cell


def comparison_rows(cells: dict[Cell, list[RunRecord]]) -> list[CellSummary]:
    """One summary per (model, pixels) cell, in the study's order, with our figures across seeds and the study's."""
    return [summarise_cell(model, permuted, cells.get((model, permuted), [])) for model, permuted in CELLS]


def by_cell(rows: list[CellSummary]) -> dict[tuple[str, str], CellSummary]:
    """(model name, pixels) -> summary, for the cells that have runs."""
    return {(r.model, r.pixels): r for r in rows if r.runs}


def permutation_drop(cells: dict[tuple[str, str], CellSummary], model: str) -> float | None:
    """Mean test accuracy on original minus on permuted pixels (None until both cells have runs)."""
    original, permuted = cells.get((model, "original")), cells.get((model, "permuted"))
    if original is None or permuted is None or original.test_mean is None or permuted.test_mean is None:
        return None
    return original.test_mean - permuted.test_mean
