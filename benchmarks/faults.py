"""Kill training at random moments and check that nothing is lost or corrupted.

    python benchmarks/faults.py [--trials 50] [--data ../shared/data/notmnist] [--seed 0] [--json]

One uninterrupted short run (MLP, 3 epochs on 600 real notMNIST images) gives the reference weights. Then each
trial trains the same setting into a fresh folder and SIGKILLs it at a random moment, one of:
- "epoch": after a random delay while it trains (anywhere: start-up, an epoch, an evaluation, a write);
- "state write": inside the write of the resume state after a random epoch (the temporary file is complete, the
  rename not yet done; STUDY_FAULT_POINT, see core/runs/files.py);
- "weights write": inside the write of the finished run's weights;
- "final write": inside the writing of meta.json, or between the two renames that publish the run.
After each kill it checks the folder: a meta.json there must be a valid record whose weights digest matches the
weights beside it (else "corrupted"). Then it resumes with --resume and checks the result is bit-identical to
the reference (same weights digest). Any Python traceback on stderr counts in "tracebacks".
Prints {"trials": N, "identical": ..., "corrupted": ..., "tracebacks": ..., "by_fault": {...}}.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from core.errors import CheckpointError
from core.runs.files import META_FILE, WEIGHTS_FILE, weights_digest
from core.runs.record import read_record

ROOT = Path(__file__).resolve().parent.parent

EPOCHS = 3
FAULTS = ("epoch", "state write", "weights write", "final write")


def command(out: Path, data: str, resume: bool = False) -> list[str]:
    args = [sys.executable, "-m", "core", "train", "notmnist", "--model", "mlp", "--epochs", str(EPOCHS),
            "--train-limit", "600", "--test-limit", "200", "--data", data, "--out", str(out)]  # fmt: skip
    return args + (["--resume"] if resume else [])


def run(out: Path, data: str, resume: bool = False, fault: str | None = None, kill_after: float | None = None):
    env = {**__import__("os").environ, **({"STUDY_FAULT_POINT": fault} if fault else {})}
    proc = subprocess.Popen(command(out, data, resume), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=600)
    return proc.returncode, err


def record_agrees_with_weights(out: Path) -> bool:
    """No meta.json, or a valid record whose digest is that of the weights beside it."""
    if not (out / META_FILE).exists():
        return True
    try:
        record = read_record(out)
    except CheckpointError:
        return False
    return record.weights_sha256 == weights_digest(out / WEIGHTS_FILE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=50, help="kills to try (default 50)")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "notmnist"), help="notMNIST source")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill schedule (default 0)")
    parser.add_argument("--json", action="store_true", help="print only the JSON summary")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="faults-"))
    try:
        started = time.perf_counter()
        code, err = run(work / "reference", args.data)
        if code != 0:
            sys.exit(f"the reference run failed:\n{err[-2000:]}")
        reference = weights_digest(work / "reference" / WEIGHTS_FILE)
        duration = time.perf_counter() - started
        counts: Counter[str] = Counter()
        by_fault: Counter[str] = Counter()
        for trial in range(args.trials):
            out = work / f"trial-{trial}"
            kind = FAULTS[trial % len(FAULTS)]
            by_fault[kind] += 1
            if kind == "epoch":
                code, err = run(out, args.data, kill_after=rng.uniform(0.5, duration))
            elif kind == "state write":
                code, err = run(out, args.data, fault=f"write:train_state.pt:{rng.randint(1, EPOCHS)}")
            elif kind == "weights write":  # the finished run's weights, written before its record
                code, err = run(out, args.data, fault=f"write:{WEIGHTS_FILE}")
            else:
                code, err = run(out, args.data, fault=rng.choice(["write:meta.json", "publish"]))
            tracebacks = "Traceback" in err
            corrupted = not record_agrees_with_weights(out)
            code, err2 = run(out, args.data, resume=True)
            tracebacks |= "Traceback" in err2 or code != 0
            corrupted |= not record_agrees_with_weights(out)
            identical = code == 0 and (out / WEIGHTS_FILE).exists() and weights_digest(out / WEIGHTS_FILE) == reference
            counts.update(identical=identical, corrupted=corrupted, tracebacks=tracebacks)
            if not args.json:
                print(f"trial {trial + 1:>3}/{args.trials} {kind:<13} identical={identical} corrupted={corrupted} "
                      f"traceback={tracebacks}", file=sys.stderr, flush=True)  # fmt: skip
            shutil.rmtree(out, ignore_errors=True)
        summary = {"trials": args.trials, "identical": counts["identical"], "corrupted": counts["corrupted"],
                   "tracebacks": counts["tracebacks"], "by_fault": dict(by_fault),
                   "reference_seconds": round(duration, 1)}  # fmt: skip
        print(json.dumps(summary))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
