"""FER+ votes: read beside the data and checked against it, as training labels (plurality or distribution) and as
the consensus metrics every FER evaluation reports. Real faces and real votes from ../shared/data/fer."""

import csv
import shutil

import numpy as np
import pytest
import torch

from core.cli import main
from core.config import Experiment
from core.data import ferplus
from core.data.cache import load_split
from core.data.fer import SPEC
from core.engine.loop import run_experiment
from core.engine.metrics import consensus_metrics
from core.engine.mixing import BatchMixer
from core.errors import ConfigError, DataSourceError
from core.runs.record import read_record
from tests.conftest import StopAfter, slices


def csv_rows(path, split):
    with open(path, newline="") as handle:
        return [row for row in csv.DictReader(handle) if row["split"] == split]


@pytest.fixture(scope="session")
def votes_source(tmp_path_factory, fer_data):
    """A small FER source with its votes and manifest, written the way `framed-faces` writes one (120 real
    faces per split, the training faces also framed by the cascade)."""
    from core.study.in_frames import write_framed_source

    out = tmp_path_factory.mktemp("fer-small") / "source"
    write_framed_source({name: split.head(120) for name, split in fer_data.items()}, out)
    return out


@pytest.fixture
def source_copy(votes_source, tmp_path):
    copy = tmp_path / "source"
    shutil.copytree(votes_source, copy)
    return copy


def test_votes_follow_their_faces_on_the_real_data(fer_data, fer_dir):
    """FER-2013's own label is the annotators' plurality for about two faces in three; votes one row off agree by
    chance only. The shared copy's manifest (pixel MD5s) is checked on load, so the rows are the faces."""
    validation = fer_data["validation"]
    assert validation.votes is not None and validation.votes.shape == (3589, 10)
    winners, has = ferplus.plurality(validation.votes.numpy())
    untied = has & (winners.sum(1) == 1)
    labels = validation.labels.numpy()
    agree = (winners.argmax(1) == labels)[untied].mean()
    shifted = np.roll(winners.argmax(1), 1)
    assert agree > 0.55 and (shifted == labels)[untied].mean() < 0.35, agree
    assert (validation.votes.sum(1) == 0).sum() == 10  # the README's 10 validation faces FER+ left out


def test_relabel_keeps_the_faces_with_a_plurality_among_the_seven(fer_data, fer_dir):
    rows = csv_rows(fer_dir / "ferplus.csv", "validation")
    expected_votes, expected_majority = 0, 0
    for row in rows:
        if not row["neutral"]:
            continue
        emotions = [int(row[c]) for c in ferplus.EMOTION_COLUMNS]
        others = max(int(row[c]) for c in ferplus.OTHER_COLUMNS)
        if max(emotions) > others:
            expected_votes += 1
            expected_majority += emotions.count(max(emotions)) == 1
    votes = ferplus.relabel(fer_data["validation"], "ferplus-votes")
    majority = ferplus.relabel(fer_data["validation"], "ferplus-majority")
    assert (len(votes), len(majority)) == (expected_votes, expected_majority)
    assert torch.allclose(votes.targets.sum(1), torch.ones(len(votes)))
    assert torch.equal(votes.labels, votes.targets.argmax(1))  # a tie's label is its first emotion
    assert torch.equal(majority.labels, torch.from_numpy(ferplus.distribution(majority.votes.numpy()).argmax(1)))
    assert ferplus.relabel(fer_data["validation"], "fer2013") is fer_data["validation"]


def test_consensus_metrics_measure_agreement_with_the_annotators(fer_data):
    test = fer_data["test"]
    votes = test.votes.numpy()
    as_voted = consensus_metrics(torch.from_numpy(ferplus.distribution(votes)), test.votes)
    assert as_voted["majority_accuracy"] == 1.0  # the vote distribution names the plurality (a tie: any of it)
    fer_labels = torch.nn.functional.one_hot(test.labels, 7).float()
    by_fer = consensus_metrics(fer_labels, test.votes)
    voted = votes.sum(1) > 0
    share = votes[voted, test.labels.numpy()[voted]] / votes[voted].sum(1)
    assert by_fer["annotator_agreement"] == pytest.approx(share.mean())
    assert 0.55 < by_fer["majority_accuracy"] < 0.75 and by_fer["n"] < by_fer["n_voted"] == voted.sum()
    assert as_voted["vote_nll"] < by_fer["vote_nll"]


def test_a_written_source_keeps_each_faces_votes(votes_source, fer_data):
    original = fer_data["train"].head(120)
    written = load_split(SPEC, str(votes_source), "train")
    assert written.votes is not None and torch.equal(written.votes[:120], original.votes)
    framed = written.images[120:]
    assert len(framed) > 50
    for i in range(len(framed)):  # every framed face carries the votes of the face it was made from
        assert written.votes[120 + i].tolist() in original.votes.tolist()


