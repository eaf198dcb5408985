"""One training loop for every model: load_data, train_one_epoch, evaluate, run_experiment.

A run with an output directory trains in a partial folder beside it (core.runs.layout), saves its state there
after every epoch (one file, atomically), keeps the best epoch by validation accuracy (the last epoch when the
task has no validation split), can be resumed with results identical to an uninterrupted run, and is renamed
into place when it has finished. Task specifics come from
core.data.tasks (data, transform, preprocessing) and core.models (the network and its memory layout).
"""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..config import Experiment
from ..data import ferplus
from ..data.cache import load_split
from ..data.roots import reference as data_reference
from ..data.sources import ImageSplit, unseen_mask
from ..data.tasks import batch_transform, get_task
from ..data.transforms import BatchTransform
from ..errors import CheckpointError, ConfigError, DataSourceError, StudyError
from ..inference.modes import FP32, Mode
from ..inference.runtime import device, predict_logits
from ..inference.tta import tta_logits
from ..models import build_model, count_parameters
from ..runs.checkpoint import load_checkpoint, save_checkpoint, start_from_run
from ..runs.files import META_FILE, git_commit
from ..runs.layout import partial_dir, publish, recover
from ..runs.lock import run_folder_lock
from ..runs.record import DataInfo, RunRecord, SplitMetrics, read_record, record_from_dict
from . import distributed
from .averaging import make_ema
from .callbacks import Callback
from .distill import check_teachers, distillation_loss, training_targets
from .distributed import SINGLE, DistInfo
from .metrics import bootstrap_ci, classification_metrics, consensus_metrics
from .mixing import BatchMixer, make_mixer
from .optim import make_loss, make_optimizer, make_scheduler
from .probe import training_mode
from .resume import Best, Trainables, can_resume, load_last, save_last

log = logging.getLogger(__name__)


class TrainingDiverged(StudyError):
    """The loss became NaN or infinite: the run is stopped and never recorded as complete."""


def load_data(config: Experiment) -> dict[str, ImageSplit]:
    """Every split of the task, from the uint8 cache; train_limit/test_limit keep a prefix."""
    spec = get_task(config.task).spec
    return {
        name: load_split(spec, config.data, name).head(config.train_limit if name == "train" else config.test_limit)
        for name in spec.splits
    }


def train_one_epoch(
    parts: Trainables,
    loss_fn: nn.Module,
    data: ImageSplit,
    transform: BatchTransform,
    config: Experiment,
    epoch: int,
    *,
    network: nn.Module | None = None,
    callbacks: Iterable[Callback] = (),
    info: DistInfo = SINGLE,
    aug_generator: torch.Generator | None = None,
    mode: Mode = FP32,
    targets: torch.Tensor | None = None,
    mixer: BatchMixer | None = None,
) -> dict[str, Any]:
    """One pass over the training split, in `mode` (precision and layout), stepping `parts` (the network, its
    optimiser and schedule, the weight average). `parts.generator` orders the split (the same on every rank);
    augmentation draws from `aug_generator` (per rank; in one process the same generator). `network` is what runs
    forward and backward when it is not `parts.model` itself (the DistributedDataParallel wrapper). With
    `targets` (the teachers' soft targets, a row per training image), the loss is the distillation loss; with
    `mixer`, the batches are blended (MixUp / CutMix) and so are their labels."""
    model = network or parts.model
    optimizer, generator, ema = parts.optimizer, parts.generator, parts.ema
    model.train()
    dev = next(model.parameters()).device
    loss_fn = loss_fn.to(dev)
    order = torch.randperm(len(data), generator=generator)
    steps = distributed.steps_per_epoch(len(data), config.batch_size, info)
    augment = aug_generator or generator
    total_loss, correct, seen = 0.0, 0, 0
    for step in range(steps):
        idx = distributed.shard(order, step, config.batch_size, info)
        x = transform.train(data.images[idx], augment).to(dev, non_blocking=True)
        y = data.labels[idx].to(dev, non_blocking=True)
        y_loss = data.targets[idx].to(dev) if data.targets is not None else y  # soft labels (FER+ votes) or classes
        x, y_loss = mixer(x, y_loss, augment) if mixer is not None else (x, y_loss)
        with mode.autocast(dev):
            logits = model(mode.inputs(x))
        logits = logits.float()  # the losses in fp32 whatever the autocast precision
        loss = loss_fn(logits, y_loss)
        if targets is not None:
            loss = distillation_loss(loss, logits, targets[idx].to(dev), config)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        parts.scheduler.step()
        if ema is not None:
            ema.update_parameters(model)  # a DistributedDataParallel wrapper yields its network's tensors, in order
        value = loss.item()
        if not math.isfinite(value):
            raise TrainingDiverged(
                f"the loss became {value} in epoch {epoch}, step {step + 1}; the run is stopped "
                f"(try a lower learning rate than {config.lr:g})"
            )
        total_loss += value * len(idx)
        correct += int((logits.argmax(1) == y).sum().item())
        seen += len(idx)
        for cb in callbacks:
            cb.on_batch_end(epoch, step + 1, steps, value)
    loss_sum, correct_sum, count = distributed.reduce_sum([total_loss, correct, seen], info)  # over every rank
    return {
        "train_loss": loss_sum / max(count, 1),
        "train_accuracy": correct_sum / max(count, 1),
        "lr": optimizer.param_groups[0]["lr"],
    }


