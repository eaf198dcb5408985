"""Where a finished run's data is on this machine, for the commands that read it again (evaluate, calibrate,
explain): `--data` when given, else the recorded source, found through the data roots when the recorded path is
not here (core.data.roots.locate)."""

from __future__ import annotations

from ..data.roots import locate
from ..data.tasks import get_task
from .record import RunRecord


def run_data_source(record: RunRecord, given: str | None = None) -> str | None:
    """The source to read `record`'s splits from; None leaves it to the task's default ($FER_DATA, the hub)."""
    if given:
        return given
    if not record.data.source:
        return None
    return locate(get_task(record.task).spec, record.task, record.data.source, record.data.portable)
