"""Aggregating seeds into mean ± std and choosing the median seed."""

from pathlib import Path

import pytest

from core.config import Experiment
from core.runs.record import DataInfo, RunRecord, SplitMetrics, Unseen
from core.study.notmnist_summary import collect_runs, median_run, summarise_cell


def fake_run(seed: int, accuracy: float, unseen: float, created: str = "2026-01-01") -> RunRecord:
    test = SplitMetrics(
        n=100,
        accuracy=accuracy,
        macro_f1=accuracy - 0.01,
        per_class={},
        confusion_matrix=[],
        classes=[],
        unseen=Unseen(90, unseen),
    )
    return RunRecord(
        config=Experiment(model="cnn", seed=seed),
        classes=list("ABCDEFGHIJ"),
        preprocessing={},
        data=DataInfo("x", {}, {}),
        history=[],
        metrics={"test": test},
        training_seconds=10.0 * (seed + 1),
        created=created,
        path=Path(f"run-s{seed}"),
    )


def test_median_seed_and_sample_standard_deviation():
    runs = [fake_run(0, 0.93, 0.92), fake_run(1, 0.91, 0.90), fake_run(2, 0.95, 0.94)]
    summary = summarise_cell("cnn", False, runs)
    assert summary.median is runs[0] and summary.median.path == Path("run-s0")
    assert summary.test_mean == pytest.approx(0.93) and summary.test_std == pytest.approx(0.02)  # n - 1
    assert summary.unseen_mean == pytest.approx(0.92) and summary.seconds_mean == pytest.approx(20.0)
    assert [s.seed for s in summary.per_seed] == [0, 1, 2]
    # an even count takes the lower middle seed; one seed has no standard deviation
    assert median_run(runs[:2]).config.seed == 1
    assert summarise_cell("cnn", False, runs[:1]).test_std is None


def test_collect_runs_groups_seeds_and_ignores_other_settings(tmp_path, small_checkpoint):
    import json
    import shutil

    ckpt, _, run = small_checkpoint
    meta = run.to_dict()
    for seed, epochs, created in ((0, 1, "2026-02-01"), (1, 1, "2026-02-02"), (2, 5, "2025-01-01")):
        folder = tmp_path / f"cnn-original-s{seed}"
        shutil.copytree(ckpt, folder)
        changed = {**meta, "created": created, "config": {**meta["config"], "seed": seed, "epochs": epochs}}
        (folder / "meta.json").write_text(json.dumps(changed))
    cells = collect_runs(tmp_path)
    # the 5-epoch run is older and has another setting: it does not join the 1-epoch seeds' mean
    assert list(cells) == [("cnn", False)]
    assert [r.config.seed for r in cells[("cnn", False)]] == [0, 1]


def test_committed_checkpoints_stay_below_60_mb():
    import subprocess

    from tests.conftest import ROOT

    tracked = subprocess.run(["git", "ls-files", "-z", "checkpoints"], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode != 0 or not tracked.stdout:
        pytest.skip("not a git checkout")
    size = sum((ROOT / name).stat().st_size for name in tracked.stdout.split("\0") if name and (ROOT / name).exists())
    assert size < 60 * 2**20, f"checkpoints/ holds {size / 2**20:.1f} MB in git"