def evaluate(
    model: nn.Module,
    data: ImageSplit,
    transform: BatchTransform,
    mode: Mode = FP32,
    train: ImageSplit | None = None,
    confidence: bool = False,
    tta: str = "none",
) -> dict[str, Any]:
    """Loss and classification metrics on a split, in `mode`; with `train`, also on the images unseen in train;
    with `confidence`, a 95 % bootstrap interval on accuracy; `tta` averages views of each image (flip, ten-crop:
    core.inference.tta)."""
    model.eval()
    if tta == "none":
        logits = predict_logits(model, data.images, transform.eval, mode)
    else:
        logits = tta_logits(model, data.images, transform.eval, mode, tta)
    return split_metrics(logits, data, train, confidence)


def split_metrics(
    logits: torch.Tensor, data: ImageSplit, train: ImageSplit | None = None, confidence: bool = False
) -> dict[str, Any]:
    """`evaluate`'s metrics from a split's logits (or log-probabilities, e.g. an ensemble's)."""
    preds = logits.argmax(1)
    metrics = classification_metrics(data.labels.numpy(), preds.numpy(), data.classes)
    metrics["loss"] = float(F.cross_entropy(logits, data.labels).item()) if len(data) else float("nan")
    metrics["split"] = data.split
    metrics["split_origin"] = data.origin
    probabilities = logits.float().softmax(1)
    if data.votes is not None:  # FER+: how the predictions agree with the ten annotators
        metrics["ferplus"] = consensus_metrics(probabilities, data.votes)
    if confidence:
        metrics["ci_low"], metrics["ci_high"] = bootstrap_ci((preds == data.labels).numpy())
    if train is not None:
        mask = unseen_mask(data, train)
        metrics["unseen"] = unseen_metrics(preds, data, mask)
        if data.votes is not None:
            metrics["ferplus"]["unseen"] = consensus_metrics(probabilities, data.votes, mask)
    return metrics


def unseen_metrics(preds: torch.Tensor, data: ImageSplit, mask: torch.Tensor) -> dict[str, Any]:
    """Accuracy (with a 95 % bootstrap interval) on the images of `data` whose exact pixels occur nowhere in
    train (`mask`: core.data.sources.unseen_mask): notMNIST and FER-2013 both repeat images across their splits,
    and a model can be right on those from memory."""
    correct = (preds[mask] == data.labels[mask]).numpy()
    if not mask.any():
        return {"n": 0, "accuracy": None}
    low, high = bootstrap_ci(correct)
    return {"n": int(mask.sum()), "accuracy": float(correct.mean()), "ci_low": low, "ci_high": high}


def device_for(info: DistInfo) -> torch.device:
    """This process's device: its LOCAL_RANK's GPU under torchrun with nccl, else the usual one."""
    return torch.device("cuda", info.local_rank) if info.backend == "nccl" else device()


