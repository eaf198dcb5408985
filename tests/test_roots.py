"""Data sources a browser user may pick: the allow-list, the bounded scan, and the sidebar's refusal."""

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.data import fer, notmnist
from core.data.roots import choices, data_roots, local_datasets

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
        (str((SHARED / "notmnist").resolve()), True),
        (str(SHARED / "notmnist" / ".." / "fer"), False),  # only the folders offered, exactly as offered
        ("/etc", False),
        ("/proc/self", False),
        ("../../", False),
        (str(SHARED / ".." / ".." / "etc"), False),
        ("owner/name/../../etc", False),
        ("~", False),
    ],
)
def test_the_url_can_name_only_an_offered_source(source, allowed, tmp_path, monkeypatch):
    """The sidebar takes ?notmnist=... from the URL only when it is one of the offered sources; anything else is
    refused with one line and never read."""
    monkeypatch.setenv("STUDY_RUNS_DIR", str(tmp_path / "runs"))
    app = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    app.query_params["notmnist"] = source
    app.run()
    assert not app.exception
    refusals = [w.value for w in app.sidebar.warning]
    assert (app.selectbox(key="notmnist_source").value == source) is allowed
    assert len(refusals) == (0 if allowed else 1) and all("not read" in r and "\n" not in r for r in refusals)


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


def test_the_sample_cannot_start_a_training_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDY_RUNS_DIR", str(tmp_path / "runs"))
    app = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    app.run()
    app.selectbox(key="notmnist_source").set_value("bundled").run()
    app.switch_page("app_pages/train.py").run()
    assert not app.exception
    assert app.button(key="letters_start").disabled
    assert any("bundled sample is for looking, not training" in i.value for i in app.info)
    assert not os.path.exists(tmp_path / "runs" / ".jobs")
