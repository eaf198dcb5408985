import json
import os
import pickle

import pytest
import torch

from core.config import Experiment
from core.data.transforms import random_shift
from core.engine.callbacks import Callback
from core.engine.loop import run_experiment
from core.errors import CheckpointError
from core.inference.modes import Mode
from core.models import MLP
from core.runs.checkpoint import load_checkpoint, save_checkpoint
from core.runs.record import read_record
from tests.conftest import slices


def test_short_real_training_run_beats_chance_by_far(small_checkpoint):
    _, _, run = small_checkpoint
    assert run.test.accuracy > 0.75  # chance is 0.10
    assert run.history[0]["train_loss"] < 2.3  # below the loss of a uniform guess (ln 10)


def test_callbacks_see_every_batch_and_epoch(notmnist_data, notmnist_dir):

    class Recorder(Callback):
        def __init__(self):
            self.batches, self.epochs, self.ended = [], [], None

        def on_batch_end(self, epoch, step, steps, loss):
            self.batches.append((epoch, step, steps))

        def on_epoch_end(self, epoch, record):
            self.epochs.append(record)

        def on_train_end(self, result):
            self.ended = result

    rec = Recorder()
    config = Experiment(model="mlp", epochs=2, batch_size=100, data=str(notmnist_dir))
    run_experiment(config, callbacks=[rec], data=slices(notmnist_data, 500, 200))
    assert rec.batches[-1] == (2, 5, 5) and len(rec.batches) == 10
    assert [r["epoch"] for r in rec.epochs] == [1, 2]
    assert rec.ended["accuracy"] == pytest.approx(rec.epochs[-1]["eval_accuracy"])


def test_same_seed_same_model(notmnist_data, notmnist_dir):
    config = Experiment(model="mlp", epochs=1, data=str(notmnist_dir), permute=True)
    a, _ = run_experiment(config, data=slices(notmnist_data, 600, 100))
    b, _ = run_experiment(config, data=slices(notmnist_data, 600, 100))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_random_shift_moves_images_by_at_most_the_limit():
    x = torch.zeros(64, 1, 28, 28)
    x[:, :, 14, 14] = 1
    shifted = random_shift(x, 2, torch.Generator().manual_seed(0))
    pos = shifted[:, 0].flatten(1).argmax(1)
    rows, cols = pos // 28, pos % 28
    assert (rows - 14).abs().max() <= 2 and (cols - 14).abs().max() <= 2
    assert len(set(pos.tolist())) > 10 and shifted.sum() == 64


def test_checkpoint_round_trip_gives_identical_predictions(tmp_path, notmnist_dir, notmnist_data):
    path = tmp_path / "cnn"  # its own small run: the model in memory against the one read back
    config = Experiment(model="cnn", epochs=1, data=str(notmnist_dir), train_limit=600, test_limit=200)
    model, run = run_experiment(config, path, data=slices(notmnist_data, 600, 200))
    loaded, loaded_run = load_checkpoint(path)
    Mode(run.runtime["precision"], run.runtime["memory_format"]).prepare(loaded)  # the layout it trained in
    x = notmnist_data["test"].images[:32].float() / 255
    model.eval()
    assert torch.equal(loaded(x), model(x))
    assert loaded_run.config == run.config and loaded_run.classes == list("ABCDEFGHIJ")
    assert loaded_run.to_dict() == run.to_dict()  # the record survives the round trip through meta.json
    on_disk = json.loads((path / "meta.json").read_text())
    for key in ("config", "preprocessing", "history", "metrics", "training_seconds", "git_commit"):
        assert key in on_disk
    assert not [p for p in os.listdir(path) if p.startswith(".")]  # no temp files left behind


class Exploit:
    """A pickle that would create a file when unpickled."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def _copy_meta(src, dst):
    dst.mkdir()
    (dst / "meta.json").write_text((src / "meta.json").read_text())


def test_malicious_pickle_is_refused_and_never_runs(small_checkpoint, tmp_path):
    src, _, _ = small_checkpoint
    evil = tmp_path / "evil"
    _copy_meta(src, evil)
    marker = tmp_path / "pwned"
    torch.save({"weight": Exploit(marker)}, evil / "model.pt")  # torch.save pickles it
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(evil)
    assert not marker.exists()
    # The same pickle under the safetensors name is not parsed as a pickle at all.
    (evil / "model.safetensors").write_bytes(pickle.dumps(Exploit(marker)))
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        load_checkpoint(evil)
    assert not marker.exists()


def test_truncated_weights_and_other_architectures_are_refused(small_checkpoint, tmp_path):
    src, _, _ = small_checkpoint
    cut = tmp_path / "cut"
    _copy_meta(src, cut)
    data = (src / "model.safetensors").read_bytes()
    (cut / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        load_checkpoint(cut)

    other = tmp_path / "other"
    save_checkpoint(other, MLP(), read_record(src))  # MLP weights, meta says CNN
    with pytest.raises(CheckpointError, match="do not fit a 'cnn' model"):
        load_checkpoint(other)

    (tmp_path / "nometa").mkdir()
    with pytest.raises(CheckpointError, match="no meta.json"):
        load_checkpoint(tmp_path / "nometa")


def test_a_run_can_start_from_a_trained_runs_weights(small_checkpoint, notmnist_data, notmnist_dir, tmp_path):
    from core.errors import ConfigError

    path, _, source = small_checkpoint
    data = slices(notmnist_data, 500, 1000)
    # a learning rate too small to move the weights: the run starts (and stays) where the source ended
    tuned = Experiment(model="cnn", epochs=1, lr=1e-9, init_from=str(path), data=str(notmnist_dir))
    assert tuned.name == "cnn-original-tuned-s0"
    _, run = run_experiment(tuned, tmp_path / "tuned", data=data)
    assert abs(run.test.accuracy - source.test.accuracy) < 0.01 and run.config.init_from == str(path)
    fresh = Experiment(model="cnn", epochs=1, lr=1e-9, data=str(notmnist_dir))
    _, scratch = run_experiment(fresh, tmp_path / "scratch", data=data)
    assert scratch.test.accuracy < source.test.accuracy - 0.3
    with pytest.raises(ConfigError, match="this run is a notmnist mlp"):
        run_experiment(Experiment(model="mlp", epochs=1, init_from=str(path)), tmp_path / "mlp", data=data)
    with pytest.raises(ConfigError, match="leave out --pretrained"):
        Experiment(task="fer", pretrained=True, init_from=str(path))


def test_a_fer_run_can_start_from_a_run_trained_at_another_input_size(emotion_checkpoint):
    from core.models import build_model
    from core.runs.checkpoint import load_checkpoint, start_from_run

    source, record = load_checkpoint(emotion_checkpoint)  # 48 px
    bigger = Experiment(task="fer", model="mobilenet_v2", img_size=64, init_from=str(emotion_checkpoint))
    model = build_model(bigger, num_classes=len(record.classes), load_weights=False)
    start_from_run(model, bigger, list(record.classes))
    theirs = source.state_dict()
    assert all(torch.equal(value, theirs[key]) for key, value in model.state_dict().items())


def test_weights_that_do_not_fit_the_model_are_one_line(small_checkpoint):
    from core.errors import ConfigError
    from core.models import build_model
    from core.runs.checkpoint import start_from_run

    path, _, record = small_checkpoint
    cnn = Experiment(model="cnn", init_from=str(path))
    other = build_model(Experiment(model="mlp"), num_classes=10, load_weights=False)  # not the shapes the run has
    with pytest.raises(ConfigError, match="do not fit this model") as caught:
        start_from_run(other, cnn, list(record.classes))
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 300
