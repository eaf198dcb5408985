"""The app's time estimate (core.engine.probe.run_seconds on a measured probe) against real short runs on the
same machine: within 1.5x of the epoch time the training loop records."""

import subprocess
import time

import pytest

from core.config import Experiment
from core.engine.loop import run_experiment
from core.engine.probe import run_seconds, training_probe
from tests.conftest import slices


@pytest.fixture(autouse=True)
def quiet_machine():
    """Timing needs the cores: wait until background probes that app tests started have finished."""
    deadline = time.time() + 120
    while subprocess.run(["pgrep", "-f", "core probe"], capture_output=True).returncode == 0:
        if time.time() > deadline:
            break
        time.sleep(1)


CASES = [
    ("notmnist", dict(model="cnn"), 6000, 1000),
    ("notmnist", dict(model="mlp"), 6000, 1000),
    ("fer", dict(model="mobilenet_v2", img_size=48), 1536, 512),
]


@pytest.mark.slow
@pytest.mark.parametrize(("task", "setting", "train", "held_out"), CASES, ids=[c[1]["model"] for c in CASES])
def test_the_estimate_is_within_1_5x_of_a_real_epoch(task, setting, train, held_out, request, tmp_path, monkeypatch):
    monkeypatch.setenv("STUDY_CACHE_DIR", str(tmp_path))  # a fresh probe, measured now
    data = request.getfixturevalue("notmnist_data" if task == "notmnist" else "fer_data")
    config = Experiment(task=task, epochs=2, **setting)
    probe = training_probe(config)
    _, run = run_experiment(config, data=slices(data, train, held_out))
    sizes = {name: n for name, n in run.data.sizes.items()}
    per_epoch, total = run_seconds(config, probe, sizes)
    actual = run.history[-1]["seconds"]  # the second epoch: the first also pays one-off start-up costs
    assert actual / 1.5 <= per_epoch <= actual * 1.5, (per_epoch, [h["seconds"] for h in run.history])
    assert total > 2 * per_epoch