def _agreed_mode(config: Experiment, train_images: int, info: DistInfo) -> tuple[Mode, Any]:
    """The training mode; under torchrun rank 0 probes first and the others then read its cached result, so
    every rank trains in the same mode (ranks on another node with their own cache may measure their own)."""
    if info.is_main:
        chosen = training_mode(config, train_images)
    distributed.barrier(info)
    if not info.is_main:
        chosen = training_mode(config, train_images)
    return chosen


def _runtime(config: Experiment, mode: Mode, probe: Any) -> dict[str, Any]:
    """What meta.json says about the mode: which, why, and the probe's figures where one chose it."""
    out: dict[str, Any] = {"precision": mode.precision, "memory_format": mode.memory_format}
    if probe is None:
        out["chosen_by"] = "setting" if config.precision != "auto" and config.memory_format != "auto" else "default"
    else:
        out.update(chosen_by="probe", probe=probe.to_dict())
    return out


def selection_score(config: Experiment, ev: dict[str, Any]) -> float:
    """What picks the best epoch: accuracy on the labels trained on (FER+: the annotators' plurality)."""
    if config.labels == "fer2013":
        return float(ev["accuracy"])
    if not ev.get("ferplus") or ev["ferplus"]["majority_accuracy"] is None:
        raise DataSourceError(f"--labels {config.labels}: the {ev['split']} split has no FER+ votes to select on")
    return float(ev["ferplus"]["majority_accuracy"])


def _check_finite(model: nn.Module, epoch: int) -> None:
    if not all(torch.isfinite(p).all() for p in model.parameters()):
        raise TrainingDiverged(f"a weight became NaN or infinite in epoch {epoch}; the run is stopped")


def run_experiment(
    config: Experiment,
    out_dir: str | Path | None = None,
    callbacks: Iterable[Callback] = (),
    data: dict[str, ImageSplit] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    dist_info: DistInfo = SINGLE,
) -> tuple[nn.Module, RunRecord]:
    """Train `config` to the end and evaluate it. With out_dir: one writer at a time (a lock), state saved every
    epoch in a partial folder beside it (resumable), and the finished run renamed into place. A finished run
    already there is refused unless `overwrite`; with `resume` it is returned as it is (nothing to resume).
    Under torchrun (`dist_info`), every rank trains its shard and only rank 0 writes."""
    main = dist_info.is_main
    callbacks = list(callbacks) if main else []
    if config.teachers:  # a wrong teacher is said before any data is read or folder made
        check_teachers(config, list(get_task(config.task).spec.classes))
    if out_dir is None:
        model, run = _train(config, None, None, callbacks, data, dist_info)
    else:
        out = Path(out_dir)
        with run_folder_lock(out) if main else contextlib.nullcontext():
            if main:
                recover(out)
            distributed.barrier(dist_info)
            if (out / META_FILE).exists() and not overwrite:  # every rank decides the same from the same files
                try:
                    finished = read_record(out)
                except CheckpointError as exc:
                    raise CheckpointError(f"{exc} (--overwrite replaces that folder)") from None
                if resume:
                    log.info("%s already holds the finished run; nothing to resume", out)
                    return load_checkpoint(out)
                raise ConfigError(
                    f"{out} already holds a finished run ({finished.name}); pass --overwrite to replace it, or "
                    "choose another --out"
                )
            if not resume and main:
                shutil.rmtree(partial_dir(out), ignore_errors=True)
            distributed.barrier(dist_info)
            work = partial_dir(out)
            model, run = _train(config, work if main else None, work if resume else None, callbacks, data, dist_info)
            if main:
                publish(out)
                run.path = out
            distributed.barrier(dist_info)
    test: SplitMetrics | None = run.test
    for cb in callbacks:
        cb.on_train_end(
            {
                "accuracy": test.accuracy if test else None,
                "out_dir": str(run.path) if run.path else None,
                "training_seconds": run.training_seconds,
            }
        )
    return model, run