def test_soft_targets_mix_like_labels():
    config = Experiment(task="fer", mixup=0.4)
    mixer = BatchMixer(config, 7)
    images = torch.rand(6, 1, 8, 8)
    targets = torch.softmax(torch.randn(6, 7), 1)
    mixed, mixed_targets = mixer(images, targets, torch.Generator().manual_seed(0))
    lam = float(((mixed - images.roll(1, 0)) / (images - images.roll(1, 0)))[0, 0, 0, 0])
    assert torch.allclose(mixed_targets, lam * targets + (1 - lam) * targets.roll(1, 0), atol=1e-5)


@pytest.mark.slow
def test_a_vote_trained_run_records_its_labels_and_consensus(tmp_path, fer_data, fer_dir):
    config = Experiment(task="fer", model="mobilenet_v2", img_size=48, epochs=2, data=str(fer_dir),
                        labels="ferplus-votes", mixup=0.2, ema_decay=0.9)  # fmt: skip
    data = slices(fer_data, 600, 150)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, tmp_path / "D", data=data, callbacks=[StopAfter(1)])
    other = Experiment(**{**config.to_dict(), "labels": "ferplus-majority"})
    with pytest.raises(ConfigError, match="labels 'ferplus-votes' -> 'ferplus-majority'"):
        run_experiment(other, tmp_path / "D", data=data, resume=True)
    _, run = run_experiment(config, tmp_path / "D", data=data, resume=True)
    record = read_record(tmp_path / "D")
    assert record.config.labels == "ferplus-votes" and "ferplus-votes" in record.name
    assert record.data.sizes["train"] == len(ferplus.relabel(data["train"], "ferplus-votes")) < 600
    block = record.test.ferplus
    assert block["n"] <= 150 and 0 <= block["majority_accuracy"] <= 1 and block["unseen"]["n_voted"] <= 150
    assert all("eval_ferplus_accuracy" in h for h in record.history)
    best = max(record.history, key=lambda h: h["eval_ferplus_accuracy"])  # selected on the labels trained on
    assert record.best_epoch == best["epoch"]


def write_rows(path, rows, fields):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def damage(source, how):
    votes_file, manifest = source / "ferplus.csv", source / "manifest.csv"
    with open(votes_file, newline="") as handle:
        reader = csv.DictReader(handle)
        fields, rows = reader.fieldnames, list(reader)
    if how == "missing":
        votes_file.unlink()
    elif how == "truncated":
        write_rows(votes_file, rows[:-30], fields)
    elif how == "cut mid-row":
        votes_file.write_text(votes_file.read_text()[:-40])
    elif how == "other rows":  # the votes of other faces: the manifest's digests no longer match the images
        with open(manifest, newline="") as handle:
            lines = handle.read().splitlines()
        lines[1], lines[2] = lines[2], lines[1]
        manifest.write_text("\n".join(lines) + "\n")
    elif how == "not votes":
        votes_file.write_text("a,b\n1,2\n")


DAMAGE = {
    "missing": "has no ferplus.csv",
    "truncated": "rows for the",
    "cut mid-row": "ferplus.csv",
    "other rows": "belong to other rows",
    "not votes": "not a FER+ votes file",
}


@pytest.mark.parametrize("how", DAMAGE)
def test_bad_votes_are_one_line_and_leave_no_run(how, source_copy, tmp_path, capsys):
    damage(source_copy, how)
    code = main(["train", "fer", "--arch", "mobilenet_v2", "--img-size", "48", "--epochs", "1", "--labels",
                 "ferplus-votes", "--data", str(source_copy), "--out", str(tmp_path / "D")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and err.startswith("error:") and DAMAGE[how] in err, err
    assert not (tmp_path / "D").exists()
    # a run on FER-2013's own labels does not need the votes: it reads the source and leaves them out
    split = load_split(SPEC, str(source_copy), "validation")
    assert len(split) == 120 and (split.votes is None) == (how in ("missing", "not votes"))


def test_labels_on_a_task_without_votes_is_one_line(tmp_path, capsys):
    code = main(["train", "notmnist", "--labels", "ferplus-votes", "--data", "bundled", "--out", str(tmp_path / "D")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "--labels is a fer option" in err
    with pytest.raises(ConfigError, match="is for the fer task"):
        Experiment.from_dict({"task": "notmnist", "labels": "ferplus-majority"})
    with pytest.raises(ConfigError, match="unknown labels"):
        Experiment(task="fer", labels="votes")


def test_a_source_without_votes_file_named_in_the_error(fer_data, tmp_path):
    with pytest.raises(DataSourceError, match="has no ferplus.csv"):
        ferplus.relabel(fer_data["validation"].__class__(**{**fer_data["validation"].__dict__, "votes": None,
                                                           "source": str(tmp_path)}), "ferplus-votes")  # fmt: skip
