"""Runs in TensorBoard, read back with TensorBoard's own reader: the shipped runs' events written from their
records, a new command-line run's written as it trains, and a killed and resumed run's curves with every epoch
once."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import main
from core.engine.callbacks import TensorBoardEvents
from core.runs.index import run_folders
from core.runs.record import read_record
from core.runs.tensorboard import EVENTS_DIR, epoch_scalars, hparams
from tests.conftest import StopAfter, slices

ROOT = Path(__file__).resolve().parent.parent


def read_events(folder: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    events.Reload()
    return events


def session_hparams(events) -> dict:
    from tensorboard.plugins.hparams import plugin_data_pb2

    start = plugin_data_pb2.HParamsPluginData.FromString(
        events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    )
    return {k: (v.string_value or v.number_value or v.bool_value) for k, v in start.session_start_info.hparams.items()}


def assert_events_match(events, record) -> None:
    """Every epoch's scalars as in meta.json's history (each step once), the final metrics, the setting, the
    confusion matrix."""
    for log in record.history:
        for tag, value in epoch_scalars(log).items():
            steps = [e for e in events.Scalars(tag) if e.step == log["epoch"]]
            assert len(steps) == 1 and steps[0].value == pytest.approx(value, rel=1e-6), (tag, log["epoch"])
    setting, metrics = hparams(record)
    for tag, value in metrics.items():
        assert events.Scalars(tag)[-1].value == pytest.approx(value, rel=1e-6), tag
    seen = session_hparams(events)
    assert seen["model"] == record.config.model and seen["epochs"] == record.config.epochs
    assert events.Tags()["images"] == ["confusion_matrix"]


def test_the_shipped_runs_in_tensorboard_hold_their_records(tmp_path):
    assert main(["tensorboard", str(ROOT / "checkpoints"), "--logdir", str(tmp_path)]) == 0
    folders = run_folders(ROOT / "checkpoints")
    assert len(folders) >= 20
    for folder in folders:
        record = read_record(folder)
        assert_events_match(read_events(tmp_path / "checkpoints" / folder.relative_to(ROOT / "checkpoints")), record)


def test_a_command_line_run_writes_its_events_as_it_trains(tmp_path, notmnist_dir):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "core", "train", "notmnist", "--model", "mlp", "--epochs", "2", "--train-limit",
               "256", "--test-limit", "64", "--data", str(notmnist_dir), "--out", str(out)]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    record = read_record(out)
    assert [h["epoch"] for h in json.loads((out / "meta.json").read_text())["history"]] == [1, 2]
    assert_events_match(read_events(out / EVENTS_DIR), record)


def test_a_resumed_run_continues_its_curves_without_repeating_a_step(tmp_path, notmnist_data):
    from core.config import Experiment
    from core.engine.loop import run_experiment

    config = Experiment(model="mlp", epochs=3, batch_size=64)
    data = slices(notmnist_data, 256, 64)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, tmp_path / "run", callbacks=[TensorBoardEvents(), StopAfter(2)], data=data)
    _, record = run_experiment(config, tmp_path / "run", callbacks=[TensorBoardEvents()], data=data, resume=True)
    events = read_events(tmp_path / "run" / EVENTS_DIR)
    assert [e.step for e in events.Scalars("loss/train")] == [1, 2, 3]
    assert_events_match(events, record)


def test_a_missing_folder_is_one_line(tmp_path, capsys):
    assert main(["tensorboard", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is not a folder of runs" in err
