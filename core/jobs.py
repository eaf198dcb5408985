"""Training runs in background processes, so a web page stays responsive and a reload loses nothing.

Each job is a folder holding its config, a progress file the training process rewrites atomically,
and its log. Any page (or a later server) rebuilds the job list from those folders alone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Experiment
from .errors import StudyError
from .runs.files import atomic_write_json
from .runs.status import RunStatus

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RUNS_ENV_VAR = "STUDY_RUNS_DIR"


def runs_dir() -> Path:
    """Where runs started from the app go: $STUDY_RUNS_DIR, else checkpoints/runs (git-ignored)."""
    return Path(os.environ.get(RUNS_ENV_VAR) or PROJECT_ROOT / "checkpoints" / "runs")


def default_jobs_dir() -> Path:
    return runs_dir() / ".jobs"  # a dot folder: never mistaken for a checkpoint


@dataclass
class Job:
    folder: Path
    info: dict[str, Any]  # job.json: pid, out_dir, config, started
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
        """What the progress file says; DIED when the process ended without saying how."""
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
    def fraction(self) -> float:
        """Share of the whole run done, from epochs and steps."""
        p = self.progress
        epochs = p.get("epochs") or self.info["config"]["epochs"]
        if self.status is RunStatus.FINISHED:
            return 1.0
        done = len(p.get("history", []))
        steps = p.get("steps") or 0
        within = (p.get("step", 0) / steps) if steps and p.get("epoch") == done + 1 else 0.0
        return min(1.0, (done + within) / epochs)

    def log_tail(self, lines: int = 5) -> str:
        log = self.folder / "log.txt"
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


def start_job(config: Experiment, out_dir: str | Path, jobs_dir: str | Path | None = None) -> Job:
    folder = Path(jobs_dir or default_jobs_dir()) / f"{time.strftime('%Y%m%d-%H%M%S')}-{config.name}"
    folder.mkdir(parents=True, exist_ok=False)
    atomic_write_json(folder / "config.json", config.to_dict())
    command = [
        sys.executable,
        "-m",
        "core",
        "train",
        config.task,
        *config.to_args(always=("model",)),
        "--out",
        str(Path(out_dir).resolve()),
        "--progress-file",
        str(folder / "progress.json"),
    ]
    with open(folder / "log.txt", "wb") as log:
        # A new session: the run survives a page reload and is not killed with the script thread.
        proc = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    info = {
        "pid": proc.pid,
        "out_dir": str(Path(out_dir).resolve()),
        "config": config.to_dict(),
        "command": command,
        "started": time.time(),
    }
    atomic_write_json(folder / "job.json", info)
    return Job(folder, info, {})


def read_job(folder: Path) -> Job | None:
    try:
        info = json.loads((folder / "job.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    try:
        progress = json.loads((folder / "progress.json").read_text())
    except (OSError, json.JSONDecodeError):
        progress = {}
    return Job(folder, info, progress)


def list_jobs(jobs_dir: str | Path | None = None) -> list[Job]:
    """All jobs, newest first."""
    root = Path(jobs_dir or default_jobs_dir())
    if not root.is_dir():
        return []
    jobs = [read_job(f) for f in sorted(root.iterdir(), reverse=True) if f.is_dir()]
    return [j for j in jobs if j is not None]


def cancel_job(job: Job) -> None:
    if job.status.active:
        try:
            os.killpg(int(job.info["pid"]), signal.SIGTERM)
        except ProcessLookupError:
            pass
