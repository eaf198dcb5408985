"""The webcam page's full per-frame path on real 640x480 frames with one face: detect (every few frames, the
boxes followed in between), crop, preprocess, classify, smooth, draw; with the app's serving thread settings.
Prints milliseconds per frame (median and 95th percentile), frames per second (frames over the time they took)
and the share of frames in which the face was found.

    .venv/bin/python benchmarks/webcam_latency.py                  # idle machine, the page's default model
    .venv/bin/python benchmarks/webcam_latency.py --under-load     # and again beside a real `core train` process
    .venv/bin/python benchmarks/webcam_latency.py --sessions 2     # N streams at once, one thread each
    .venv/bin/python benchmarks/webcam_latency.py --checkpoint checkpoints/fer/... --json

JSON keys: fps, median_ms, p95_ms, frames_with_a_face; with --under-load fps_under_load, p95_ms_under_load; with
--sessions N fps_per_session (the slowest session's), p95_ms_sessions.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from core.inference.serving import configure_serving, job_environment  # noqa: E402  (before torch)

configure_serving()

import numpy as np  # noqa: E402

from core.inference.emotions import EmotionDetector, draw_faces  # noqa: E402
from core.runs.index import webcam_default  # noqa: E402
from tests.fake_camera import face_frame  # noqa: E402


def default_checkpoint() -> Path:
    """What the page picks: the FER checkpoint with weights and the best validation accuracy."""
    found = webcam_default(ROOT / "checkpoints")
    if found is None or found.path is None:
        sys.exit("no FER checkpoint with weights under checkpoints/; pass --checkpoint")
    return found.path


def camera_frames(n: int = 32, seed: int = 0) -> list[np.ndarray]:
    """Real frames: the astronaut photo jittered as a person moves, plus sensor noise."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        dx, dy = (int(v) for v in rng.integers(-12, 13, size=2))
        frame = face_frame(dx=dx, dy=dy).astype(np.int16) + rng.integers(-6, 7, size=(480, 640, 3))
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return frames


def face_cam(detector: EmotionDetector, on: bool):
    """The Live page's optional Grad-CAM overlay (a new map twice a second), or None."""
    from core.inference.explain import FaceCam

    return FaceCam(detector.model, detector.transform, detector.classes) if on else None


def measure(detector: EmotionDetector, frames: list[np.ndarray], count: int, warmup: int, cam=None) -> dict:
    times, seen = [], []
    started = None
    for i in range(warmup + count):
        if i == warmup:
            started = time.perf_counter()
        frame = frames[i % len(frames)]
        start = time.perf_counter()
        faces = detector.process(frame)
        draw_faces(frame if cam is None else cam.on_frame(frame, faces, detector.prepare, time.time()), faces)
        if i >= warmup:
            times.append((time.perf_counter() - start) * 1000)
            seen.append(len(faces) >= 1)
    assert started is not None
    wall = time.perf_counter() - started
    return {
        "fps": round(count / wall, 1),
        "median_ms": round(float(np.median(times)), 2),
        "p95_ms": round(float(np.percentile(times, 95)), 2),
        "frames_with_a_face": round(float(np.mean(seen)), 3),
    }


def under_load(run) -> dict:
    """`run()` while a real training job (notMNIST CNN on the shared data, the app's kind of job) runs beside."""
    data = ROOT.parent / "shared" / "data" / "notmnist"
    env = job_environment()  # as the app starts a job: OpenMP's own default
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "core", "train", "notmnist", "--epochs", "50", "--data", str(data),
                   "--out", str(Path(out) / "run")]  # fmt: skip
        with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env) as job:
            try:
                time.sleep(8)  # past loading: training steps are running
                if job.poll() is not None:
                    sys.exit(f"the load process (core train) ended early: {job.stderr.read().decode()[-300:]}")
                return run()
            finally:
                job.kill()


def sessions(
    checkpoint: Path, n: int, frames: list[np.ndarray], count: int, warmup: int, gradcam: bool = False
) -> list[dict]:
    """N streams at once on one server: one shared model, one detector (tracker) and thread each."""
    shared = EmotionDetector(checkpoint)
    results: list[dict] = [{} for _ in range(n)]

    def stream(i: int) -> None:
        mine = shared.for_session()
        results[i] = measure(mine, frames, count, warmup, face_cam(mine, gradcam))

    threads = [threading.Thread(target=stream, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=15)
    parser.add_argument("--under-load", action="store_true", help="also measure beside a running `core train`")
    parser.add_argument("--sessions", type=int, default=0, help="also measure N streams at once")
    parser.add_argument("--gradcam", action="store_true", help="with the Live page's Grad-CAM overlay on")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    checkpoint = args.checkpoint or default_checkpoint()
    detector = EmotionDetector(checkpoint)
    frames = camera_frames()
    result = {"checkpoint": str(checkpoint), "model": detector.config.model, "img_size": detector.config.img_size,
              "backend": detector.backend, "frames": args.frames, "detect_every": detector.detect_every,
              "gradcam": args.gradcam}  # fmt: skip
    result.update(measure(detector, frames, args.frames, args.warmup, face_cam(detector, args.gradcam)))
    if args.under_load:
        loaded = under_load(lambda: measure(twin := detector.for_session(), frames, args.frames, args.warmup,
                                            face_cam(twin, args.gradcam)))  # fmt: skip
        result.update(fps_under_load=loaded["fps"], p95_ms_under_load=loaded["p95_ms"],
                      median_ms_under_load=loaded["median_ms"])  # fmt: skip
    if args.sessions:
        per = sessions(checkpoint, args.sessions, frames, args.frames, args.warmup, args.gradcam)
        result.update(sessions=args.sessions, fps_per_session=min(r["fps"] for r in per),
                      p95_ms_sessions=max(r["p95_ms"] for r in per))  # fmt: skip
    if args.json:
        print(json.dumps(result))
        return
    print(f"{checkpoint} ({result['model']}, {result['img_size']} px) on {result['backend']}, "
          f"{args.frames} frames 640x480, the cascade every {result['detect_every']} frames"
          + (", Grad-CAM overlay on" if args.gradcam else ""))  # fmt: skip
    print(f"idle:       {result['fps']:6.1f} frames/s, median {result['median_ms']:.1f} ms, p95 {result['p95_ms']:.1f} "
          f"ms; the face found in {result['frames_with_a_face']:.1%} of frames")  # fmt: skip
    if args.under_load:
        print(f"under load: {result['fps_under_load']:6.1f} frames/s, median {result['median_ms_under_load']:.1f} "
              f"ms, p95 {result['p95_ms_under_load']:.1f} ms (a `core train` process beside it)")  # fmt: skip
    if args.sessions:
        print(f"{args.sessions} sessions:  {result['fps_per_session']:6.1f} frames/s each (the slowest), p95 "
              f"{result['p95_ms_sessions']:.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
