"""Precision and memory layout by measurement (core.inference.modes, core.engine.probe): auto picks what the probe
measured fastest, the probe is cached per setting and recorded in meta.json, and no mode changes results beyond
precision noise."""

import json

import pytest
import torch

from core.cli import main
from core.config import Experiment
from core.engine import probe as probe_module
from core.engine.loop import run_experiment
from core.engine.probe import cached_training_probe, training_key, training_mode, training_probe
from core.errors import ConfigError
from core.inference.modes import Mode, ProbeResult, candidate_modes, inference_mode, probe_file, store_probe
from core.inference.runtime import device
from core.runs.checkpoint import load_checkpoint
from tests.conftest import slices


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDY_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def fake_probe(config: Experiment, rates: dict[str, float]) -> ProbeResult:
    result = ProbeResult(training_key(config), rates, config.batch_size, 1.0, {n: r * 4 for n, r in rates.items()})
    store_probe(result)
    return result


@pytest.mark.parametrize("faster", ["fp32/nchw", "fp32/channels-last"])
def test_auto_trains_in_the_mode_the_probe_measured_fastest(own_cache, notmnist_data, notmnist_dir, tmp_path, faster):
    config = Experiment(model="cnn", epochs=1, data=str(notmnist_dir))
    other = "fp32/channels-last" if faster == "fp32/nchw" else "fp32/nchw"
    fake_probe(config, {faster: 900.0, other: 300.0})
    _, run = run_experiment(config, tmp_path / "run", data=slices(notmnist_data, 300, 100))
    assert run.runtime["chosen_by"] == "probe"
    assert f"{run.runtime['precision']}/{run.runtime['memory_format']}" == faster
    assert run.runtime["probe"]["images_per_s"][faster] == 900.0
    again, record = load_checkpoint(tmp_path / "run")
    assert record.runtime == run.runtime  # meta.json keeps it


def test_a_fixed_mode_is_used_as_set_without_a_probe(own_cache, notmnist_data, notmnist_dir):
    config = Experiment(model="mlp", epochs=1, data=str(notmnist_dir), precision="fp32", memory_format="nchw")
    _, run = run_experiment(config, data=slices(notmnist_data, 300, 100))
    assert run.runtime == {"precision": "fp32", "memory_format": "nchw", "chosen_by": "setting"}
    assert not (own_cache / "probes").exists()


def test_a_long_run_probes_once_and_caches_the_result(own_cache, notmnist_data, notmnist_dir, monkeypatch):
    monkeypatch.setattr(probe_module, "PROBE_MIN_IMAGES", 0)
    config = Experiment(model="cnn", epochs=1, batch_size=32, data=str(notmnist_dir))
    assert cached_training_probe(config) is None
    _, run = run_experiment(config, data=slices(notmnist_data, 200, 50))
    stored = cached_training_probe(config)
    assert stored is not None and run.runtime["probe"] == stored.to_dict()
    assert set(stored.images_per_s) == {m.name for m in candidate_modes("auto", "auto", device())}
    chosen = f"{run.runtime['precision']}/{run.runtime['memory_format']}"
    assert stored.images_per_s[chosen] == max(stored.images_per_s.values())
    calls = []
    monkeypatch.setattr(probe_module, "measure", lambda *a, **k: calls.append(a))
    assert training_mode(config, 200)[1] == stored and not calls  # the second run reads the cache


def test_a_short_run_without_a_cached_probe_uses_the_default_mode(own_cache):
    config = Experiment(task="fer", model="mobilenet_v2", img_size=48, epochs=1)
    mode, probe = training_mode(config, train_images=500)
    assert (mode, probe) == (Mode("fp32", "channels-last"), None)
    assert not (own_cache / "probes").exists()


