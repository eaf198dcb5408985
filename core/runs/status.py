"""The states of a training run, shared by the progress file, the job list and the app."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    STARTING = "starting"  # the process is up, training has not begun
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"  # said so itself (an error, divergence or a cancel), with a message
    DIED = "died"  # the process ended without saying how

    @property
    def active(self) -> bool:
        return self in (RunStatus.STARTING, RunStatus.RUNNING)
