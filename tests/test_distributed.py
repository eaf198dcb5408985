"""The same training under torchrun: 2 processes (gloo, CPU) equal 1 process with the same global batch."""

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parent.parent
TORCHRUN = Path(sys.executable).parent / "torchrun"
pytestmark = pytest.mark.slow  # subprocesses that train


def train_args(out, data, batch):
    # dropout and augmentation off, fp32 (bf16 autocast, auto's choice on a CPU with AMX, rounds each process's
    # sums differently): then the only difference is the order of float sums in the gradient average
    return ["train", "notmnist", "--model", "mlp", "--shift", "0", "--dropout", "0", "--epochs", "2",
            "--precision", "fp32", "--train-limit", "512", "--test-limit", "64", "--batch-size", str(batch),
            "--data", str(data), "--out", str(out)]  # fmt: skip


def torchrun(*args, env=None):
    """torchrun --standalone (a free local port) with 2 processes; the whole group is killed on a timeout."""
    command = [str(TORCHRUN), "--standalone", "--nproc_per_node", "2", "-m", "core", *args]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, start_new_session=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def test_two_processes_match_one_with_the_same_global_batch(tmp_path, notmnist_dir):
    two = torchrun(*train_args(tmp_path / "two" / "run", notmnist_dir, 32))
    assert two.returncode == 0, two.stderr[-2000:]
    one = subprocess.run([sys.executable, "-m", "core", *train_args(tmp_path / "one" / "run", notmnist_dir, 64)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert one.returncode == 0, one.stderr[-2000:]
    a, b = (
        load_file(tmp_path / "one" / "run" / "model.safetensors"),
        load_file(tmp_path / "two" / "run" / "model.safetensors"),
    )
    # 16 Adam steps at lr 1e-3: the two differ only by float rounding in the gradient sums (measured ~2e-5)
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 2e-4
    meta = json.loads((tmp_path / "two" / "run" / "meta.json").read_text())
    assert meta["world_size"] == 2 and meta["global_batch"] == 64 and meta["config"]["batch_size"] == 32
    assert json.loads((tmp_path / "one" / "run" / "meta.json").read_text())["world_size"] == 1
    # one process wrote: one result line, one run folder, one lock, nothing else
    assert two.stdout.count("mlp-original-s0: test accuracy") == 1 and "2 processes, global batch 64" in two.stdout
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == [".run.lock", "run"]
    assert sorted(p.name for p in (tmp_path / "two" / "run").iterdir()) == ["meta.json", "model.safetensors",
                                                                           "tensorboard"]  # fmt: skip
    # rank 0's TensorBoard events alone: each epoch once
    from tests.test_tensorboard import read_events

    assert [e.step for e in read_events(tmp_path / "two" / "run" / "tensorboard").Scalars("loss/train")] == [1, 2]


def test_resume_with_another_world_size_is_refused(tmp_path, notmnist_dir):
    out = tmp_path / "run"
    killed = torchrun(*train_args(out, notmnist_dir, 32), env={"STUDY_FAULT_POINT": "write:meta.json"})
    assert killed.returncode != 0  # rank 0 was killed writing the record; torchrun stopped the other
    assert (tmp_path / ".run.partial" / "last").is_dir() or (tmp_path / ".run.partial" / "meta.json").exists()
    shutil.rmtree(tmp_path / ".run.partial" / "meta.json", ignore_errors=True)
    proc = subprocess.run([sys.executable, "-m", "core", *train_args(out, notmnist_dir, 32), "--resume"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 2 and "trained by 2 process(es), this is 1" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error:") and "Traceback" not in proc.stderr


def test_the_sweep_prints_its_rows_as_torchrun_commands_the_cli_takes_back(tmp_path):
    from core.cli import build_parser, experiment_from_args

    proc = subprocess.run([sys.executable, "-m", "core", "sweep", "fer", "--arch", "resnet18", "--img-size", "64",
                           "--epochs", "3", "--data", "/data/fer", "--out", str(tmp_path / "s"), "--launcher",
                           "torchrun", "--nproc-per-node", "4", "--dry-run"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0 and len(lines) == 6
    for line, row in zip(lines, ["scratch", "none", "layer1", "layer2", "layer3", "all"]):
        words = shlex.split(line)
        assert words[:6] == ["torchrun", "--standalone", "--nproc_per_node", "4", "-m", "core"]
        assert words[-1] == "--resume"
        args = build_parser().parse_args(words[6:])
        config = experiment_from_args(args)
        assert (config.model, config.img_size, config.epochs, config.data) == ("resnet18", 64, 3, "/data/fer")
        assert config.pretrained == (row != "scratch") and args.out == str(tmp_path / "s" / row)
