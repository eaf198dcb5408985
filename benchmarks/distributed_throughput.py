"""Training images/s with 1 process and with N processes under torchrun, the same global batch, the same data.

    python benchmarks/distributed_throughput.py --nproc 2 [--arch mobilenet_v2] [--img-size 64] [--json]

Each side is a real `python -m core train fer` run (one epoch on the first --images training faces, a short
evaluation on 64 faces); images/s = training images / the epoch's training seconds. On a 2-core CPU no speed-up
is expected (the two processes share the cores that one process already uses); the script says what it measured.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def train(out: Path, args: argparse.Namespace, nproc: int) -> dict:
    batch = args.global_batch // nproc
    core = ["-m", "core", "train", "fer", "--arch", args.arch, "--img-size", str(args.img_size), "--epochs", "1",
            "--batch-size", str(batch), "--train-limit", str(args.images), "--test-limit", "64", "--data", args.data,
            "--out", str(out)]  # fmt: skip
    if nproc == 1:
        command = [sys.executable, *core]
    else:
        command = [str(Path(sys.executable).parent / "torchrun"), "--standalone", "--nproc_per_node", str(nproc), *core]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{proc.stderr[-2000:]}")
    meta = json.loads((out / "meta.json").read_text())
    epoch = meta["history"][0]
    trained = (args.images // args.global_batch) * args.global_batch if nproc > 1 else args.images
    return {"processes": nproc, "batch_per_process": batch, "images": trained,
            "train_seconds": round(epoch["seconds"], 2), "img_s": round(trained / epoch["seconds"], 1)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nproc", type=int, default=2, help="processes of the distributed side (default 2)")
    parser.add_argument("--arch", default="mobilenet_v2", choices=["resnet18", "mobilenet_v2"])
    parser.add_argument("--img-size", type=int, default=64)
    parser.add_argument("--global-batch", type=int, default=64, help="images per step over all processes")
    parser.add_argument("--images", type=int, default=2048, help="training faces (default 2048)")
    parser.add_argument("--data", default=os.environ.get("FER_DATA") or str(ROOT.parent / "shared" / "data" / "fer"))
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sides = [train(Path(tmp) / f"n{n}", args, n) for n in (1, args.nproc)]
    speedup = round(sides[1]["img_s"] / sides[0]["img_s"], 2)
    result = {"arch": args.arch, "img_size": args.img_size, "global_batch": args.global_batch,
              "cpu_count": os.cpu_count(), "sides": sides, "speedup": speedup}  # fmt: skip
    if args.json:
        print(json.dumps(result))
        return
    print(f"{args.arch} {args.img_size}px, global batch {args.global_batch}, {os.cpu_count()} CPU cores")
    for side in sides:
        print(
            f"  {side['processes']} process(es), batch {side['batch_per_process']} each: {side['img_s']:7.1f} images/s"
        )
    print(f"  speed-up {result['speedup']}x")


if __name__ == "__main__":
    main()
