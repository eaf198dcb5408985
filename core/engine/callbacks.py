"""Training callbacks: how a CLI progress bar, a progress file and a Streamlit page share one loop."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from ..runs.files import atomic_write_json
from ..runs.status import RunStatus


class Callback:
    def on_train_begin(self, info: dict[str, Any]) -> None: ...
    def on_batch_end(self, epoch: int, step: int, steps: int, loss: float) -> None: ...
    def on_epoch_end(self, epoch: int, record: dict[str, Any]) -> None: ...
    def on_train_end(self, result: dict[str, Any]) -> None: ...


class TqdmProgress(Callback):
    """A progress bar per epoch on stderr, and one summary line per epoch."""

    def __init__(self):
        self.bar = None

    def on_batch_end(self, epoch, step, steps, loss):
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=steps, desc=f"epoch {epoch}", unit="batch", leave=False)
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{loss:.3f}")

    def on_epoch_end(self, epoch, record):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        from tqdm import tqdm

        tqdm.write(
            f"epoch {epoch}: train loss {record['train_loss']:.4f} acc {record['train_accuracy']:.4f} | "
            f"{record['eval_split']} loss {record['eval_loss']:.4f} acc {record['eval_accuracy']:.4f} "
            f"| {record['seconds']:.1f}s"
        )


class ProgressFile(Callback):
    """Writes the run's state to a JSON file (atomically, at most every `interval` seconds) for a page to poll."""

    def __init__(self, path: str | Path, interval: float = 0.5):
        self.path = Path(path)
        self.interval = interval
        self.state: dict[str, Any] = {"status": RunStatus.STARTING.value, "pid": os.getpid(), "history": []}
        self._last = 0.0

    def _write(self, force: bool = False) -> None:
        now = time.time()
        if force or now - self._last >= self.interval:
            self.state["updated"] = now
            atomic_write_json(self.path, self.state)
            self._last = now

    def on_train_begin(self, info):
        self.state.update(status=RunStatus.RUNNING.value, started=time.time(), **info)
        self._write(force=True)

    def on_batch_end(self, epoch, step, steps, loss):
        self.state.update(epoch=epoch, step=step, steps=steps, loss=loss)
        self._write()

    def on_epoch_end(self, epoch, record):
        self.state["history"].append(record)
        self._write(force=True)

    def on_train_end(self, result):
        self.state.update(status=RunStatus.FINISHED.value, **result)
        self._write(force=True)

    def fail(self, message: str) -> None:
        self.state.update(status=RunStatus.FAILED.value, error=message)
        self._write(force=True)


class TensorBoardEvents(Callback):
    """The run's curves as TensorBoard event files in its folder (`tensorboard/`), an epoch at a time, then its
    confusion matrix and HParams entry (core.runs.tensorboard). A resumed run continues its curves: the steps a
    killed run wrote past its last saved epoch are purged."""

    def __init__(self) -> None:
        self.events: Any = None

    def on_train_begin(self, info):
        from ..runs.tensorboard import EVENTS_DIR, writer

        if info.get("folder"):  # a run that keeps its files (not an in-memory probe)
            self.events = writer(Path(info["folder"]) / EVENTS_DIR, purge_step=info.get("first_epoch", 1))

    def on_epoch_end(self, epoch, record):
        from ..runs.tensorboard import write_epoch

        if self.events is not None:
            write_epoch(self.events, record)
            self.events.flush()

    def on_train_end(self, result):
        from ..runs.record import read_record
        from ..runs.tensorboard import EVENTS_DIR, write_summary, writer

        if self.events is None:
            return
        self.events.close()
        self.events = None
        if result.get("out_dir"):
            with writer(Path(result["out_dir"]) / EVENTS_DIR) as events:
                write_summary(events, read_record(result["out_dir"]))
