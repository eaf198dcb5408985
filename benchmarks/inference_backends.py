"""Emotion-model inference backends side by side: the time of one face (batch 1, as the webcam classifies) and
FER-2013 test accuracy, for PyTorch fp32 in both memory layouts, bf16 autocast (where the CPU has it), dynamic
int8 quantisation, and ONNX Runtime. The README's backend table comes from this script.

    .venv/bin/python benchmarks/inference_backends.py --data ../shared/data/fer [--checkpoint RUN] [--json]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from core.data import fer
from core.data.cache import load_split
from core.data.tasks import batch_transform
from core.inference.modes import Mode
from core.inference.onnx_runtime import OnnxForward
from core.inference.runtime import bf16_supported
from core.inference.serving import configure_serving
from core.runs.checkpoint import load_checkpoint
from core.runs.index import webcam_default

ROOT = Path(__file__).resolve().parent.parent

Forward = Callable[[torch.Tensor], torch.Tensor]


def torch_forward(model: torch.nn.Module, mode: Mode) -> Forward:
    net = mode.prepare(copy.deepcopy(model).eval())

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad(), mode.autocast(torch.device("cpu")):
            return net(mode.inputs(x)).float()

    return run


def int8_forward(model: torch.nn.Module) -> Forward:
    quantised = torch.ao.quantization.quantize_dynamic(copy.deepcopy(model).eval(), {torch.nn.Linear}, torch.qint8)

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return quantised(x)

    return run


def time_one_face(forward: Forward, size: int, repeats: int) -> float:
    x = torch.rand(1, 1, size, size)
    for _ in range(5):
        forward(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        forward(x)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def accuracy(forward: Forward, images: torch.Tensor, labels: torch.Tensor, transform, batch: int = 256) -> float:
    preds = [forward(transform.eval(images[i : i + batch])).argmax(1) for i in range(0, len(images), batch)]
    return float((torch.cat(preds) == labels).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="FER-2013 source (default $FER_DATA)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: the best FER model with weights")
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    configure_serving()
    default = webcam_default(ROOT / "checkpoints")
    checkpoint = args.checkpoint or (default and default.path)
    if checkpoint is None:
        sys.exit("no FER checkpoint with weights under checkpoints/; pass --checkpoint")
    model, record = load_checkpoint(checkpoint)
    size = record.config.image_size
    test = load_split(fer.SPEC, args.data or record.data.source, "test")
    transform = batch_transform(record.config)
    backends: dict[str, Callable[[], Forward]] = {
        "torch fp32 nchw": lambda: torch_forward(model, Mode("fp32", "nchw")),
        "torch fp32 channels-last": lambda: torch_forward(model, Mode("fp32", "channels-last")),
        "torch int8 (dynamic, linear layers)": lambda: int8_forward(model),
    }
    if bf16_supported(torch.device("cpu")):
        backends["torch bf16 channels-last"] = lambda: torch_forward(model, Mode("bf16", "channels-last"))
    # the webcam's own ONNX path (export cached per weights file), so the figure is the shipped one's
    backends["onnx runtime fp32"] = lambda: OnnxForward(model, record, threads=torch.get_num_threads())
    rows = []
    for name, make in backends.items():
        forward = make()
        ms = time_one_face(forward, size, args.repeats)
        correct = accuracy(forward, test.images, test.labels, transform)
        rows.append({"backend": name, "ms_per_face": round(ms, 2), "test_accuracy": round(correct, 4)})
    result = {"checkpoint": str(checkpoint), "threads": torch.get_num_threads(), "rows": rows,
              "bf16": bf16_supported(torch.device("cpu"))}  # fmt: skip
    if args.json:
        print(json.dumps(result))
        return
    print(f"{checkpoint} ({record.config.arch} {size} px), {result['threads']} thread(s), batch 1")
    reference = rows[0]["test_accuracy"]
    for row in rows:
        delta = (row["test_accuracy"] - reference) * 100
        print(
            f"  {row['backend']:<38} {row['ms_per_face']:7.2f} ms/face   test {row['test_accuracy']:.2%} ({delta:+.2f})"
        )
    if not result["bf16"]:
        print("  (bf16: this CPU has no AVX512-BF16/AMX; autocast would run in fp32)")


if __name__ == "__main__":
    main()
