"""One training loop for every model: load_data, train_one_epoch, evaluate, run_experiment.

A run with an output directory saves its state after every epoch (`last/`, atomically), keeps the best epoch
by validation accuracy as the checkpoint (the last epoch when the task has no validation split), and can be
resumed from `last/` with results identical to an uninterrupted run.
"""
from __future__ import annotations

import contextlib
import shutil
import time
from pathlib import Path
from typing import Any, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .callbacks import Callback
from .checkpoint import WEIGHTS_FILE, git_commit, save_checkpoint, save_weights
from .config import Experiment
from .data import DatasetSpec, ImageSplit, load_split, unseen_mask
from .metrics import bootstrap_ci, classification_metrics
from .models import build_model, count_parameters
from .transforms import make_batches

LAST_DIR = "last"  # per-epoch state for --resume; removed when the run completes
STATE_FILE = "train_state.pt"


def task_spec(task: str) -> DatasetSpec:
    from . import fer, notmnist

    return {"notmnist": notmnist.SPEC, "fer": fer.SPEC}[task]


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def bf16_supported(dev: torch.device) -> bool:
    if dev.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def autocast(dev: torch.device, enabled: bool):
    """bf16 autocast where the hardware has it (about 2x faster conv training on these CPUs)."""
    if enabled and bf16_supported(dev):
        return torch.autocast(dev.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def load_data(config: Experiment) -> dict[str, ImageSplit]:
    """Every split of the task, from the uint8 cache; train_limit/test_limit keep a prefix."""
    spec = task_spec(config.task)
    return {name: load_split(spec, config.data, name).head(config.train_limit if name == "train" else config.test_limit)
            for name in spec.splits}


def steps_per_epoch(n: int, config: Experiment) -> int:
    return (n + config.batch_size - 1) // config.batch_size


def make_optimizer(model: nn.Module, config: Experiment) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]  # frozen stages get no optimizer state
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay)
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, config: Experiment, steps: int):
    """Stepped after every batch, so every schedule is smooth in the curves and exact on resume."""
    total = config.epochs * steps
    if config.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    if config.lr_schedule == "step":
        every = config.step_size or max(1, config.epochs // 3)
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=every * steps, gamma=config.gamma)
    if config.lr_schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total)
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


def make_loss(config: Experiment, train: ImageSplit) -> nn.Module:
    weight = None
    if config.class_weights:  # inverse class frequency, mean 1 (disgusted is 1.5 % of FER-2013)
        counts = torch.bincount(train.labels, minlength=len(train.classes)).float().clamp(min=1)
        weight = counts.sum() / (len(counts) * counts)
    return nn.CrossEntropyLoss(weight=weight, label_smoothing=config.label_smoothing)


