"""Precision and memory layout of a model, chosen by measurement.

Which of fp32/bf16 and NCHW/channels-last is fastest depends on the CPU (AVX512-BF16/AMX or not), the network
and the input size: on one 2-core Xeon channels-last fp32 trains MobileNetV2 1.4x faster than channels-last bf16,
while ResNet-18 is fastest in bf16. So `auto` measures. The first time a combination (device, CPU model,
architecture, input size, freeze depth, batch size, training or inference) is seen, a few real steps of every mode
the device supports are timed, interleaved so a load change hits every mode alike, and the result is cached on
disk (one small JSON per combination) for every later run, page and process.

This module owns the choice: the cache (`probed`: the stored result of a key, else measured once and stored),
the pick among the modes a setting allows (`ProbeResult.fastest`), and the entry point for inference,
`inference_mode`. The entry point for training, `core.engine.probe.training_mode`, times training steps (which
need the optimiser, so it lives with the training code) through the same `probed`. A `Mode` itself is part of
core.inference.runtime, which runs models in one.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..config import Experiment
from ..data.cache import cache_dir, make_cache_folder
from ..runs.files import atomic_write_json
from .runtime import FP32, Mode, bf16_supported

__all__ = ["FP32", "Mode", "ProbeResult", "candidate_modes", "inference_mode", "probed"]

log = logging.getLogger(__name__)

PROBE_VERSION = 1
# The probe's batch: the real one, but at most about this many input pixels, so ResNet-18 at 224 px times 8
# images a step (about 1 s here) and the whole probe stays near 10 s; per-image speed changes little above it.
PROBE_PIXELS = 400_000


def candidate_modes(precision: str, memory_format: str, dev: torch.device) -> list[Mode]:
    """The modes a setting allows on this device. bf16 asked for where the hardware lacks it runs in fp32 (as
    autocast always did here), with a warning."""
    precisions = ["fp32", "bf16"] if precision == "auto" else [precision]
    if "bf16" in precisions and not bf16_supported(dev):
        if precision == "bf16":
            log.warning("this %s has no bf16 support; running in fp32", dev.type)
        precisions = ["fp32"]
    formats = ["nchw", "channels-last"] if memory_format == "auto" else [memory_format]
    return [Mode(p, f) for p in precisions for f in formats]


def processor_name() -> str:
    """The CPU model (or the GPU's name): the probe's figures hold for this kind of chip only."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def probe_batch(config: Experiment, batch_size: int) -> int:
    return max(1, min(batch_size, max(8, PROBE_PIXELS // config.image_size**2)))


def probe_key(purpose: str, config: Experiment, batch_size: int, dev: torch.device) -> dict[str, Any]:
    """What a probe's result depends on. `purpose` is "train" (forward and backward) or "infer"."""
    return {
        "version": PROBE_VERSION,
        "purpose": purpose,
        "device": dev.type,
        "processor": processor_name(),
        # training runs in its own process with torch's default threads (unless OMP_NUM_THREADS says otherwise),
        # whatever this process set for itself (the app's server serves the webcam on one thread)
        "threads": torch.get_num_threads() if purpose == "infer" else os.environ.get("OMP_NUM_THREADS", "default"),
        "torch": torch.__version__,
        "task": config.task,
        "arch": config.arch,
        "img_size": config.image_size,
        "freeze": config.freeze,
        "batch_size": batch_size,
    }


@dataclass
class ProbeResult:
    """Images per second of every mode timed, the fastest of them, and (training probes) the forward-only speed
    of each mode that the epoch estimate uses for evaluation."""

    key: dict[str, Any]
    images_per_s: dict[str, float]
    batch: int
    seconds: float
    eval_images_per_s: dict[str, float] = field(default_factory=dict)
    measured: str = ""

    def fastest(self, allowed: Sequence[Mode]) -> Mode:
        timed = [m for m in allowed if m.name in self.images_per_s]
        if not timed:
            return allowed[0]
        return max(timed, key=lambda m: self.images_per_s[m.name])

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "images_per_s": self.images_per_s,
            "eval_images_per_s": self.eval_images_per_s,
            "batch": self.batch,
            "seconds": self.seconds,
            "measured": self.measured,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ProbeResult:
        def rates(value: Any) -> dict[str, float]:
            if not isinstance(value, dict) or not all(isinstance(v, (int, float)) and v > 0 for v in value.values()):
                raise ValueError("rates must be positive numbers")
            for name in value:
                Mode.parse(name)
            return {str(k): float(v) for k, v in value.items()}

        return cls(
            key=dict(d["key"]),
            images_per_s=rates(d["images_per_s"]),
            eval_images_per_s=rates(d.get("eval_images_per_s", {})),
            batch=int(d["batch"]),
            seconds=float(d["seconds"]),
            measured=str(d.get("measured", "")),
        )


def probe_file(key: dict[str, Any]) -> Path:
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir() / "probes" / f"{key['purpose']}-{key['arch']}-{key['img_size']}px-{digest}.json"


def cached_probe(key: dict[str, Any]) -> ProbeResult | None:
    """The stored probe for `key`, or None (never measured, or a damaged file: it is measured again)."""
    path = probe_file(key)
    try:
        result = ProbeResult.from_dict(json.loads(path.read_text()))
    except (FileNotFoundError, NotADirectoryError):  # never measured (or no cache folder: said when it is stored)
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring the damaged probe file %s (%s); measuring again", path, exc)
        return None
    return result if result.key == key else None


def store_probe(result: ProbeResult) -> None:
    path = probe_file(result.key)
    make_cache_folder(path.parent)  # $STUDY_CACHE_DIR naming a file or an unwritable place: one line
    atomic_write_json(path, result.to_dict())  # a reader sees the old file or the new one, never half of one


def probed(key: dict[str, Any], measure: Callable[[], ProbeResult], refresh: bool = False) -> ProbeResult:
    """The stored probe of `key`; measured (and stored for every later run, page and process) the first time, or
    again with `refresh`."""
    result = None if refresh else cached_probe(key)
    if result is None:
        result = measure()
        store_probe(result)
    return result


def time_interleaved(steps: dict[str, Callable[[], None]], budget_s: float, max_rounds: int = 5) -> dict[str, float]:
    """Median seconds of each step, timed in rounds (every step once a round) after one untimed warm-up each,
    so a change of load on a shared machine slows every mode alike. At least 2 rounds; more while the budget
    lasts."""
    warm = {}
    for name, step in steps.items():
        start = time.perf_counter()
        step()
        warm[name] = time.perf_counter() - start
    rounds = int(max(2, min(max_rounds, budget_s // max(sum(warm.values()), 1e-6))))
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def inference_mode(
    model: nn.Module,
    config: Experiment,
    batch_size: int = 1,
    precision: str = "auto",
    memory_format: str = "auto",
    budget_s: float = 1.5,
) -> tuple[Mode, ProbeResult | None]:
    """The mode to run `model` in for batches of `batch_size` (the model is converted to its layout). With
    precision or memory format `auto` the fastest forward pass is measured once per combination and cached.
    (The mode a model was trained in does not bind inference: the fastest forward pass may be another.)"""
    dev = next(model.parameters()).device
    allowed = candidate_modes(precision, memory_format, dev)
    result = None
    if len(allowed) > 1:
        key = probe_key("infer", config, batch_size, dev)
        result = probed(key, lambda: _probe_inference(model, config, key, batch_size, dev, budget_s))
    mode = result.fastest(allowed) if result else allowed[0]
    mode.prepare(model)
    return mode, result


def _probe_inference(
    model: nn.Module, config: Experiment, key: dict[str, Any], batch_size: int, dev: torch.device, budget_s: float
) -> ProbeResult:
    started = time.perf_counter()
    batch = probe_batch(config, batch_size)
    x = torch.rand(batch, 1, config.image_size, config.image_size, device=dev)
    modes = candidate_modes("auto", "auto", dev)
    twins = {fmt: Mode("fp32", fmt).prepare(copy.deepcopy(model).eval()) for fmt in {m.memory_format for m in modes}}

    def step(mode: Mode) -> Callable[[], None]:
        net, xs = twins[mode.memory_format], mode.inputs(x)

        def run() -> None:
            with torch.no_grad(), mode.autocast(dev):
                net(xs)

        return run

    seconds = time_interleaved({m.name: step(m) for m in modes}, budget_s, max_rounds=10)
    rates = {name: round(batch / s, 2) for name, s in seconds.items()}
    log.debug("inference probe %s %d px, batch %d: %s", config.arch, config.image_size, batch, rates)
    return ProbeResult(key, rates, batch, round(time.perf_counter() - started, 2), measured=time.strftime("%Y-%m-%d"))
