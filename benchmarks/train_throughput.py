"""Training throughput on FER-2013: the project's training step versus a plain baseline, same images.

Baseline: torchvision ImageFolder over PNG files, per-image PIL decode and transforms (grayscale -> RGB,
RandomResizedCrop, flip, ToTensor, Normalize), DataLoader, fp32, default memory format.
Project: the uint8 tensor cache, batched augmentation (core.data.transforms.FaceTransform), torch.no_grad over the
frozen prefix, in every precision / memory layout this machine has (fp32 or bf16 x NCHW or channels-last); the
ratio is the mode `--precision auto --memory-format auto` chooses (its cached probe, core.engine.probe) against the
baseline, and the per-mode figures show whether that choice is the fastest.

    .venv/bin/python benchmarks/train_throughput.py --data ../shared/data/fer --arch resnet18 --img-size 224
    .venv/bin/python benchmarks/train_throughput.py --data ../shared/data/fer --arch mobilenet_v2 --img-size 96
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from core.config import Experiment
from core.data import fer
from core.data.cache import load_split
from core.data.tasks import batch_transform
from core.engine.optim import make_optimizer
from core.engine.probe import training_mode
from core.inference.modes import Mode, candidate_modes, processor_name
from core.inference.runtime import device
from core.models import build_model


def write_image_folder(images: torch.Tensor, labels: torch.Tensor, root: Path) -> None:
    from PIL import Image

    for i, (img, label) in enumerate(zip(images, labels)):
        folder = root / fer.EMOTIONS[int(label)]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img[0].numpy()).save(folder / f"{i}.png")


def time_steps(step, batches, warmup: int) -> float:
    """Images per second: batch size over the median time of a step (data included), after `warmup` steps.
    The median keeps one slow step (a page fault, the other core busy) from deciding the result."""
    times, sizes = [], []
    start = time.perf_counter()
    for i, (x, y) in enumerate(batches):  # the loader's work for a batch happens in this iteration
        step(x, y)
        now = time.perf_counter()
        if i >= warmup:
            times.append(now - start)
            sizes.append(len(y))
        start = now
    return float(np.median(sizes) / np.median(times))


def baseline_img_s(config: Experiment, folder: Path, steps: int, warmup: int) -> float:
    import torchvision
    from torchvision import transforms as T

    tf = T.Compose(
        [
            T.Grayscale(num_output_channels=3),
            T.RandomResizedCrop(config.img_size, scale=(config.crop_scale**2, 1.0), ratio=(1.0, 1.0)),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ]
    )
    dataset = torchvision.datasets.ImageFolder(str(folder), transform=tf)
    loader = torch.utils.data.DataLoader(dataset, batch_size=config.batch_size, shuffle=True, drop_last=True)
    torch.manual_seed(0)
    model = getattr(torchvision.models, config.model)(num_classes=len(fer.EMOTIONS))
    staged = build_model(config, len(fer.EMOTIONS), load_weights=False)  # only to know the frozen prefix
    # The plain way to freeze: requires_grad=False on the same tensors (both list parameters in the same order).
    for p, sp in zip(model.parameters(), staged.parameters()):
        p.requires_grad = sp.requires_grad
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    model.train()

    def step(x, y):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def limited():
        for i, batch in enumerate(loader):
            if i >= steps + warmup:
                return
            yield batch

    return time_steps(step, limited(), warmup)


def project_img_s(
    config: Experiment, mode: Mode, images: torch.Tensor, labels: torch.Tensor, steps: int, warmup: int
) -> float:
    torch.manual_seed(0)
    dev = device()
    model = mode.prepare(build_model(config, len(fer.EMOTIONS), load_weights=False).to(dev))
    optimizer = make_optimizer(model, config)
    transform = batch_transform(config)
    generator = torch.Generator().manual_seed(0)
    model.train()

    def step(x, y):
        with mode.autocast(dev):
            logits = model(mode.inputs(x.to(dev)))
        loss = F.cross_entropy(logits.float(), y.to(dev))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def batches_from_cache():
        order = torch.randperm(len(labels), generator=generator)
        for i in range(steps + warmup):
            idx = order[i * config.batch_size : (i + 1) * config.batch_size]
            yield transform.train(images[idx], generator), labels[idx]

    return time_steps(step, batches_from_cache(), warmup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="FER source (default $FER_DATA)")
    parser.add_argument("--arch", default="resnet18", choices=["resnet18", "mobilenet_v2"])
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--freeze", default="none", choices=["none", "layer1", "layer2", "layer3", "all"])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per side")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    config = Experiment(
        task="fer",
        model=args.arch,
        img_size=args.img_size,
        batch_size=args.batch_size,
        pretrained=args.freeze != "none",
        freeze=args.freeze,
        data=args.data,
    )
    n = args.batch_size * (args.steps + args.warmup)
    train = load_split(fer.SPEC, args.data, "train").head(n)
    with tempfile.TemporaryDirectory() as tmp:
        write_image_folder(train.images, train.labels, Path(tmp))
        baseline = baseline_img_s(config, Path(tmp), args.steps, args.warmup)
    auto, _ = training_mode(config)  # the cached probe, or a probe now
    per_mode = {
        m.name: round(project_img_s(config, m, train.images, train.labels, args.steps, args.warmup), 2)
        for m in candidate_modes("auto", "auto", device())
    }
    project = per_mode[auto.name]
    fastest = max(per_mode, key=lambda name: per_mode[name])
    result = {
        "arch": args.arch,
        "img_size": args.img_size,
        "freeze": args.freeze,
        "batch_size": args.batch_size,
        "steps": args.steps,
        "device": str(device()),
        "processor": processor_name(),
        "threads": torch.get_num_threads(),
        "auto_mode": auto.name,
        "fastest_mode": fastest,
        "project_img_s_by_mode": per_mode,
        "baseline_img_s": round(baseline, 2),
        "project_img_s": project,
        "ratio": round(project / baseline, 2),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{args.arch} {args.img_size}px freeze={args.freeze} batch {args.batch_size} on {result['device']}, "
            f"{result['processor']} ({result['threads']} threads)"
        )
        print(f"baseline (ImageFolder + PIL transforms, fp32, NCHW): {baseline:8.2f} images/s")
        for name, rate in per_mode.items():
            marks = [m for m, n in (("auto's choice", auto.name), ("fastest", fastest)) if n == name]
            print(f"project  {name:<22}                    {rate:8.2f} images/s  {', '.join(marks)}")
        print(f"ratio (auto's mode / baseline): {project / baseline:.2f}x")


if __name__ == "__main__":
    main()