def train_one_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, scheduler, loss_fn: nn.Module,
                    data: ImageSplit, batches, config: Experiment, generator: torch.Generator, epoch: int,
                    callbacks: Iterable[Callback] = ()) -> dict[str, float]:
    model.train()
    dev = next(model.parameters()).device
    loss_fn = loss_fn.to(dev)
    order = torch.randperm(len(data), generator=generator)
    steps = steps_per_epoch(len(data), config)
    total_loss, correct = 0.0, 0
    for step in range(steps):
        idx = order[step * config.batch_size : (step + 1) * config.batch_size]
        x = batches.train(data.images[idx], generator).to(dev, non_blocking=True)
        y = data.labels[idx].to(dev, non_blocking=True)
        with autocast(dev, config.bf16):
            logits = model(x)
        loss = loss_fn(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total_loss += loss.item() * len(idx)
        correct += (logits.argmax(1) == y).sum().item()
        for cb in callbacks:
            cb.on_batch_end(epoch, step + 1, steps, loss.item())
    return {"train_loss": total_loss / len(data), "train_accuracy": correct / len(data),
            "lr": optimizer.param_groups[0]["lr"]}


@torch.no_grad()
def predict_logits(model: nn.Module, images_u8: torch.Tensor, transform, bf16: bool = True,
                   batch_size: int = 256) -> torch.Tensor:
    """Logits for uint8 images, through the evaluation transform, in batches."""
    model.eval()
    dev = next(model.parameters()).device
    out = []
    for start in range(0, len(images_u8), batch_size):
        x = transform(images_u8[start : start + batch_size]).to(dev)
        with autocast(dev, bf16):
            out.append(model(x).float().cpu())
    return torch.cat(out) if out else torch.empty(0, 0)


def evaluate(model: nn.Module, data: ImageSplit, batches, bf16: bool = True, train: ImageSplit | None = None,
             confidence: bool = False) -> dict[str, Any]:
    """Loss and classification metrics on a split; with `train`, also on the images unseen in train;
    with `confidence`, a 95 % bootstrap interval on accuracy."""
    logits = predict_logits(model, data.images, batches.eval, bf16)
    preds = logits.argmax(1)
    metrics = classification_metrics(data.labels.numpy(), preds.numpy(), data.classes)
    metrics["loss"] = float(F.cross_entropy(logits, data.labels).item()) if len(data) else float("nan")
    metrics["split"] = data.split
    metrics["split_origin"] = data.origin
    if confidence:
        metrics["ci_low"], metrics["ci_high"] = bootstrap_ci((preds == data.labels).numpy())
    if train is not None:
        mask = unseen_mask(data, train)
        metrics["unseen"] = {
            "n": int(mask.sum()),
            "accuracy": float((preds[mask] == data.labels[mask]).float().mean()) if mask.any() else None,
        }
    return metrics


def _save_last(out_dir: Path, model, optimizer, scheduler, generator, epoch, history, best) -> None:
    """Everything needed to continue after `epoch`, written atomically (weights first, state last)."""
    last = out_dir / LAST_DIR
    save_weights(last / WEIGHTS_FILE, model.state_dict())
    state = {"epoch": epoch, "history": history, "best_epoch": best["epoch"], "best_accuracy": best["accuracy"],
             "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
             "generator": generator.get_state(), "torch_rng": torch.get_rng_state()}
    tmp = last / f".{STATE_FILE}.tmp"
    torch.save(state, tmp)
    tmp.replace(last / STATE_FILE)


def _load_last(out_dir: Path, model, optimizer, scheduler, generator) -> tuple[int, list, dict]:
    from safetensors.torch import load_file

    last = out_dir / LAST_DIR
    state = torch.load(last / STATE_FILE, map_location="cpu", weights_only=True)  # never unpickles code
    model.load_state_dict(load_file(last / WEIGHTS_FILE))
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    best = {"epoch": state["best_epoch"], "accuracy": state["best_accuracy"], "weights": None}
    if (out_dir / WEIGHTS_FILE).exists():
        best["weights"] = load_file(out_dir / WEIGHTS_FILE)
    return state["epoch"], state["history"], best


def can_resume(out_dir: str | Path | None) -> bool:
    return out_dir is not None and (Path(out_dir) / LAST_DIR / STATE_FILE).is_file()


def run_experiment(config: Experiment, out_dir: str | Path | None = None, callbacks: Iterable[Callback] = (),
                   data: dict[str, ImageSplit] | None = None, resume: bool = False) -> tuple[nn.Module, dict[str, Any]]:
    """Train `config` to the end and evaluate it; with out_dir, checkpoint every epoch and keep the best."""
    callbacks = list(callbacks)
    out_dir = Path(out_dir) if out_dir is not None else None
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    splits = data or load_data(config)
    train = splits["train"]
    select_on = "validation" if "validation" in splits else "test"
    dev = device()
    model = build_model(config, num_classes=len(train.classes)).to(dev)
    if config.task == "fer":
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, config)
    steps = steps_per_epoch(len(train), config)
    scheduler = make_scheduler(optimizer, config, steps)
    loss_fn = make_loss(config, train)
    batches = make_batches(config)
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"epoch": None, "accuracy": -1.0, "weights": None}
    first_epoch = 1
    if resume and can_resume(out_dir):
        done, history, best = _load_last(out_dir, model, optimizer, scheduler, generator)
        first_epoch = done + 1
    for cb in callbacks:
        cb.on_train_begin({"run": config.name, "config": config.to_dict(), "epochs": config.epochs,
                           "first_epoch": first_epoch, "steps": steps,
                           "sizes": {k: len(v) for k, v in splits.items()}})
    started = time.time()
    for epoch in range(first_epoch, config.epochs + 1):
        t0 = time.time()
        record = train_one_epoch(model, optimizer, scheduler, loss_fn, train, batches, config, generator, epoch,
                                 callbacks)
        ev = evaluate(model, splits[select_on], batches, config.bf16)
        record.update(epoch=epoch, eval_split=select_on, eval_loss=ev["loss"], eval_accuracy=ev["accuracy"],
                      eval_macro_f1=ev["macro_f1"], seconds=time.time() - t0)
        history.append(record)
        # Keep the best epoch by validation accuracy. Without a validation split (notMNIST) nothing is
        # selected on test: the last epoch is the model.
        if select_on == "validation" and ev["accuracy"] > best["accuracy"] or select_on != "validation":
            best = {"epoch": epoch, "accuracy": ev["accuracy"],
                    "weights": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}
            if out_dir is not None:
                save_weights(out_dir / WEIGHTS_FILE, best["weights"])
        if out_dir is not None:
            _save_last(out_dir, model, optimizer, scheduler, generator, epoch, history, best)
        for cb in callbacks:
            cb.on_epoch_end(epoch, record)

    seconds = sum(h["seconds"] for h in history)
    if best["weights"] is not None:
        model.load_state_dict(best["weights"])
    final = {name: evaluate(model, split, batches, config.bf16, confidence=True,
                            train=train if name == "test" and config.task == "notmnist" else None)
             for name, split in splits.items() if name != "train"}
    meta = {
        "config": config.to_dict(),
        "classes": list(train.classes),
        "preprocessing": preprocessing_meta(config),
        "data": {"source": train.source, **{f"{k}_size": len(v) for k, v in splits.items()},
                 "splits": {k: v.origin for k, v in splits.items()}},
        "history": history,
        "best_epoch": best["epoch"],
        "selected_on": select_on if select_on == "validation" else "last epoch",
        "metrics": final,
        "num_parameters": count_parameters(model),
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "training_seconds": round(seconds, 1),
        "seconds_this_session": round(time.time() - started, 1),
        "device": str(dev),
        "torch_version": torch.__version__,
        "git_commit": git_commit(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "complete": True,
    }
    if out_dir is not None:
        save_checkpoint(out_dir, model.cpu(), meta)
        shutil.rmtree(out_dir / LAST_DIR, ignore_errors=True)
    for cb in callbacks:
        cb.on_train_end({"accuracy": final["test"]["accuracy"], "out_dir": str(out_dir) if out_dir else None,
                         "training_seconds": meta["training_seconds"]})
    return model, meta


def preprocessing_meta(config: Experiment) -> dict[str, Any]:
    spec = task_spec(config.task)
    if config.task == "notmnist":
        return {
            "image_size": config.img_size, "channels": 1, "scale": "uint8 / 255 -> [0, 1]",
            "user_images": "grayscale, dark-on-light inverted, cropped to the ink, padded square, resized "
                           "(core.images.prepare_image)",
            "permutation": {"applied": config.permute, "seed": config.permutation_seed,
                            "num_pixels": config.img_size ** 2},
        }
    from .backbones import IMAGENET_MEAN, IMAGENET_STD

    return {
        "decoded_size": spec.image_size, "image_size": config.img_size, "input": "N x 1 x size x size in [0, 1]",
        "grayscale_to_rgb": "repeat, inside the first conv (core.backbones.GrayToRGBConv)",
        "mean": IMAGENET_MEAN, "std": IMAGENET_STD,
        "function": "core.transforms.preprocess_faces",
        "augmentation": {"crop_scale": config.crop_scale, "flip": config.flip, "rotation": config.rotation,
                         "erasing": config.erasing},
    }
