"""The run record: every shipped meta.json reads and round-trips; every malformed one is one clear error."""

import json
import shutil
from pathlib import Path

import pytest

from core.errors import CheckpointError
from core.runs.checkpoint import load_checkpoint
from core.runs.index import find_runs, run_folders
from core.runs.record import read_record, record_from_dict

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "checkpoints" / "notmnist" / "cnn-original-s0"


def test_every_shipped_record_reads_and_round_trips():
    folders = run_folders(ROOT / "checkpoints")
    assert len(folders) >= 25
    for folder in folders:
        record = read_record(folder)
        assert record.path == folder and record.complete and record.test is not None
        again = record_from_dict(json.loads(json.dumps(record.to_dict())), folder / "meta.json")
        assert again.to_dict() == record.to_dict()


def broken(meta: dict, case: str) -> dict:
    meta = json.loads(json.dumps(meta))
    if case == "config is a string":
        meta["config"] = "cnn"
    elif case == "no classes":
        del meta["classes"]
    elif case == "no preprocessing":
        del meta["preprocessing"]
    elif case == "huge image size":
        meta["config"]["img_size"] = 10**9
    elif case == "huge decoded size":
        meta["preprocessing"]["decoded_size"] = 10**9
    elif case == "accuracy is text":
        meta["metrics"]["test"]["accuracy"] = "high"
    elif case == "accuracy above 1":
        meta["metrics"]["test"]["accuracy"] = 1.5
    elif case == "confusion matrix mis-shaped":
        meta["metrics"]["test"]["confusion_matrix"] = [[1, 2], [3, 4]]
    elif case == "newer format":
        meta["format_version"] = 99
    elif case == "history without epochs":
        meta["history"] = [{"loss": 1.0}]
    elif case == "a list, not an object":
        meta = [meta]
    return meta


CASES = {  # case -> what the message names
    "config is a string": "'config'",
    "no classes": "'classes'",
    "no preprocessing": "'preprocessing'",
    "huge image size": "'config'",
    "huge decoded size": "'preprocessing.decoded_size'",
    "accuracy is text": "'metrics.test.accuracy'",
    "accuracy above 1": "'metrics.test.accuracy'",
    "confusion matrix mis-shaped": "'metrics.test.confusion_matrix'",
    "newer format": "'format_version'",
    "history without epochs": "'history\\[0\\].epoch'",
    "a list, not an object": "not a checkpoint description",
}


@pytest.mark.parametrize("case", CASES)
def test_a_malformed_record_names_the_file_and_the_field(tmp_path, case):
    folder = tmp_path / "run"
    shutil.copytree(SHIPPED, folder)
    (folder / "meta.json").write_text(json.dumps(broken(json.loads((SHIPPED / "meta.json").read_text()), case)))
    with pytest.raises(CheckpointError, match=CASES[case]) as err:
        load_checkpoint(folder)  # the record is refused before any model is built
    message = str(err.value)
    assert str(folder / "meta.json") in message and "\n" not in message


def test_the_index_skips_a_bad_record_and_says_so(tmp_path, caplog):
    shutil.copytree(SHIPPED, tmp_path / "good")
    shutil.copytree(SHIPPED, tmp_path / "bad")
    (tmp_path / "bad" / "meta.json").write_text('{"format": "dl-study-checkpoint", "config": "x"}')
    (tmp_path / ".jobs" / "j").mkdir(parents=True)  # dot folders are never runs
    (tmp_path / ".jobs" / "j" / "meta.json").write_text("{}")
    errors = []
    runs = find_runs(tmp_path, on_error=lambda path, exc: errors.append(path.name))
    assert [r.path.name for r in runs] == ["good"] and errors == ["bad"]
    with caplog.at_level("WARNING", logger="core.runs.index"):
        assert len(find_runs(tmp_path, task="notmnist")) == 1
    assert [r.getMessage().count("\n") for r in caplog.records] == [0]
    assert find_runs(tmp_path, task="fer") == []


def test_a_malformed_finished_run_is_never_retrained_over(tmp_path):
    """The seeds and sweep runners skip finished runs and resume unfinished ones; a folder whose meta.json is
    there but malformed is neither: it is an error, and a sweep shows the row as invalid with the reason."""
    from core.runs.record import is_complete
    from core.study.sweep import ROWS, RowStatus, current_rows

    folder = tmp_path / "sweep"
    shutil.copytree(SHIPPED, folder / "scratch")
    assert is_complete(folder / "scratch") and not is_complete(folder / "none")
    (folder / "scratch" / "meta.json").write_text('{"format": "dl-study-checkpoint", "config": {}}')
    with pytest.raises(CheckpointError, match="'format_version'"):
        is_complete(folder / "scratch")
    rows = {r["row"]: r for r in current_rows(folder, errors={})}
    assert len(rows) == len(ROWS) and rows["scratch"]["status"] == RowStatus.INVALID
    assert "'format_version'" in rows["scratch"]["error"] and rows["none"]["status"] == RowStatus.MISSING
