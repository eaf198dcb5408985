"""Training runs in background processes, through a queue, so a web page stays responsive and a reload loses
nothing.

Each job is a folder holding its setting, a progress file the training process rewrites atomically, and its
log. Any page (or a later server) rebuilds the job list from those folders alone. Jobs wait in a queue and at
most `max_running()` train at once ($STUDY_MAX_JOBS; default 1 on machines with up to 4 cores): `dispatch()`
starts the oldest waiting jobs when there is room, and is called when a job is submitted, when one ends (the
training process calls it as it exits) and whenever a page lists the jobs.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Experiment
from .errors import StudyError
from .inference.serving import job_environment
from .runs.files import atomic_write_json
from .runs.layout import partial_dir
from .runs.lock import lock_path
from .runs.status import RunStatus

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RUNS_ENV_VAR = "STUDY_RUNS_DIR"
MAX_JOBS_ENV_VAR = "STUDY_MAX_JOBS"
JOB_FILE, PROGRESS_FILE, LOG_FILE = "job.json", "progress.json", "log.txt"


class JobRefused(StudyError):
    """A job that is not queued: the same setting is already waiting or running, or the queue is full."""


def runs_dir() -> Path:
    """Where runs started from the app go: $STUDY_RUNS_DIR, else checkpoints/runs (git-ignored)."""
    return Path(os.environ.get(RUNS_ENV_VAR) or PROJECT_ROOT / "checkpoints" / "runs")


def default_jobs_dir() -> Path:
    return runs_dir() / ".jobs"  # a dot folder: never mistaken for a checkpoint


def max_running() -> int:
    """How many jobs may train at once: $STUDY_MAX_JOBS, else 1 on up to 4 cores (two trainings on two cores
    each run at half speed and the app's own pages slow down), else 2."""
    try:
        return max(1, int(os.environ.get(MAX_JOBS_ENV_VAR, "")))
    except ValueError:
        return 1 if (os.cpu_count() or 1) <= 4 else 2


@dataclass
class Job:
    folder: Path
    info: dict[str, Any]  # job.json: out_dir, config, command, submitted; pid and started once launched
    progress: dict[str, Any]  # progress.json as last written by the training process

    @property
    def id(self) -> str:
        return self.folder.name

    @property
    def name(self) -> str:
        """The run's name, from its setting (the job folder's name when the setting no longer validates)."""
        try:
            return Experiment.from_dict(self.info["config"]).name
        except (StudyError, TypeError, KeyError):
            return self.folder.name

    @property
    def status(self) -> RunStatus:
        """What the progress file says; QUEUED before launch; DIED when the process ended without saying how."""
        if self.info.get("cancelled") and not self.info.get("pid"):
            return RunStatus.FAILED
        if not self.info.get("pid"):
            return RunStatus.QUEUED
        try:
            state = RunStatus(self.progress.get("status", RunStatus.STARTING.value))
        except ValueError:
            state = RunStatus.STARTING
        if state in (RunStatus.FINISHED, RunStatus.FAILED):
            return state
        if not _alive(int(self.info["pid"])):
            return RunStatus.DIED
        return state

    @property
    def error(self) -> str:
        return "cancelled before it started" if self.info.get("cancelled") else self.progress.get("error", "")

    @property
    def fraction(self) -> float:
        """Share of the whole run done, from epochs and steps."""
        p = self.progress
        epochs = p.get("epochs") or self.info["config"]["epochs"]
        if self.status == RunStatus.FINISHED:
            return 1.0
        done = len(p.get("history", []))
        steps = p.get("steps") or 0
        within = (p.get("step", 0) / steps) if steps and p.get("epoch") == done + 1 else 0.0
        return min(1.0, (done + within) / epochs)

    def log_tail(self, lines: int = 5) -> str:
        log = self.folder / LOG_FILE
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


def _alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # reap our own finished children so they do not linger as zombies
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie still answers kill(0)
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return True


def _new_folder(jobs_dir: Path, config: Experiment) -> Path:
    """A fresh job folder, named by time and run (a counter when two jobs are submitted in the same second)."""
    jobs_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{config.name}"
    for n in range(1000):
        folder = jobs_dir / (stem if n == 0 else f"{stem}-{n}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise JobRefused(f"too many jobs named {stem} this second; try again")


def submit_job(config: Experiment, out_dir: str | Path, jobs_dir: str | Path | None = None) -> Job:
    """Queue a training run (refused when the same setting is already waiting or running) and start it at
    once if there is room."""
    root = Path(jobs_dir or default_jobs_dir())
    same = [j for j in list_jobs(root) if j.status.waiting_or_active and j.info.get("config") == config.to_dict()]
    if same:
        raise JobRefused(f"the same setting is already {same[0].status.value} ({same[0].name}, submitted "
                         f"{time.strftime('%H:%M:%S', time.localtime(same[0].info.get('submitted', 0)))})")  # fmt: skip
    folder = _new_folder(root, config)
    out = Path(out_dir).resolve()
    command = [sys.executable, "-m", "core", "train", config.task, *config.to_args(always=("model",)),
               "--out", str(out), "--progress-file", str(folder / PROGRESS_FILE)]  # fmt: skip
    info = {"out_dir": str(out), "config": config.to_dict(), "command": command, "submitted": time.time()}
    atomic_write_json(folder / JOB_FILE, info)
    dispatch(root)
    job = read_job(folder)
    assert job is not None
    return job


def _launch(job: Job) -> None:
    with open(job.folder / LOG_FILE, "wb") as log:
        # A new session: the run survives a page reload and is not killed with the script thread.
        proc = subprocess.Popen(job.info["command"], cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, env=job_environment())  # fmt: skip
    job.info.update(pid=proc.pid, started=time.time())
    atomic_write_json(job.folder / JOB_FILE, job.info)


def dispatch(jobs_dir: str | Path | None = None) -> list[Job]:
    """Start the oldest queued jobs while fewer than max_running() are active; returns the jobs started. One
    dispatcher at a time (a lock in the jobs folder), so two pages never start the same job twice."""
    root = Path(jobs_dir or default_jobs_dir())
    if not root.is_dir():
        return []
    fd = os.open(root / ".dispatch.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        jobs = list_jobs(root)
        active = sum(j.status.active for j in jobs)
        queued = sorted((j for j in jobs if j.status is RunStatus.QUEUED), key=lambda j: j.info.get("submitted", 0))
        started = queued[: max(0, max_running() - active)]
        for job in started:
            _launch(job)
        return started
    finally:
        os.close(fd)


def job_ended(progress_file: str | Path) -> list[Job]:
    """A job's training process is ending (however it ends): start the next queued jobs of its queue."""
    return dispatch(Path(progress_file).parent.parent)


def measure_in_background(config: Experiment) -> str | None:
    """Start `python -m core probe` for this setting's training speed (core.engine.probe), unless it is cached
    or already being measured; the app shows the figure when the cached result appears. Returns why the last
    probe of this setting ended without a result (its log's last line; the next call tries again), else None."""
    from .engine.probe import cached_training_probe, training_key
    from .inference.modes import probe_file

    if cached_training_probe(config) is not None:
        return None
    marker = probe_file(training_key(config)).with_suffix(".pid")
    log = marker.with_suffix(".log")
    marker.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)  # one launcher per setting
    except FileExistsError:
        try:
            pid = int(marker.read_text() or 0)
        except (OSError, ValueError):
            pid = 0
        if pid == 0 or _alive(pid):
            return None  # being launched or measuring now
        if cached_training_probe(config) is not None:
            return None
        marker.unlink(missing_ok=True)
        lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
        return f"the speed measurement ended without a result ({lines[-1] if lines else 'no output'})"
    setting = Experiment(task=config.task, model=config.model, img_size=config.img_size, freeze=config.freeze,
                         pretrained=config.freeze != "none", batch_size=config.batch_size)  # fmt: skip
    command = [sys.executable, "-m", "core", "probe", config.task, *setting.to_args(always=("model",))]
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, env=job_environment())  # fmt: skip
    os.write(fd, str(proc.pid).encode())
    os.close(fd)
    return None


def read_job(folder: Path) -> Job | None:
    try:
        info = json.loads((folder / JOB_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(info, dict) or not isinstance(info.get("config"), dict):
        return None
    try:
        progress = json.loads((folder / PROGRESS_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        progress = {}
    return Job(folder, info, progress if isinstance(progress, dict) else {})


def list_jobs(jobs_dir: str | Path | None = None) -> list[Job]:
    """All jobs, newest first."""
    root = Path(jobs_dir or default_jobs_dir())
    if not root.is_dir():
        return []
    jobs = [read_job(f) for f in sorted(root.iterdir(), reverse=True) if f.is_dir()]
    return [j for j in jobs if j is not None]


def cancel_job(job: Job) -> None:
    """Stop a running job (SIGTERM: it records "cancelled"), or take a queued one out of the queue."""
    if job.status is RunStatus.QUEUED:
        job.info["cancelled"] = True
        atomic_write_json(job.folder / JOB_FILE, job.info)
    elif job.status.active:
        try:
            os.killpg(int(job.info["pid"]), signal.SIGTERM)
        except ProcessLookupError:
            pass


def delete_job(job: Job) -> None:
    """Forget a job that did not finish (failed, died or cancelled): its folder, and the resumable state it left
    beside its run folder. A finished run's results are never deleted here."""
    if job.status.waiting_or_active or job.status is RunStatus.FINISHED:
        raise JobRefused(f"{job.name} is {job.status.value}; only a failed or stopped run can be deleted")
    out = Path(job.info["out_dir"])
    shutil.rmtree(partial_dir(out), ignore_errors=True)
    lock_path(out).unlink(missing_ok=True)
    shutil.rmtree(job.folder, ignore_errors=True)
