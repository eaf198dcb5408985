"""The training probe: a few real training steps (transform, forward, backward, optimiser) of every precision and
memory layout this device supports, for one setting; the fastest is the mode `auto` trains in, and the figures
are the epoch-time estimate the app shows. `training_mode` is the one entry point for training; the cache and the
pick are core.inference.modes' (`probed`, `ProbeResult.fastest`). `python -m core probe` measures one from the
command line, and the app runs that in the background, never inside a page.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..config import NOTMNIST_MODELS, Experiment
from ..data.tasks import batch_transform, get_task
from ..inference.modes import (
    Mode,
    ProbeResult,
    cached_probe,
    candidate_modes,
    probe_batch,
    probe_key,
    probed,
    time_interleaved,
)
from ..inference.runtime import device
from ..models import build_model
from .optim import make_optimizer

log = logging.getLogger(__name__)

PROBE_MIN_IMAGES = 20_000  # a shorter run takes about as long as the probe would
BUDGET_S = 5.0  # timed rounds stop here (warm-up steps and the evaluation come on top): about 10 s in all


def training_key(config: Experiment, dev: torch.device | None = None) -> dict:
    return probe_key("train", config, config.batch_size, dev or device())


def cached_training_probe(config: Experiment) -> ProbeResult | None:
    return cached_probe(training_key(config))


def training_probe(config: Experiment, budget_s: float = BUDGET_S, refresh: bool = False) -> ProbeResult:
    """The cached probe of this setting, measured (and cached) the first time or with `refresh`."""
    key = training_key(config)
    return probed(key, lambda: measure(config, key, budget_s), refresh)


def training_mode(config: Experiment, train_images: int | None = None) -> tuple[Mode, ProbeResult | None]:
    """The mode a run of `config` trains in: its fixed precision and layout, or the fastest measured of those
    `auto` allows (probed now if this machine has not timed the setting yet). A run of fewer than
    PROBE_MIN_IMAGES training images in all (`train_images` per epoch) is not worth a probe of its own: it uses
    a cached one, or fp32 in the layout that was fastest for its kind of network on every machine we measured."""
    allowed = candidate_modes(config.precision, config.memory_format, device())
    if len(allowed) == 1:
        return allowed[0], None
    cached = cached_training_probe(config)
    if cached is None and train_images is not None and train_images * config.epochs < PROBE_MIN_IMAGES:
        layout = "nchw" if config.arch in NOTMNIST_MODELS else "channels-last"
        return next((m for m in allowed if m == Mode("fp32", layout)), allowed[0]), None
    probe = cached or training_probe(config)
    return training_mode_of(config, probe), probe


def measure(config: Experiment, key: dict, budget_s: float = BUDGET_S) -> ProbeResult:
    """Time a training step and an evaluation forward pass of every mode, interleaved; random images at the
    dataset's decoded size go through the real batch transform (its cost is part of an epoch)."""
    started = time.perf_counter()
    dev = device()
    spec = get_task(config.task).spec
    classes = len(spec.classes)
    batch = probe_batch(config, config.batch_size)
    side = spec.image_size  # the decoded (cached) size: the transform resizes from there
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch, 1, side, side), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, classes, (batch,), generator=generator)
    transform = batch_transform(config)
    modes = candidate_modes("auto", "auto", dev)

    def steps_of(mode: Mode) -> tuple[Callable[[], None], Callable[[], None]]:
        torch.manual_seed(0)
        model = mode.prepare(build_model(config, classes, load_weights=False).to(dev))
        optimizer = make_optimizer(model, config)

        def train_step() -> None:
            model.train()
            x = mode.inputs(transform.train(images, generator).to(dev))
            with mode.autocast(dev):
                logits = model(x)
            loss = F.cross_entropy(logits.float(), labels.to(dev))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        def eval_step() -> None:
            model.eval()
            with torch.no_grad(), mode.autocast(dev):
                model(mode.inputs(transform.eval(images).to(dev)))

        return train_step, eval_step

    steps = {m.name: steps_of(m) for m in modes}
    train_s = time_interleaved({name: s[0] for name, s in steps.items()}, budget_s)
    # Evaluation is a few per cent of an epoch: timed for the fastest training mode only, to keep the probe short.
    fastest = min(train_s, key=lambda name: train_s[name])
    eval_s = time_interleaved({fastest: steps[fastest][1]}, 0.0)
    result = ProbeResult(
        key,
        {name: round(batch / s, 2) for name, s in train_s.items()},
        batch,
        round(time.perf_counter() - started, 2),
        eval_images_per_s={name: round(batch / s, 2) for name, s in eval_s.items()},
        measured=time.strftime("%Y-%m-%d %H:%M"),
    )
    log.info(
        "training probe %s %d px batch %d (%.1f s): %s", config.arch, config.image_size, batch, result.seconds,
        ", ".join(f"{k} {v:.0f} img/s" for k, v in result.images_per_s.items()),
    )  # fmt: skip
    return result


def training_mode_of(config: Experiment, probe: ProbeResult) -> Mode:
    """The mode a run of `config` trains in, given this setting's probe."""
    return probe.fastest(candidate_modes(config.precision, config.memory_format, device()))


def run_seconds(config: Experiment, probe: ProbeResult, sizes: dict[str, int]) -> tuple[float, float]:
    """(seconds per epoch, seconds for the whole run) of `config` on splits of these sizes, in the mode it trains
    in: every epoch trains on train and evaluates the selection split (validation, else test); at the end every
    held-out split is evaluated once more."""
    mode = training_mode_of(config, probe)
    # a forward pass is about a third of a training step (measured 3.6-5x here) where only another mode was timed
    eval_rate = probe.eval_images_per_s.get(mode.name) or probe.images_per_s[mode.name] * 3
    selection = sizes.get("validation", sizes.get("test", 0))
    per_epoch = sizes["train"] / probe.images_per_s[mode.name] + selection / eval_rate
    final = sum(n for name, n in sizes.items() if name != "train") / eval_rate
    return per_epoch, per_epoch * config.epochs + final
