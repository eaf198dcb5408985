import time

import pytest

from core.config import Experiment
from core.jobs import cancel_job, list_jobs, start_job
from core.runs.status import RunStatus

pytestmark = pytest.mark.slow  # real training, full splits or subprocesses; `make test-fast` skips them


def wait_for(predicate, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.3)
    return False


def test_background_job_reports_progress_and_finishes(tmp_path, notmnist_dir):
    config = Experiment(model="mlp", epochs=2, train_limit=1500, test_limit=500, data=str(notmnist_dir))
    job = start_job(config, tmp_path / "out", jobs_dir=tmp_path / "jobs")
    assert wait_for(lambda: not list_jobs(tmp_path / "jobs")[0].status.active)
    job = list_jobs(tmp_path / "jobs")[0]  # rebuilt from files alone, as after a page reload
    assert job.status is RunStatus.FINISHED, job.log_tail(20)
    assert job.fraction == 1.0 and len(job.progress["history"]) == 2
    assert job.progress["accuracy"] > 0.5 and (tmp_path / "out" / "meta.json").exists()


def test_bad_source_fails_with_the_message_in_progress(tmp_path):
    config = Experiment(model="mlp", epochs=1, data=str(tmp_path / "nowhere"))
    start_job(config, tmp_path / "out", jobs_dir=tmp_path / "jobs")
    assert wait_for(lambda: not list_jobs(tmp_path / "jobs")[0].status.active)
    job = list_jobs(tmp_path / "jobs")[0]
    assert job.status is RunStatus.FAILED and "nowhere" in job.progress["error"]


def test_cancelled_job_is_reported_as_ended(tmp_path, notmnist_dir):
    config = Experiment(model="cnn", epochs=50, data=str(notmnist_dir))
    start_job(config, tmp_path / "out", jobs_dir=tmp_path / "jobs")
    assert wait_for(lambda: list_jobs(tmp_path / "jobs")[0].status is RunStatus.RUNNING)
    cancel_job(list_jobs(tmp_path / "jobs")[0])
    assert wait_for(lambda: not list_jobs(tmp_path / "jobs")[0].status.active, timeout=30)
    assert list_jobs(tmp_path / "jobs")[0].progress["error"] == "cancelled"
    assert not (tmp_path / "out" / "meta.json").exists()
