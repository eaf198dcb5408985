import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow  # real training, full splits or subprocesses; `make test-fast` skips them

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "checkpoints" / "notmnist"


def run_cli(*args, check=True):
    proc = subprocess.run(
        [sys.executable, "-m", "core", *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}: {proc.stderr[-2000:]}")
    return proc


def test_train_then_evaluate_json(tmp_path, notmnist_dir):
    out = tmp_path / "mlp"
    run_cli(
        "train",
        "notmnist",
        "--model",
        "mlp",
        "--permute",
        "--permutation-seed",
        "3",
        "--epochs",
        "1",
        "--train-limit",
        "2000",
        "--data",
        notmnist_dir,
        "--out",
        out,
    )
    meta = json.loads((out / "meta.json").read_text())
    assert meta["preprocessing"]["permutation"] == {"applied": True, "seed": 3, "num_pixels": 784}
    result = json.loads(run_cli("evaluate", out, "--data", notmnist_dir, "--json").stdout)
    assert result["n"] == 3745 and result["accuracy"] > 0.6
    assert set(result["per_class"]) == set("ABCDEFGHIJ")
    assert np.array(result["confusion_matrix"]).sum() == 3745
    assert 3600 < result["unseen"]["n"] < 3745


def test_evaluate_bad_checkpoint_is_one_line(tmp_path):
    proc = run_cli("evaluate", tmp_path, check=False)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and "no meta.json" in proc.stderr


def test_predict_real_letters_and_survives_bad_files(tmp_path, small_checkpoint, notmnist_data):
    ckpt, _, _ = small_checkpoint
    test = notmnist_data["test"]
    # One real test letter on a dark background, saved in the modes and sizes users have.
    border = lambda a: np.median(np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]]))
    letter = next(a for a in test.images[:, 0].numpy() if border(a) < 30 and a.mean() > 40)
    img = Image.fromarray(letter)
    variants = [
        img,
        img.convert("RGB"),
        img.convert("RGBA"),
        Image.fromarray(255 - letter),
        Image.fromarray(letter.astype(np.uint16) * 257),
        img.resize((280, 280), Image.NEAREST),
    ]
    files = []
    for i, variant in enumerate(variants):
        files.append(tmp_path / f"{i}.png")
        variant.save(files[-1])
    bad = tmp_path / "not-an-image.png"
    bad.write_text("plain text")
    proc = run_cli("predict", ckpt, files[0], bad, *files[1:], "--json", check=False)
    assert proc.returncode == 1  # one file failed, the others were still predicted
    assert "not-an-image.png" in proc.stderr and proc.stderr.strip().count("\n") == 0
    preds = json.loads(proc.stdout)["predictions"]
    assert preds[1]["file"].endswith("not-an-image.png") and "error" in preds[1]
    good = [p for p in preds if "label" in p]
    assert len(good) == 6
    for p in good:
        assert abs(sum(p["probabilities"].values()) - 1) < 1e-4
    # The same letter in every mode, inverted or enlarged -> the same prediction as the plain file.
    assert len({p["label"] for p in good}) == 1


def shipped_cells() -> dict:
    from core.study.notmnist_summary import by_cell, collect_runs, comparison_rows

    return by_cell(comparison_rows(collect_runs(SHIPPED)))


def test_every_configuration_ships_three_seeds_and_the_median_seeds_weights():
    cells = shipped_cells()
    assert set(cells) == {(m, p) for m in ("CNN", "MLP") for p in ("original", "permuted")}
    for row in cells.values():
        assert len(row.seeds) >= 3 and row.test_std is not None and row.unseen_std is not None
        assert (row.median.path / "model.safetensors").is_file()
    tracked = subprocess.run(["git", "ls-files", "checkpoints/notmnist"], cwd=ROOT, capture_output=True, text=True)
    weights = {ROOT / Path(line).parent for line in tracked.stdout.split() if line.endswith("model.safetensors")}
    if tracked.returncode == 0 and tracked.stdout:  # in a git checkout: only the median seeds' weights ship
        assert weights == {row.median.path for row in cells.values()}


@pytest.mark.parametrize("model", ["CNN", "MLP"])
def test_shipped_median_checkpoints_reproduce_their_accuracy(model, notmnist_dir):
    """The shipped checkpoints, re-evaluated on the real test split (not read from meta.json)."""
    acc = {}
    for pixels in ("original", "permuted"):
        row = shipped_cells()[(model, pixels)]
        result = json.loads(run_cli("evaluate", row.median.path, "--data", notmnist_dir, "--json").stdout)
        assert result["accuracy"] == pytest.approx(row.median.test.accuracy, abs=1e-3)
        acc[pixels] = result["accuracy"]
    if model == "CNN":  # the study: ~93 % original, ~90 % permuted
        assert acc["original"] >= 0.94 and acc["permuted"] >= 0.88 and acc["original"] - acc["permuted"] >= 0.02
    else:  # a fully connected network does not care where the pixels are
        assert abs(acc["original"] - acc["permuted"]) <= 0.01


