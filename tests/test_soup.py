"""Weight soups (core.engine.soup, `python -m core soup`): the mean of runs' weights, chosen on validation, saved
as a run of its own. The two emotion runs that ship with weights are one network from one start (the FER+ model
was fine-tuned from the FER-2013 one), so they are real members; a slice of the real faces keeps it quick."""

import json
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
FER_RUNS = ROOT / "checkpoints" / "beyond" / "fer"
VOTES = FER_RUNS / "mobilenet_v2-tuned-ferplus-votes-96px-s0"  # first: its labels (FER+) choose the soup
FER2013 = FER_RUNS / "mobilenet_v2-tuned-96px-s0"
LETTERS = ROOT / "checkpoints" / "notmnist"


@pytest.fixture(scope="module")
def face_slices(fer_data):
    return {"train": fer_data["train"].head(1500), **{k: fer_data[k].head(300) for k in ("validation", "test")}}


def test_a_uniform_soup_is_the_mean_of_its_runs_and_a_run_of_its_own(tmp_path, face_slices):
    from core.data.tasks import batch_transform
    from core.engine.loop import evaluate
    from core.engine.soup import make_soup
    from core.inference.modes import inference_mode
    from core.runs.checkpoint import load_checkpoint
    from core.runs.record import read_record

    out = tmp_path / "soup"
    make_soup([VOTES, FER2013], face_slices, "uniform", out)
    souped, record = load_checkpoint(out)  # a run like any other: weights (digest checked) and a record
    a, b = (load_checkpoint(run)[0].state_dict() for run in (VOTES, FER2013))
    state = souped.state_dict()
    for name in ("stages.0.0.0.conv.weight", "head.3.weight", "stages.0.1.conv.0.1.running_var"):
        assert torch.allclose(state[name], (a[name] + b[name]) / 2, atol=1e-6), name
    assert not torch.equal(a["head.3.weight"], b["head.3.weight"])  # the mean is a third network
    assert record.soup is not None and record.soup["method"] == "uniform"
    assert record.soup["kept"] == record.soup["members"] == [str(VOTES), str(FER2013)]
    assert record.config == read_record(VOTES).config and record.history == [] and record.calibration is None
    # the recorded figures are the saved weights' on the slices
    mode, _ = inference_mode(souped, record.config, 256)  # the mode the soup was evaluated in
    again = evaluate(souped, face_slices["test"], batch_transform(record.config), mode, confidence=True)
    test = record.test
    assert test is not None and test.n == 300 and test.accuracy == pytest.approx(again["accuracy"])
    assert test.ferplus and test.ferplus["majority_accuracy"] == pytest.approx(again["ferplus"]["majority_accuracy"])
    assert record.validation is not None and record.validation.n == 300
    # tables and model cards name it as a soup and say how it is made
    from core.study.report import training_command

    assert record.name == read_record(VOTES).name + "-soup"
    assert training_command(record).endswith(f"python -m core soup {VOTES.name} {FER2013.name} --out DIR_SOUP")


def test_the_greedy_soup_adds_a_run_only_if_validation_holds():
    from core.engine.soup import _greedy

    # a stand-in score: the closer the mean weight to 0, the better
    states = [{"w": torch.tensor([x])} for x in (2.0, -0.4, 8.0, 0.5)]

    def score(state):
        return 1 - abs(state["w"].item()) / 10

    kept, trials = _greedy(states, [score(s) for s in states], score)
    # the best alone first (-0.4), then 0.5 (mean 0.05: better, kept), 2 (mean 0.7: worse), 8 (worse)
    assert trials[0]["member"] == 1 and trials[0]["validation"] == pytest.approx(0.96) and trials[0]["kept"]
    assert [t["member"] for t in trials] == [1, 3, 0, 2]
    assert kept == [1, 3] and [t["kept"] for t in trials] == [True, True, False, False]
    assert trials[1]["validation"] == pytest.approx(0.995)


def test_a_greedy_soup_from_the_command_line(tmp_path, face_slices, monkeypatch, capsys):
    from core.cli import main
    from core.engine import loop
    from core.runs.record import read_record

    monkeypatch.setattr(loop, "load_data", lambda config: face_slices)
    out = tmp_path / "greedy"
    assert main(["soup", str(VOTES), str(FER2013), "--out", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    trials = printed["soup"]["trials"]
    assert trials[0]["validation"] >= trials[1]["validation"] and trials[0]["kept"]  # the better run alone first
    assert trials[1]["kept"] == (trials[1]["validation"] >= trials[0]["validation"])
    assert printed["soup"]["kept"] == [t["member"] for t in trials if t["kept"]] == read_record(out).soup["kept"]
    assert printed["metrics"]["test"]["n"] == 300


def test_a_soup_that_cannot_be_made_is_one_line_and_writes_nothing(tmp_path, capsys):
    from core.cli import main

    def refused(*args) -> str:
        assert main(["soup", *map(str, args)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0, err
        return err

    out = tmp_path / "soup"
    assert "at least two runs" in refused(VOTES, "--out", out)
    assert "named twice" in refused(VOTES, VOTES, "--out", out)
    assert "other classes" in refused(VOTES, LETTERS / "cnn-original-s1", "--out", out)
    assert "no validation split" in refused(LETTERS / "cnn-original-s1", LETTERS / "cnn-permuted0-s0", "--out", out)
    assert "no meta.json" in refused(VOTES, tmp_path, "--out", out)
    assert not out.exists()
    (out / "meta.json").parent.mkdir()
    (out / "meta.json").write_text("{}")
    assert "already holds a run" in refused(VOTES, FER2013, "--out", out)
    assert (out / "meta.json").read_text() == "{}"
