"""The Train page's estimate against real runs: for each setting, the estimate the page shows before Start
(core.estimate), then the run started as the page starts it (a background job, core.jobs), timed from submit to
its record. Runs in a fresh runs folder and data cache of its own, one after another, so each run after the
first also learns from the ones before it, as the app does.

    python benchmarks/estimate.py [--data ../shared/data/notmnist] [--fer ../shared/data/fer] [--load] [--json]

`--load` runs a CPU-bound process beside the whole benchmark (a shared server). Prints each run's estimate, band
and real time, and the share of runs whose real time fell inside the band.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SETTINGS = [
    ("notmnist", {"model": "mlp", "epochs": 2, "train_limit": 3000}),
    ("notmnist", {"model": "cnn", "epochs": 1, "train_limit": 6000}),
    ("notmnist", {"model": "cnn", "epochs": 2}),
    ("notmnist", {"model": "mlp", "epochs": 5}),
    ("fer", {"model": "mobilenet_v2", "img_size": 48, "epochs": 1, "train_limit": 2000}),
]


def burn(seconds: float) -> None:
    end = time.time() + seconds
    while time.time() < end:
        sum(i * i for i in range(10_000))


def one_run(task: str, setting: dict, data: str) -> dict:
    from core.config import Experiment
    from core.engine.probe import training_probe
    from core.estimate import estimate_run, past_runs
    from core.jobs import RunStatus, list_jobs, runs_dir, submit_job

    config = Experiment(task=task, data=data, **setting)
    training_probe(config)  # what the page measures in the background before it shows a figure
    full = {"notmnist": {"train": 14_979, "test": 3_745}, "fer": {"train": 28_709, "validation": 3_589,
                                                                   "test": 3_589}}[task]  # fmt: skip
    sizes = {k: min((config.train_limit if k == "train" else config.test_limit) or n, n) for k, n in full.items()}
    guess = estimate_run(config, sizes, past_runs(task))
    assert guess is not None
    submitted = time.time()
    job = submit_job(config, runs_dir() / config.name)
    while True:
        job = next(j for j in list_jobs() if j.id == job.id)
        if job.status not in (RunStatus.QUEUED, RunStatus.STARTING, RunStatus.RUNNING):
            break
        time.sleep(0.5)
    real = float(job.progress.get("updated", time.time())) - submitted
    return {"task": task, "setting": setting, "status": job.status.value, "estimate_s": round(guess.total_s, 1),
            "low_s": round(guess.low_s, 1), "high_s": round(guess.high_s, 1), "real_s": round(real, 1),
            "ratio": round(real / guess.total_s, 2), "inside_band": guess.low_s <= real <= guess.high_s,
            "evidence_runs": guess.evidence}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "notmnist"))
    parser.add_argument("--fer", default=str(ROOT.parent / "shared" / "data" / "fer"))
    parser.add_argument("--load", action="store_true", help="a CPU-bound process beside every run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as runs, tempfile.TemporaryDirectory() as cache:
        os.environ.update(STUDY_RUNS_DIR=runs, STUDY_CACHE_DIR=cache)
        burner = multiprocessing.Process(target=burn, args=(3600,), daemon=True) if args.load else None
        if burner:
            burner.start()
        try:
            results = [one_run(task, s, args.data if task == "notmnist" else args.fer) for task, s in SETTINGS]
        finally:
            if burner:
                burner.terminate()
    summary = {"load": args.load, "runs": results,
               "inside_band": sum(r["inside_band"] for r in results) / len(results)}  # fmt: skip
    if args.json:
        print(json.dumps(summary))
        return
    for r in results:
        print(f"{r['task']:9} {json.dumps(r['setting']):70} estimate {r['estimate_s']:6.1f} s "
              f"[{r['low_s']:.0f}-{r['high_s']:.0f}]  real {r['real_s']:6.1f} s  ({r['ratio']:.2f}x, "
              f"{r['evidence_runs']} earlier runs)")  # fmt: skip
    print(f"real time inside the band: {summary['inside_band']:.0%} of {len(results)} runs (load: {args.load})")


if __name__ == "__main__":
    main()