@dataclass
class _Training:
    """What the epoch loop works with, built once by `_set_up`."""

    config: Experiment
    info: DistInfo
    loaded: dict[str, ImageSplit]  # as read (the unseen-in-train figures compare with its train split)
    splits: dict[str, ImageSplit]  # the same, with the train split relabelled for the run's label source
    select_on: str  # the split that picks the best epoch
    device: torch.device
    mode: Mode
    probe: Any
    parts: Trainables
    network: nn.Module  # what runs forward and backward (under torchrun, the DDP wrapper of parts.model)
    loss_fn: nn.Module
    transform: BatchTransform
    steps: int
    aug_generator: torch.Generator | None
    targets: torch.Tensor | None
    mixer: BatchMixer | None

    @property
    def train(self) -> ImageSplit:
        return self.splits["train"]

    @property
    def kept(self) -> nn.Module:
        """The network evaluated every epoch and saved: the weight average where the run keeps one."""
        return self.parts.ema.module if self.parts.ema is not None else self.parts.model


def _train(
    config: Experiment,
    out: Path | None,
    resume_from: Path | None,
    callbacks: list[Callback],
    data: dict[str, ImageSplit] | None,
    info: DistInfo,
) -> tuple[nn.Module, RunRecord]:
    """The training itself. With `out` (the partial folder, rank 0's), the resume state goes there after every
    epoch and, at the end, the weights and then the record; with `resume_from`, every rank continues from the
    state there (if there is one yet)."""
    run = _set_up(config, data, info, out or resume_from)
    history: list[dict[str, Any]] = []
    best = Best()
    first_epoch = 1
    if resume_from is not None and can_resume(resume_from):
        done, history, best = load_last(resume_from, config, run.parts, info.world_size)
        first_epoch = done + 1
    run.network = distributed.wrap(run.parts.model, info)  # gradients averaged over the ranks
    for cb in callbacks:
        cb.on_train_begin(
            {
                "run": config.name,
                "config": config.to_dict(),
                "epochs": config.epochs,
                "first_epoch": first_epoch,
                "folder": str(out) if out is not None else None,
                "steps": run.steps,
                "sizes": {k: len(v) for k, v in run.splits.items()},
            }
        )
    started = time.time()
    best = _epochs(run, first_epoch, history, best, out, callbacks)
    return _finish(run, history, best, out, time.time() - started)


def _set_up(config: Experiment, data: dict[str, ImageSplit] | None, info: DistInfo, folder: Path | None) -> _Training:
    """Seeds, data, the training mode, the network and everything that steps it."""
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    # In one process the order and the augmentation share one generator (as they always have); each rank of
    # several draws its augmentation from its own.
    aug_generator = torch.Generator().manual_seed(config.seed * 1000 + info.rank) if info.enabled else None
    loaded = data or load_data(config)
    if config.labels != "fer2013":
        ferplus.require_votes(loaded)
    train = ferplus.relabel(loaded["train"], config.labels)  # FER+ labels: the faces they keep, relabelled
    if config.labels != "fer2013":
        log.info("FER+ labels (%s): %s", config.labels, train.origin)
    dev = device_for(info)
    mode, probe = _agreed_mode(config, len(train), info)
    model = build_model(config, num_classes=len(train.classes), load_weights=not config.init_from)
    if config.init_from:
        start_from_run(model, config, list(train.classes))
    model = mode.prepare(model.to(dev))
    optimizer = make_optimizer(model, config)
    steps = distributed.steps_per_epoch(len(train), config.batch_size, info)
    scheduler = make_scheduler(optimizer, config, steps)
    # (built in this order since the first runs; none of them draws from the seeded generators)
    loss_fn, transform = make_loss(config, train), batch_transform(config)
    targets = training_targets(config, train, folder) if config.teachers else None
    mixer = make_mixer(config, len(train.classes))
    parts = Trainables(model, optimizer, scheduler, generator, make_ema(model, config))
    return _Training(
        config=config,
        info=info,
        loaded=loaded,
        splits={**loaded, "train": train},
        select_on="validation" if "validation" in loaded else "test",
        device=dev,
        mode=mode,
        probe=probe,
        parts=parts,
        network=model,
        loss_fn=loss_fn,
        transform=transform,
        steps=steps,
        aug_generator=aug_generator,
        targets=targets,
        mixer=mixer,
    )