def test_a_damaged_probe_file_is_measured_again(own_cache, caplog):
    config = Experiment(model="mlp", batch_size=32)
    path = probe_file(training_key(config))
    path.parent.mkdir(parents=True)
    path.write_text('{"key": {}, "images_per_s": {"fp32/nchw": -1}}')
    result = training_probe(config, budget_s=0.2)
    assert "damaged probe file" in caplog.text
    assert all(rate > 0 for rate in result.images_per_s.values())
    assert json.loads(path.read_text())["key"] == training_key(config)


def test_every_mode_trains_to_the_same_losses_within_precision_noise(own_cache, notmnist_data, notmnist_dir):
    """A few real steps in each mode this machine has: fp32 layouts agree to float rounding, bf16 (where the
    hardware has it) to bf16's 8 bits of mantissa."""
    losses = {}
    for mode in candidate_modes("auto", "auto", device()):
        config = Experiment(
            model="cnn", epochs=1, batch_size=64, data=str(notmnist_dir), precision=mode.precision,
            memory_format=mode.memory_format, dropout=0.0, augment_shift=0,
        )  # fmt: skip
        _, run = run_experiment(config, data=slices(notmnist_data, 640, 200))
        losses[mode] = (run.history[0]["train_loss"], run.history[0]["eval_loss"])
    reference = losses[Mode("fp32", "nchw")]
    assert len(losses) >= 2
    for mode, (train_loss, eval_loss) in losses.items():
        tolerance = 0.05 if mode.precision == "bf16" else 1e-3
        assert train_loss == pytest.approx(reference[0], rel=tolerance), mode
        assert eval_loss == pytest.approx(reference[1], rel=tolerance), mode


def test_inference_mode_gives_the_same_logits_as_fp32(own_cache, small_checkpoint):
    out, _, _ = small_checkpoint
    model, record = load_checkpoint(out)
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        expected = model(x)
    mode, probe = inference_mode(model, record.config)
    assert probe is not None and mode.name in probe.images_per_s
    with torch.no_grad(), mode.autocast(device()):
        got = model(mode.inputs(x)).float()
    assert torch.allclose(got, expected, atol=0.05 if mode.precision == "bf16" else 1e-4)


def test_records_from_before_the_modes_keep_what_they_were_trained_with():
    fer = Experiment.from_dict({"task": "fer", "model": "mobilenet_v2", "bf16": True})
    assert (fer.precision, fer.memory_format) == ("bf16", "channels-last")
    letters = Experiment.from_dict({"task": "notmnist", "model": "cnn", "bf16": False})
    assert (letters.precision, letters.memory_format) == ("fp32", "nchw")


def test_a_bad_mode_is_one_line(capsys):
    with pytest.raises(ConfigError, match="unknown precision 'fp8'"):
        Experiment(precision="fp8")
    with pytest.raises(SystemExit) as exc:
        main(["train", "notmnist", "--memory-format", "nhwc"])
    assert exc.value.code == 2 and "invalid choice: 'nhwc'" in capsys.readouterr().err


def test_probe_command_prints_every_mode_and_the_choice(own_cache, capsys):
    assert main(["probe", "notmnist", "--model", "mlp", "--batch-size", "32", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["chosen"] in out["images_per_s"] and out["images_per_s"][out["chosen"]] == max(
        out["images_per_s"].values()
    )
    assert out["key"]["arch"] == "mlp" and out["key"]["batch_size"] == 32


def test_a_background_probe_that_died_is_reported_in_one_line_and_tried_again(own_cache):
    import subprocess

    from core.jobs import measure_in_background

    config = Experiment(model="mlp", batch_size=48)
    marker = probe_file(training_key(config)).with_suffix(".pid")
    marker.parent.mkdir(parents=True)
    finished = subprocess.Popen(["true"])
    finished.wait()
    marker.write_text(str(finished.pid))
    marker.with_suffix(".log").write_text("loading\nerror: out of memory\n")
    problem = measure_in_background(config)
    assert problem == "the speed measurement ended without a result (error: out of memory)"
    assert not marker.exists()  # so the next call starts a new one
