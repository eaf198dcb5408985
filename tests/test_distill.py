"""Knowledge distillation on real notMNIST letters: the student learns what its teachers say, not only the labels."""

import dataclasses

import pytest
import torch

from core.cli import main
from core.config import Experiment
from core.data.tasks import batch_transform
from core.engine.distill import TARGETS_FILE, training_targets
from core.engine.loop import evaluate, run_experiment
from core.errors import ConfigError
from core.runs.layout import LAST_DIR, partial_dir
from tests.conftest import slices


def shifted(splits: dict) -> dict:
    """The same images with every label moved one letter on (A is called B, ..., J is called A)."""
    n = len(splits["train"].classes)
    return {k: dataclasses.replace(v, labels=(v.labels + 1) % n) for k, v in splits.items()}


@pytest.fixture(scope="module")
def lying_teacher(tmp_path_factory, notmnist_dir, notmnist_data):
    """A CNN taught that every letter is the next one: a teacher whose advice no label supports."""
    out = tmp_path_factory.mktemp("teacher") / "cnn"
    config = Experiment(epochs=2, data=str(notmnist_dir))
    run_experiment(config, out, data=shifted(slices(notmnist_data, 3000, 500)))
    return out


def test_with_only_soft_targets_the_student_learns_the_teachers_answers(lying_teacher, notmnist_dir, notmnist_data):
    data = slices(notmnist_data, 3000, 500)
    config = Experiment(epochs=2, data=str(notmnist_dir), teachers=str(lying_teacher), distill_weight=1.0)
    student, run = run_experiment(config, data=data)
    as_labelled = evaluate(student, data["test"], batch_transform(config))["accuracy"]
    as_taught = evaluate(student, shifted(data)["test"], batch_transform(config))["accuracy"]
    # The labels say A, the teacher says B, and the student (which never used the labels) says B.
    assert as_taught > 0.7 and as_labelled < 0.2, (as_taught, as_labelled)
    assert run.config.teachers == str(lying_teacher) and "distilled" not in run.config.name  # notmnist names


def test_with_a_small_weight_the_labels_still_win(lying_teacher, notmnist_dir, notmnist_data):
    """At weight 0.1 the labels count most: the student mostly says what the labels say."""
    data = slices(notmnist_data, 3000, 500)
    soft = Experiment(epochs=2, data=str(notmnist_dir), teachers=str(lying_teacher), distill_weight=0.1)
    student, _ = run_experiment(soft, data=data)
    taught = evaluate(student, shifted(data)["test"], batch_transform(soft))["accuracy"]
    labelled = evaluate(student, data["test"], batch_transform(soft))["accuracy"]
    assert labelled > taught, (labelled, taught)  # mostly the labels at 0.1


def test_the_targets_are_kept_for_a_resumed_run(lying_teacher, notmnist_dir, notmnist_data, tmp_path, monkeypatch):
    train = notmnist_data["train"].head(400)
    config = Experiment(data=str(notmnist_dir), teachers=str(lying_teacher))
    first = training_targets(config, train, tmp_path)
    assert (tmp_path / LAST_DIR / TARGETS_FILE).is_file()
    assert torch.allclose(first.sum(1), torch.ones(len(train)), atol=1e-4)

    def no_teachers(*_):
        raise AssertionError("the teachers were asked again")

    monkeypatch.setattr("core.engine.distill.soft_targets", no_teachers)
    assert torch.equal(training_targets(config, train, tmp_path), first)
    # A file that does not fit this split is not trusted.
    monkeypatch.undo()
    again = training_targets(config, notmnist_data["train"].head(300), tmp_path)
    assert again.shape == (300, 10)


def test_a_teacher_of_another_task_or_unfinished_is_refused(lying_teacher, notmnist_dir, tmp_path):
    from core.engine.distill import check_teachers

    classes = list("ABCDEFGHIJ")
    with pytest.raises(ConfigError, match="other classes"):
        check_teachers(Experiment(task="fer", teachers=str(lying_teacher)), ["angry"] * 7)
    check_teachers(Experiment(teachers=f" {lying_teacher} , {lying_teacher}"), classes)  # spaces are fine
    with pytest.raises(ConfigError, match="names no run"):
        check_teachers(Experiment(teachers=" , "), classes)
    import shutil

    shutil.copytree(lying_teacher, tmp_path / "t")
    next((tmp_path / "t").glob("model.*")).unlink()
    with pytest.raises(ConfigError, match="no weights"):
        check_teachers(Experiment(teachers=str(tmp_path / "t")), classes)


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--teachers", "no/such/run"], "no/such/run is not a checkpoint"),
        (["--teachers", "x", "--distill-weight", "0"], "distill weight must be above 0"),
        (["--teachers", "x", "--distill-temperature", "100"], "distill temperature must be between"),
    ],
)
def test_bad_distillation_flags_are_one_line_errors(flags, expected, tmp_path, capsys):
    code = main(["train", "notmnist", "--data", "bundled", "--epochs", "1", "--out", str(tmp_path / "D"), *flags])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and expected in err, err
    assert not (tmp_path / "D").exists() and not partial_dir(tmp_path / "D").exists()
