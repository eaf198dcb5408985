"""Where a run lives while it trains, and how it takes its place when it is done.

A run into `out/` trains in the sibling `.out.partial/` (best weights, and `last/` for --resume). When it has
finished, its weights and record are written there, and it is renamed into place: an older finished run in
`out/` is first renamed aside to `.out.old/` and removed after. So `out/` is always either the old run whole,
the new run whole, or (for an instant) absent, and a kill at any moment loses at most the epoch in progress.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .files import META_FILE, fault_point

LAST_DIR = "last"  # per-epoch state for --resume, inside the partial folder; removed when the run is published


def partial_dir(out_dir: Path) -> Path:
    return out_dir.parent / f".{out_dir.name}.partial"


def old_dir(out_dir: Path) -> Path:
    return out_dir.parent / f".{out_dir.name}.old"


def is_published_run(folder: Path) -> bool:
    """A partial folder whose record is written: the run finished and only the rename into place is left."""
    return (folder / META_FILE).is_file()


def publish(out_dir: Path) -> None:
    """Rename the finished partial folder into place (the previous run, if any, aside first, then removed)."""
    work, old = partial_dir(out_dir), old_dir(out_dir)
    shutil.rmtree(work / LAST_DIR, ignore_errors=True)
    if out_dir.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out_dir, old)
        fault_point("publish")
    os.replace(work, out_dir)
    shutil.rmtree(old, ignore_errors=True)


def recover(out_dir: Path) -> None:
    """Finish what a kill interrupted: a partial folder with its record written is published; a previous run
    set aside while the new one was renamed into place is removed (or put back if nothing replaced it)."""
    work, old = partial_dir(out_dir), old_dir(out_dir)
    if work.is_dir() and is_published_run(work):
        publish(out_dir)
    elif old.is_dir():
        if out_dir.exists():
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(old, out_dir)
    legacy = out_dir / LAST_DIR  # a run in progress from before partial folders: continue it there
    if legacy.is_dir() and not (out_dir / META_FILE).exists() and not work.exists():
        os.replace(out_dir, work)