def test_seeds_command_trains_every_configuration_and_resumes(tmp_path, notmnist_dir):
    args = [
        "seeds",
        "notmnist",
        "--seeds",
        "0",
        "1",
        "--epochs",
        "1",
        "--train-limit",
        "800",
        "--test-limit",
        "300",
        "--data",
        notmnist_dir,
        "--out",
        tmp_path,
    ]
    out = run_cli(*args).stdout
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == sorted(
        f"{m}-{p}-s{s}" for m in ("cnn", "mlp") for p in ("original", "permuted0") for s in (0, 1)
    )
    assert len([line for line in out.splitlines() if line.startswith(("CNN ", "MLP ")) and " ± " in line]) == 4
    again = run_cli(*args)
    assert again.stderr.count("already complete, skipped") == 8


def test_evaluate_records_the_unseen_figure_of_a_run_recorded_without_it(tmp_path, notmnist_dir):
    import shutil

    run = tmp_path / "cnn"
    shutil.copytree(SHIPPED / "cnn-original-s1", run)
    meta = json.loads((run / "meta.json").read_text())
    recorded = meta["metrics"]["test"].pop("unseen")
    (run / "meta.json").write_text(json.dumps(meta))
    run_cli("evaluate", run, "--data", notmnist_dir, "--record-unseen")
    again = json.loads((run / "meta.json").read_text())
    assert again["metrics"]["test"]["unseen"]["n"] == recorded["n"]
    assert again["metrics"]["test"]["unseen"]["accuracy"] == pytest.approx(recorded["accuracy"], abs=1e-3)
    assert again["metrics"]["test"]["unseen"]["ci_low"] < again["metrics"]["test"]["unseen"]["accuracy"]
    del again["metrics"]["test"]["unseen"]
    from core.config import Experiment

    # nothing else changed (the setting is written in this version's fields: the same experiment)
    assert Experiment.from_dict(again["config"]) == Experiment.from_dict(meta["config"])
    assert {**again, "config": None} == {**meta, "config": None}
    # a record that this evaluation does not reproduce (other data, or another model): refused, nothing written
    again["metrics"]["test"]["accuracy"] = 0.5
    (run / "meta.json").write_text(json.dumps(again))
    before = (run / "meta.json").read_bytes()
    proc = run_cli("evaluate", run, "--data", notmnist_dir, "--record-unseen", check=False)
    assert proc.returncode == 2 and "nothing was written" in proc.stderr and proc.stderr.strip().count("\n") == 0
    assert (run / "meta.json").read_bytes() == before


def test_evaluate_several_runs_gives_their_mean_probability(notmnist_dir, notmnist_data, capsys):
    import torch

    from core.cli import main
    from core.data.tasks import batch_transform
    from core.inference.runtime import predict_logits
    from core.runs.checkpoint import load_checkpoint

    # the three letter models whose weights ship: a CNN, an MLP and the deeper CNN beyond the study
    runs = [
        SHIPPED / "cnn-original-s1",
        SHIPPED / "mlp-original-s0",
        SHIPPED.parent / "beyond" / "notmnist" / "deep_cnn-original-s0",
    ]
    fp32 = ["--precision", "fp32", "--memory-format", "nchw"]  # as computed here: no prediction may flip
    assert main(["evaluate", *map(str, runs), "--data", str(notmnist_dir), "--json", *fp32]) == 0
    together = json.loads(capsys.readouterr().out)
    test = notmnist_data["test"]
    # the same figure computed here from each run alone
    total, alone = 0, []
    for run in runs:
        model, record = load_checkpoint(run)
        logits = predict_logits(model, test.images, batch_transform(record.config).eval)
        alone.append((logits.argmax(1) == test.labels).float().mean().item())
        total = total + torch.softmax(logits, 1)
    expected = (total.argmax(1) == test.labels).float().mean().item()
    assert together["n"] == len(test) and together["accuracy"] == pytest.approx(expected, abs=1e-6)
    assert together["accuracy"] > sum(alone) / len(alone)  # three models' errors differ: the vote beats their mean
    assert together["ci_low"] < together["accuracy"] < together["ci_high"] and together["unseen"]["n"] > 3600
    assert together["checkpoints"] == [str(r) for r in runs]
    # a run twice is that run
    assert main(["evaluate", str(runs[0]), str(runs[0]), "--data", str(notmnist_dir), "--json", *fp32]) == 0
    twice = json.loads(capsys.readouterr().out)
    assert twice["accuracy"] == pytest.approx(alone[0], abs=1e-6)


def test_an_ensemble_of_other_tasks_or_with_a_one_run_flag_is_one_line(tmp_path, notmnist_dir, capsys):
    from core.cli import main

    letters, faces = SHIPPED / "cnn-original-s1", ROOT / "checkpoints" / "beyond" / "fer" / "mobilenet_v2-tuned-96px-s0"

    def refused(*args) -> str:  # in this process (the path `python -m core` takes): exit 2 and one line
        assert main([str(a) for a in args]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0, err
        return err

    assert "other classes" in refused("evaluate", letters, faces, "--data", notmnist_dir)
    assert "no meta.json" in refused("evaluate", letters, tmp_path)
    before = (letters / "meta.json").read_bytes()
    for flag in (["--record-tta", "--tta", "flip"], ["--record-unseen"], ["--in-frames", "5"]):
        assert "for one run" in refused("evaluate", letters, letters, *flag), flag
    assert (letters / "meta.json").read_bytes() == before
