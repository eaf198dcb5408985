"""Training with its progress reported: a tqdm bar, TensorBoard events and, for an app job, the progress file."""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

from ..errors import StudyError


def run_with_progress(run: Callable[[list], Any], progress_file: str | None, progress_bar: bool = True) -> Any:
    """Run training; a progress file (the app's view of the run) learns how it ended, whatever happens."""
    from ..engine.callbacks import Callback, ProgressFile, TensorBoardEvents, TqdmProgress

    progress = ProgressFile(progress_file) if progress_file else None
    callbacks: list[Callback] = ([TqdmProgress()] if progress_bar else []) + ([progress] if progress else [])
    if progress_bar:  # the process that speaks for the run (rank 0 under torchrun) writes its TensorBoard events
        callbacks.append(TensorBoardEvents())

    def cancelled(signum: int, frame: object) -> None:
        raise KeyboardInterrupt("cancelled")

    signal.signal(signal.SIGTERM, cancelled)  # the app cancels runs with SIGTERM
    try:
        return run(callbacks)
    except StudyError as exc:
        if progress:
            progress.fail(str(exc))
        raise
    except KeyboardInterrupt:
        if progress:
            progress.fail("cancelled")
        raise
    except BaseException as exc:
        if progress:
            progress.fail(f"{type(exc).__name__}: {exc}")
        raise