def _epochs(
    run: _Training, first_epoch: int, history: list[dict[str, Any]], best: Best, out: Path | None,
    callbacks: list[Callback],
) -> Best:  # fmt: skip
    """The epoch loop: train, evaluate on the selection split, keep the best, save the resume state."""
    config = run.config
    for epoch in range(first_epoch, config.epochs + 1):
        t0 = time.time()
        epoch_log = train_one_epoch(
            run.parts, run.loss_fn, run.train, run.transform, config, epoch,
            network=run.network, callbacks=callbacks, info=run.info, aug_generator=run.aug_generator,
            mode=run.mode, targets=run.targets, mixer=run.mixer,
        )  # fmt: skip
        _check_finite(run.parts.model, epoch)
        ev = evaluate(run.kept, run.splits[run.select_on], run.transform, run.mode)
        score = selection_score(config, ev)
        epoch_log.update(
            epoch=epoch,
            eval_split=run.select_on,
            eval_loss=ev["loss"],
            eval_accuracy=ev["accuracy"],
            eval_macro_f1=ev["macro_f1"],
            seconds=time.time() - t0,
        )
        if ev.get("ferplus"):
            epoch_log["eval_ferplus_accuracy"] = ev["ferplus"]["majority_accuracy"]
        history.append(epoch_log)
        # Keep the best epoch by validation accuracy. Without a validation split (notMNIST) nothing is
        # selected on test: the last epoch is the model.
        if run.select_on != "validation" or score > best.accuracy:
            best = Best(epoch, score, {k: v.detach().cpu().clone() for k, v in run.kept.state_dict().items()})
        if out is not None:
            save_last(out, config, run.parts, epoch, history, best, run.info.world_size)
        for cb in callbacks:
            cb.on_epoch_end(epoch, epoch_log)
    return best


def held_out_metrics(
    model: nn.Module, splits: dict[str, ImageSplit], transform: BatchTransform, mode: Mode, train: ImageSplit
) -> dict[str, dict[str, Any]]:
    """A finished model's metrics on every split but train (with a confidence interval and the unseen-in-train
    figures), as its record keeps them."""
    return {
        name: evaluate(model, split, transform, mode, confidence=True, train=train)
        for name, split in splits.items()
        if name != "train"
    }


def data_info(splits: dict[str, ImageSplit]) -> DataInfo:
    """What a record says of the data a model was trained and measured on."""
    train = splits["train"]
    sizes = {k: len(v) for k, v in splits.items()}
    return DataInfo(train.source, sizes, {k: v.origin for k, v in splits.items()}, data_reference(train.source))


def checked_metrics(record: RunRecord, metrics: dict[str, dict[str, Any]]) -> dict[str, SplitMetrics]:
    """The metrics through the record's own validation, so what is saved is what every reader accepts."""
    return record_from_dict({**record.to_dict(), "metrics": metrics}, Path("meta.json")).metrics


def _finish(
    run: _Training, history: list[dict[str, Any]], best: Best, out: Path | None, seconds: float
) -> tuple[nn.Module, RunRecord]:
    """The kept epoch's weights, evaluated on every held-out split, and the run's record (saved with `out`)."""
    config, model, info = run.config, run.parts.model, run.info
    if best.weights is not None:
        model.load_state_dict(best.weights)
    final = held_out_metrics(model, run.splits, run.transform, run.mode, run.loaded["train"])
    train = run.train
    record = RunRecord(
        config=config,
        classes=list(train.classes),
        preprocessing=get_task(config.task).preprocessing(config),
        data=data_info(run.splits),
        history=history,
        metrics={},
        best_epoch=best.epoch,
        selected_on=run.select_on if run.select_on == "validation" else "last epoch",
        num_parameters=count_parameters(model),
        trainable_parameters=count_parameters(model, trainable=True),
        training_seconds=round(sum(h["seconds"] for h in history), 1),
        seconds_this_session=round(seconds, 1),
        device=str(run.device),
        torch_version=torch.__version__,
        git_commit=git_commit(),
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        complete=True,
        world_size=info.world_size,
        global_batch=config.batch_size * info.world_size,
        runtime=_runtime(config, run.mode, run.probe),
    )
    record.metrics = checked_metrics(record, final)
    if out is not None:
        save_checkpoint(out, model.cpu(), record)  # weights, then the record: the run is finished
    return model, record
