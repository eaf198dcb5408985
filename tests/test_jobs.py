import time

import pytest

from core.config import Experiment
from core.jobs import cancel_job, list_jobs, submit_job
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
    job = submit_job(config, tmp_path / "out", jobs_dir=tmp_path / "jobs")
    assert wait_for(lambda: not list_jobs(tmp_path / "jobs")[0].status.active)
    job = list_jobs(tmp_path / "jobs")[0]  # rebuilt from files alone, as after a page reload
    assert job.status is RunStatus.FINISHED, job.log_tail(20)
    assert job.fraction == 1.0 and len(job.progress["history"]) == 2
    assert job.progress["accuracy"] > 0.5 and (tmp_path / "out" / "meta.json").exists()
    # an app job writes its TensorBoard events too (tests/test_tensorboard.py reads them back)
    assert list((tmp_path / "out" / "tensorboard").glob("events.out.tfevents.*"))


def test_bad_source_fails_with_the_message_in_progress(tmp_path):
    config = Experiment(model="mlp", epochs=1, data=str(tmp_path / "nowhere"))
    submit_job(config, tmp_path / "out", jobs_dir=tmp_path / "jobs")
    assert wait_for(lambda: not list_jobs(tmp_path / "jobs")[0].status.active)
    job = list_jobs(tmp_path / "jobs")[0]
    assert job.status is RunStatus.FAILED and "nowhere" in job.progress["error"]


def test_cancelled_job_is_reported_as_ended(tmp_path, notmnist_dir):
    config = Experiment(model="cnn", epochs=50, data=str(notmnist_dir))
    submit_job(config, tmp_path / "out", jobs_dir=tmp_path / "jobs")
    assert wait_for(lambda: list_jobs(tmp_path / "jobs")[0].status is RunStatus.RUNNING)
    cancel_job(list_jobs(tmp_path / "jobs")[0])
    assert wait_for(lambda: not list_jobs(tmp_path / "jobs")[0].status.active, timeout=120)
    assert list_jobs(tmp_path / "jobs")[0].progress["error"] == "cancelled"
    assert not (tmp_path / "out" / "meta.json").exists()


def test_the_queue_runs_one_at_a_time_refuses_duplicates_and_moves_on(tmp_path, notmnist_dir, monkeypatch):
    from core.jobs import JobRefused, delete_job, dispatch, submit_job

    monkeypatch.setenv("STUDY_MAX_JOBS", "1")
    jobs_dir = tmp_path / "jobs"
    long = Experiment(model="cnn", epochs=50, train_limit=3000, test_limit=300, data=str(notmnist_dir))
    first = submit_job(long, tmp_path / "a", jobs_dir=jobs_dir)
    with pytest.raises(JobRefused, match="already running|already starting"):
        submit_job(long, tmp_path / "a2", jobs_dir=jobs_dir)
    # three more within a second: one folder each, all waiting behind the first
    short = [Experiment(model="mlp", epochs=1, train_limit=300, test_limit=100, seed=s, data=str(notmnist_dir))
             for s in range(3)]  # fmt: skip
    waiting = [submit_job(c, tmp_path / f"s{c.seed}", jobs_dir=jobs_dir) for c in short]
    assert [j.status for j in waiting] == [RunStatus.QUEUED] * 3 and len({j.id for j in waiting}) == 3
    assert sum(j.status.active for j in list_jobs(jobs_dir)) == 1
    cancel_job(waiting[2])  # out of the queue without ever starting

    def job(j):
        return next(x for x in list_jobs(jobs_dir) if x.id == j.id)

    assert wait_for(lambda: len(job(first).progress.get("history", [])) >= 1)  # its first epoch is saved
    cancel_job(job(first))
    # the cancelled run's process starts the next in the queue as it exits; each of the rest starts the next
    assert wait_for(lambda: job(waiting[0]).status.active or job(waiting[0]).status is RunStatus.FINISHED, timeout=60)
    assert wait_for(lambda: all(not j.status.waiting_or_active for j in list_jobs(jobs_dir)), timeout=240)
    by_id = {j.id: j for j in list_jobs(jobs_dir)}
    assert [by_id[j.id].status for j in waiting[:2]] == [RunStatus.FINISHED] * 2
    assert by_id[waiting[2].id].status is RunStatus.FAILED and "before it started" in by_id[waiting[2].id].error
    assert dispatch(jobs_dir) == []
    # a run that did not finish can be deleted, with the state it left; a finished one cannot
    stopped = by_id[first.id]
    assert stopped.status is RunStatus.FAILED and (tmp_path / ".a.partial").exists()
    delete_job(stopped)
    assert not stopped.folder.exists() and not (tmp_path / ".a.partial").exists()
    with pytest.raises(JobRefused, match="only a failed or stopped run"):
        delete_job(by_id[waiting[0].id])
