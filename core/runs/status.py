"""The states of a training run, shared by the progress file, the job list and the app."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    QUEUED = "queued"  # waiting for its turn (the app runs a limited number at once)
    STARTING = "starting"  # the process is up, training has not begun
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"  # said so itself (an error, divergence or a cancel), with a message
    DIED = "died"  # the process ended without saying how

    @property
    def active(self) -> bool:
        """A process is training (or about to)."""
        return self in (RunStatus.STARTING, RunStatus.RUNNING)

    @property
    def waiting_or_active(self) -> bool:
        return self is RunStatus.QUEUED or self.active
