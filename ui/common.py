"""What several pages share: the sidebar's data source, cached data and models, and the listing of runs.
Streamlit lives here and in pages/, the work itself in `core`."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from core.data import fer, notmnist
from core.data.cache import load_split
from core.data.sources import ImageSplit
from core.errors import CheckpointError, DataSourceError
from core.runs.index import best_first, find_runs
from core.runs.record import RunRecord

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS = PROJECT_ROOT / "checkpoints"
SOURCE_KEY = "notmnist_source"
FER_SOURCE_KEY = "fer_source"


def _leave_legacy_multipage_mode() -> None:
    """Streamlit decides per server whether a `pages/` folder means legacy multipage mode, and switches only
    once this script's st.navigation has run. If a fresh server's first request is a page URL, that page
    script runs alone (no navigation, no sidebar). Switch now and rerun through streamlit_app.py."""
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # private API; without it we only lose this first-request fix
        return
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()


_leave_legacy_multipage_mode()


def sidebar_data_source() -> None:
    with st.sidebar:
        st.text_input(
            "notMNIST data source",
            key=SOURCE_KEY,
            value=st.session_state.get(SOURCE_KEY) or os.environ.get(notmnist.SPEC.env_var, notmnist.SPEC.hub_id),
            help=(
                f"A Hugging Face hub id, a local dataset folder (e.g. ../shared/data/notmnist), an image folder "
                f"with one sub-folder per letter, or `bundled` for the small sample shipped with the app. "
                f"Default: ${notmnist.SPEC.env_var} or the hub."
            ),
        )
        st.text_input(
            "FER-2013 data source",
            key=FER_SOURCE_KEY,
            value=st.session_state.get(FER_SOURCE_KEY) or os.environ.get("FER_DATA", ""),
            placeholder="e.g. ../shared/data/fer or ~/fer2013",
            help=(
                "A local dataset folder with train/validation/test (e.g. ../shared/data/fer), the Kaggle download "
                "(msambare/fer2013: train/ and test/ folders), or a hub id. Default: $FER_DATA."
            ),
        )


def fer_source() -> str | None:
    """The FER-2013 source from the sidebar or $FER_DATA (there is no default on the hub)."""
    return (st.session_state.get(FER_SOURCE_KEY) or os.environ.get(fer.SPEC.env_var) or "").strip() or None


def data_source() -> str:
    return st.session_state.get(SOURCE_KEY) or os.environ.get(notmnist.SPEC.env_var) or notmnist.SPEC.hub_id


@st.cache_resource(show_spinner="Loading notMNIST…")
def _load_split(source: str, split: str) -> ImageSplit:
    return load_split(notmnist.SPEC, source, split)


@st.cache_data(show_spinner=False, ttl=300)
def _source_error(source: str, split: str) -> str | None:
    """Remember a failing source for a while, so each rerun does not wait for the network again."""
    try:
        _load_split(source, split)
    except DataSourceError as exc:
        return str(exc)
    return None


def notmnist_split(split: str) -> ImageSplit:
    """The split from the sidebar's source, or the bundled sample (with a warning) when that fails."""
    source = data_source()
    error = _source_error(source, split)
    if error is None:
        return _load_split(source, split)
    st.warning(f"{error} Showing the small bundled sample (20 images per letter) instead.", icon="⚠️")
    return _load_split("bundled", "test")  # the sample is test images only


@st.cache_resource(show_spinner="Loading model…")
def _classifier(path: str, mtime: float):
    from core.inference.letters import LetterClassifier

    return LetterClassifier(path)


def classifier(path: Path):
    """A checkpoint loaded once per server (reloaded when its files change)."""
    return _classifier(str(path), (path / "meta.json").stat().st_mtime)


def result_roots() -> list[Path]:
    """Where results live: the shipped checkpoints/ and the app's own runs (unless those are inside it)."""
    from core.jobs import runs_dir

    inside = runs_dir().resolve().is_relative_to(CHECKPOINTS.resolve())
    return [CHECKPOINTS] + ([] if inside else [runs_dir()])


def shown_path(path: Path, base: Path = PROJECT_ROOT) -> str:
    """A path as the pages show it: relative to `base` (the project, or checkpoints/ for model labels) when
    it is inside it."""
    path, base = path.resolve(), base.resolve()
    return str(path.relative_to(base)) if path.is_relative_to(base) else str(path)


def _skip_warning(path: Path, error: CheckpointError) -> None:
    st.warning(f"Skipped `{shown_path(path)}`: {error}", icon="⚠️")


def task_runs(task: str, loadable: bool = False) -> list[RunRecord]:
    """Every readable run of the task, shipped ones and app runs; a malformed one is skipped with one line."""
    return find_runs(result_roots(), task=task, loadable=loadable, on_error=_skip_warning)


def checkpoint_choices(task: str = "notmnist") -> dict[str, Path]:
    """Label -> checkpoint directory, for every loadable checkpoint of the task (shipped ones and app runs)."""
    out = {}
    for run in task_runs(task, loadable=True):
        assert run.path is not None
        acc = run.test.accuracy if run.test else None
        out[shown_path(run.path, CHECKPOINTS) + (f"  ·  test {acc:.1%}" if acc is not None else "")] = run.path
    return out


def emotion_models() -> dict[str, Path]:
    """Label -> FER checkpoint with weights, best validation accuracy first (the default model)."""
    out = {}
    for run in best_first(task_runs("fer", loadable=True)):
        assert run.path is not None
        val = run.validation.accuracy if run.validation else 0.0
        test = f", test {run.test.accuracy:.1%} (unseen in train {run.test.unseen_text()})" if run.test else ""
        setting = f"{run.config.arch} {run.config.img_size} px"
        out[f"{shown_path(run.path, CHECKPOINTS)}  ·  {setting}, validation {val:.1%}{test}"] = run.path
    return out


@st.cache_resource(show_spinner="Loading the emotion model…")
def _emotion_detector(path: str, mtime: float):
    from core.inference.emotions import EmotionDetector

    return EmotionDetector(path)


def emotion_detector(path: Path):
    """The model loaded once per server; each caller gets its own face tracker."""
    return _emotion_detector(str(path), (path / "meta.json").stat().st_mtime).for_session()


def number_table(table: pd.DataFrame, numeric: list[str], percent: list[str], formats: dict[str, str]) -> None:
    """A results table: missing numbers blank (not "None"), shares as percentages, other columns formatted."""
    table = table.copy()
    table[numeric] = table[numeric].apply(pd.to_numeric, errors="coerce")
    config = {c: st.column_config.NumberColumn(format="percent") for c in percent}
    config.update({c: st.column_config.NumberColumn(format=f) for c, f in formats.items()})
    st.dataframe(table, hide_index=True, width="stretch", column_config=config)
