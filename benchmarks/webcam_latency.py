"""The webcam page's full per-frame path on real 640x480 frames with one face: detect, crop, preprocess,
classify, smooth, draw. Prints median and 95th-percentile milliseconds per frame and frames per second (CPU).

    .venv/bin/python benchmarks/webcam_latency.py                # the page's default model
    .venv/bin/python benchmarks/webcam_latency.py --checkpoint checkpoints/fer/... --json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.inference.emotions import EmotionDetector, draw_faces  # noqa: E402
from core.runs.index import best_first, find_runs  # noqa: E402
from tests.fake_camera import face_frame  # noqa: E402


def default_checkpoint() -> Path:
    """What the page picks: the FER checkpoint with weights and the best validation accuracy."""
    found = best_first(find_runs(ROOT / "checkpoints", task="fer", loadable=True))
    if not found or found[0].path is None:
        sys.exit("no FER checkpoint with weights under checkpoints/; pass --checkpoint")
    return found[0].path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    checkpoint = args.checkpoint or default_checkpoint()
    detector = EmotionDetector(checkpoint)
    rng = np.random.default_rng(0)
    # Real frames: the astronaut photo jittered as a person moves, plus sensor noise.
    frames = []
    for _ in range(32):
        dx, dy = (int(v) for v in rng.integers(-12, 13, size=2))
        frame = face_frame(dx=dx, dy=dy).astype(np.int16) + rng.integers(-6, 7, size=(480, 640, 3))
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    times, faces_seen = [], []
    for i in range(args.warmup + args.frames):
        frame = frames[i % len(frames)]
        start = time.perf_counter()
        faces = detector.process(frame)
        draw_faces(frame, faces)
        elapsed = (time.perf_counter() - start) * 1000
        if i >= args.warmup:
            times.append(elapsed)
            faces_seen.append(len(faces))
    times = np.array(times)
    cfg = detector.config
    result = {
        "checkpoint": str(checkpoint),
        "model": cfg.model,
        "img_size": cfg.img_size,
        "frames": args.frames,
        "threads": torch.get_num_threads(),
        "median_ms": round(float(np.median(times)), 2),
        "p95_ms": round(float(np.percentile(times, 95)), 2),
        "fps": round(1000 / float(np.median(times)), 1),
        "frames_with_a_face": round(float(np.mean(np.array(faces_seen) >= 1)), 3),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{checkpoint} ({cfg.model}, {cfg.img_size} px input), {args.frames} frames 640x480, "
            f"{result['threads']} threads"
        )
        print(
            f"median {result['median_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms per frame -> {result['fps']:.1f} "
            f"frames/s; a face found in {result['frames_with_a_face']:.0%} of frames"
        )


if __name__ == "__main__":
    main()
