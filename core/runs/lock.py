"""One writer per run folder: an exclusive lock beside the folder, held while a run trains into it.

The lock is an OS file lock (flock) on `.NAME.lock`: it is released when its process exits, however it exits
(a SIGKILL included), so a stale lock never blocks anyone; the file's text names the holder for the message.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import StudyError


class RunFolderBusy(StudyError):
    """Another process is writing the same run folder."""


def lock_path(out_dir: Path) -> Path:
    return out_dir.parent / f".{out_dir.name}.lock"


@contextmanager
def run_folder_lock(out_dir: Path) -> Iterator[None]:
    """Hold the folder's writer lock for the duration, or raise RunFolderBusy naming the process that has it."""
    path = lock_path(out_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise RunFolderBusy(
                f"{out_dir} is being written by {holder}; wait for it or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()} (since {time.strftime('%H:%M:%S')})".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock; the file stays (removing it would race with a new holder)
