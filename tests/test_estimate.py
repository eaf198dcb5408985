"""The Train page's estimate (core.estimate): it follows the setting, counts start-up, and takes its band from the
runs that finished on this machine. How close it comes to real runs is measured by benchmarks/estimate.py (a
timing check on a shared machine is no test)."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.config import Experiment
from core.engine.probe import run_seconds, training_probe
from core.estimate import DEFAULT_STARTUP_S, PastRun, estimate_run, past_run, past_runs
from core.jobs import Job

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"train": 14_979, "test": 3_745}


@pytest.fixture
def probed(tmp_path, monkeypatch):
    """A cache holding a real probe of the CNN setting, measured now on this machine."""
    monkeypatch.setenv("STUDY_CACHE_DIR", str(tmp_path / "cache"))
    config = Experiment(model="cnn")
    return config, training_probe(config, budget_s=1.0)


def finished_job(folder, config, launched, first_epoch, epoch_seconds, status="finished"):
    info = {"config": config.to_dict(), "started": launched, "submitted": launched - 1, "pid": 1}
    progress = {"status": status, "started": first_epoch, "sizes": SIZES,
                "history": [{"epoch": i + 1, "seconds": s} for i, s in enumerate(epoch_seconds)]}  # fmt: skip
    return Job(folder, info, progress)


def test_the_estimate_follows_the_setting_and_counts_start_up(probed):
    config, probe = probed
    one, ten = (estimate_run(Experiment(model="cnn", epochs=e), SIZES, []) for e in (1, 10))
    assert one is not None and ten is not None
    per_epoch, whole = run_seconds(config, probe, SIZES)
    assert ten.total_s == pytest.approx(DEFAULT_STARTUP_S["notmnist"] + whole)
    assert ten.total_s - one.total_s == pytest.approx(9 * per_epoch)
    assert one.low_s < one.total_s < one.high_s and one.evidence == 0
    fewer = estimate_run(Experiment(model="cnn", train_limit=1000), {"train": 1000, "test": 3_745}, [])
    assert fewer is not None and fewer.per_epoch_s < ten.per_epoch_s
    assert estimate_run(Experiment(model="mlp"), SIZES, []) is None  # that setting's speed was never measured


def test_finished_runs_here_set_the_start_up_and_the_band(probed, tmp_path):
    config, probe = probed
    per_epoch, _ = run_seconds(config, probe, SIZES)
    jobs = [finished_job(tmp_path / f"j{i}", config, 100.0, 100.0 + startup, [per_epoch * ratio] * 2)
            for i, (startup, ratio) in enumerate([(6.0, 1.2), (9.0, 1.8), (7.0, 1.5)])]  # fmt: skip
    jobs.append(finished_job(tmp_path / "failed", config, 0.0, 50.0, [per_epoch * 9], status="failed"))
    past = past_runs("notmnist", jobs)
    assert [round(r.startup_s) for r in past] == [6, 9, 7]  # the failed run tells nothing
    assert [round(r.epoch_ratio or 0, 2) for r in past] == [1.2, 1.8, 1.5]
    guess = estimate_run(config, SIZES, past)
    _, whole = run_seconds(config, probe, SIZES)
    assert guess is not None and guess.evidence == 3 and guess.startup_s == 7.0
    assert guess.total_s == pytest.approx(7.0 + whole * 1.5)  # scaled by the median run's ratio
    assert guess.low_s == pytest.approx(6.0 + whole * 1.2) and guess.high_s == pytest.approx(9.0 + whole * 1.8)
    assert past_runs("fer", jobs) == []
    assert past_run(Job(tmp_path / "old", {"config": {"task": "nope"}, "pid": 1}, {"status": "finished"})) is None
    assert PastRun("fer", 1.0, None).epoch_ratio is None


@pytest.mark.slow
def test_the_train_page_estimate_follows_the_form_before_start(tmp_path, monkeypatch, notmnist_dir):
    monkeypatch.setenv("STUDY_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("STUDY_CACHE_DIR", str(tmp_path / "cache"))
    training_probe(Experiment(model="cnn", data=str(notmnist_dir)), budget_s=1.0)
    app = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    app.run()
    app.selectbox(key="notmnist_source").set_value(str(notmnist_dir.resolve()))
    app.switch_page("app_pages/train.py").run()
    shown = lambda: next(c.value for c in app.caption if "from Start to results" in c.value)  # noqa: E731
    assert shown().startswith("10 epoch(s) on 14,979 images")
    app.number_input(key="letters_epochs").set_value(1).run()  # no Start: the estimate follows the edit
    assert shown().startswith("1 epoch(s) on 14,979 images") and not app.exception
    app.number_input(key="letters_limit").set_value(1).run()
    assert shown().startswith("1 epoch(s) on 1 images")
    assert any("Only 1 training image(s)" in w.value for w in app.warning)
    from core.jobs import list_jobs

    assert list_jobs(tmp_path / "runs" / ".jobs") == []  # nothing started by editing
