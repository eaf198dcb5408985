"""A run's data found on another machine: records keep a portable reference, and the commands that read a run's
data again find it through the data roots when the recorded path is absent; when nothing fits, one line."""

import json
import shutil

import pytest

from core.cli import main
from core.data.fer import SPEC as FER
from core.data.roots import locate, reference
from core.errors import DataSourceError
from core.runs.data_source import run_data_source
from core.runs.record import read_record


def moved(tmp_path, run_folder, source, with_reference=True):
    """A copy of a finished run whose record says it was trained from `source` (another machine's path)."""
    folder = tmp_path / "run"
    shutil.copytree(run_folder, folder)
    meta = json.loads((folder / "meta.json").read_text())
    meta["data"]["source"] = source
    if not with_reference:
        meta["data"].pop("reference", None)  # as records written before the reference existed
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


def test_a_trained_run_keeps_a_portable_reference(small_checkpoint, notmnist_dir, monkeypatch):
    monkeypatch.setenv("STUDY_DATA_ROOTS", str(notmnist_dir.parent))
    assert reference(str(notmnist_dir)) == notmnist_dir.name  # below a data root: the path below it
    assert reference("anubhavmaity/notMNIST") == "anubhavmaity/notMNIST"
    assert reference("/elsewhere/framed-fer") == "framed-fer"  # outside the roots: its name
    folder, _, _ = small_checkpoint
    assert read_record(folder).data.portable == notmnist_dir.name


def test_an_absent_recorded_path_is_found_under_the_data_roots(tmp_path, fer_dir, monkeypatch):
    monkeypatch.setenv("STUDY_DATA_ROOTS", str(fer_dir.parent))
    assert locate(FER, "fer", "/training/machine/data/fer") == str(fer_dir)
    assert locate(FER, "fer", "/training/machine/x", "fer") == str(fer_dir)  # by the reference
    assert locate(FER, "fer", str(fer_dir)) == str(fer_dir)  # present: as recorded
    with pytest.raises(DataSourceError, match="'framed-fer' is under the data roots"):
        locate(FER, "fer", "/training/machine/framed-fer")


def test_evaluate_without_data_finds_the_runs_data(tmp_path, small_checkpoint, notmnist_dir, monkeypatch, capsys):
    monkeypatch.setenv("STUDY_DATA_ROOTS", str(notmnist_dir.parent))
    folder, _, meta = small_checkpoint
    run = moved(tmp_path, folder, f"/home/someone/data/{notmnist_dir.name}", with_reference=False)
    assert run_data_source(read_record(run)) == str(notmnist_dir)
    assert main(["evaluate", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 3745  # the whole test split, read from the data roots
    lost = moved(tmp_path / "b", folder, "/home/someone/data/letters-v2", with_reference=False)
    before = (lost / "meta.json").read_bytes()
    assert main(["evaluate", str(lost), "--record-unseen"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is not on this machine" in err and "give --data" in err
    assert (lost / "meta.json").read_bytes() == before  # nothing written
