"""How long a training run will take, as the Train page says it before Start: the measured speed of the setting
(core.engine.probe), the start-up that every background run pays (a new process, imports, the data from the
cache, the model), and how far off such estimates were for the runs that already finished on this machine.

The jobs the app ran are the evidence: each job folder records when its process was launched (job.json), when
its first epoch began and when it ended (progress.json), and every epoch's seconds. `benchmarks/estimate.py`
compares estimates with real runs side by side.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from .config import Experiment
from .engine.probe import cached_training_probe, run_seconds
from .jobs import Job, list_jobs
from .runs.status import RunStatus
from .study.report import took

# Before any run has finished here: start-up of a background run as measured on the 2-core machines we develop
# on (a fresh process importing torch, the cached splits, the network), and a band of ±40 % (a shared machine's
# load moved real epochs between 0.7x and 1.9x of the probe's figure in benchmarks/estimate.py).
DEFAULT_STARTUP_S = {"notmnist": 8.0, "fer": 12.0}
DEFAULT_BAND = (0.7, 1.4)
EVIDENCE_RUNS = 10  # the newest finished runs of the task that the band and the start-up are taken from


@dataclass(frozen=True)
class PastRun:
    """What one finished background run took, against what its setting's probe predicts for its epochs."""

    task: str
    startup_s: float  # process launch -> first epoch
    epoch_ratio: float | None  # real seconds per epoch / estimated (None where the setting has no probe here)


@dataclass(frozen=True)
class RunEstimate:
    startup_s: float
    per_epoch_s: float
    evaluation_s: float  # the held-out splits once more at the end
    total_s: float
    low_s: float
    high_s: float
    evidence: int  # finished runs on this machine behind the start-up and the band (0: the defaults)

    def describe(self) -> str:
        """'about 52 s (40 s – 1 min 20 s)'."""
        return f"about {took(self.total_s)} ({took(self.low_s)} – {took(self.high_s)})"


def past_run(job: Job) -> PastRun | None:
    """The figures of a finished job, or None where they are incomplete (an older job, a failed one)."""
    progress, info = job.progress, job.info
    history = progress.get("history") or []
    launched, first_epoch = info.get("started"), progress.get("started")
    if job.status is not RunStatus.FINISHED or not history or not launched or not first_epoch:
        return None
    try:
        config = Experiment.from_dict(info["config"])
    except Exception:  # a setting this version cannot read tells nothing about this version's speed
        return None
    ratio = None
    probe = cached_training_probe(config)
    if probe is not None:
        sizes = progress.get("sizes") or {}
        if "train" in sizes:
            per_epoch, _ = run_seconds(config, probe, sizes)
            real = statistics.fmean(h["seconds"] for h in history if isinstance(h.get("seconds"), (int, float)))
            ratio = real / per_epoch if per_epoch > 0 else None
    return PastRun(config.task, max(0.0, float(first_epoch) - float(launched)), ratio)


def past_runs(task: str, jobs: list[Job] | None = None) -> list[PastRun]:
    """The newest finished runs of the task on this machine (the app's jobs), newest first."""
    found = []
    for job in list_jobs() if jobs is None else jobs:
        run = past_run(job)
        if run is not None and run.task == task:
            found.append(run)
        if len(found) == EVIDENCE_RUNS:
            break
    return found


def estimate_run(config: Experiment, sizes: dict[str, int], past: list[PastRun]) -> RunEstimate | None:
    """The run's time from launch to its record, with a band, or None until the setting's speed is measured."""
    probe = cached_training_probe(config)
    if probe is None:
        return None
    per_epoch, trained_and_evaluated = run_seconds(config, probe, sizes)
    evaluation = trained_and_evaluated - per_epoch * config.epochs
    startups = [r.startup_s for r in past]
    ratios = [r.epoch_ratio for r in past if r.epoch_ratio is not None]
    startup = statistics.median(startups) if startups else DEFAULT_STARTUP_S[config.task]
    # runs here that were slower (or faster) than their probe said scale the estimate and set its band
    factor = statistics.median(ratios) if len(ratios) >= 2 else 1.0
    low, high = (min(ratios), max(ratios)) if len(ratios) >= 2 else (factor * DEFAULT_BAND[0], factor * DEFAULT_BAND[1])
    return RunEstimate(
        startup_s=startup,
        per_epoch_s=per_epoch * factor,
        evaluation_s=evaluation * factor,
        total_s=startup + trained_and_evaluated * factor,
        low_s=min(startups, default=startup * 0.8) + trained_and_evaluated * min(low, factor),
        high_s=max(startups, default=startup * 1.5) + trained_and_evaluated * max(high, factor),
        evidence=len(past),
    )
