"""Data sources a browser user may pick: the allow-list, the bounded scan, and the sidebar's refusal."""

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.data import fer, notmnist
from core.data.roots import choices, data_roots, is_allowed, local_datasets

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"


def test_the_shared_datasets_are_found_for_their_own_task_only(notmnist_dir, fer_dir):
    assert data_roots() == [SHARED.resolve()]
    assert local_datasets(notmnist.SPEC) == [notmnist_dir.resolve()]
    assert local_datasets(fer.SPEC) == [fer_dir.resolve()]
    offline = [c.source for c in choices(notmnist.SPEC, online=False)]
    assert offline == [str(notmnist_dir.resolve()), "anubhavmaity/notMNIST", "bundled"]  # the local copy first
    assert [c.source for c in choices(notmnist.SPEC, online=True)][0] == "anubhavmaity/notMNIST"


@pytest.mark.parametrize(
    ("source", "allowed"),
    [
        ("anubhavmaity/notMNIST", True),
        ("bundled", True),
        (str(SHARED / "notmnist"), True),
        (str(SHARED / "notmnist" / ".." / "fer"), True),
        ("/etc", False),
        ("/proc/self", False),
        ("../../", False),
        (str(SHARED / ".." / ".." / "etc"), False),
        ("owner/name/../../etc", False),
        ("~", False),
    ],
)
def test_only_hub_ids_the_sample_and_folders_under_the_roots_are_allowed(source, allowed):
    assert is_allowed(notmnist.SPEC, source) is allowed


def test_the_scan_is_bounded(tmp_path, monkeypatch):
    deep = tmp_path
    for i in range(12):  # a deep tree with a dataset far below the roots: not reached, and quickly
        deep = deep / f"d{i}"
    (deep / "train" / "A").mkdir(parents=True)
    for letter in "BCDEFGHIJ":
        (deep / "train" / letter).mkdir()
    monkeypatch.setenv("STUDY_DATA_ROOTS", str(tmp_path))
    assert local_datasets(notmnist.SPEC) == []
    monkeypatch.setenv("STUDY_DATA_ROOTS", str(deep.parent))  # one level up: found
    assert local_datasets(notmnist.SPEC) == [deep.resolve()]


def test_a_path_in_the_url_outside_the_data_roots_is_refused_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDY_RUNS_DIR", str(tmp_path / "runs"))
    app = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    app.query_params["notmnist"] = "/etc"
    app.run()
    assert not app.exception
    refusals = [w.value for w in app.sidebar.warning]
    assert len(refusals) == 1 and "/etc" in refusals[0] and "not read" in refusals[0] and "\n" not in refusals[0]
    assert app.selectbox(key="notmnist_source").value != "/etc"


def test_the_sample_cannot_start_a_training_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDY_RUNS_DIR", str(tmp_path / "runs"))
    app = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    app.run()
    app.selectbox(key="notmnist_source").set_value("bundled").run()
    app.switch_page("pages/train.py").run()
    assert not app.exception
    assert app.button(key="letters_start").disabled
    assert any("bundled sample is for looking, not training" in i.value for i in app.info)
    assert not os.path.exists(tmp_path / "runs" / ".jobs")
