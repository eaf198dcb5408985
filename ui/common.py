"""What several pages share: the sidebar's data source, cached data and models, and the listing of runs.
Streamlit lives here and in pages/, the work itself in `core`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import streamlit as st

from core.data import notmnist
from core.data.roots import ROOTS_ENV, Choice, choices, data_roots, hub_reachable
from core.data.sources import ImageSplit
from core.data.tasks import get_task
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


def source_choices(task: str) -> list[Choice]:
    """What the sidebar offers for a task (the scan is bounded and cached for 5 minutes): $ENV_VAR if the server
    sets it, then the hub when it answers, local dataset folders under the data roots, the bundled sample."""
    spec = get_task(task).spec
    return _source_choices(task, os.environ.get(spec.env_var, "").strip(), os.environ.get(ROOTS_ENV, ""))


@st.cache_data(ttl=300, show_spinner="Looking for datasets…")
def _source_choices(task: str, env: str, roots_setting: str) -> list[Choice]:
    spec = get_task(task).spec
    found = choices(spec, online=hub_reachable())
    if env:
        found.insert(0, Choice(env, f"${spec.env_var}: {env}", env != "bundled"))
    return found


def _source_picker(task: str, key: str, label: str, help_text: str) -> None:
    """A picker over the allowed sources. The choice is kept in the session (`KEY_chosen`, which outlives the
    widget on pages that do not draw it) and in the URL (?notmnist=...), so a reload keeps it too."""
    chosen = f"{key}_chosen"
    options = {c.source: c for c in source_choices(task)}
    if not options:
        st.caption(f"{label}: none found under {', '.join(map(str, data_roots())) or 'the data roots'}.")
        st.session_state[chosen] = None
        return
    asked = st.query_params.get(task)
    if asked is not None and asked not in options:
        st.warning(f"`{asked}` is not one of the allowed {label.lower()}s (hub ids, the bundled sample, folders "
                   f"under ${ROOTS_ENV}); it was not read.", icon="⚠️")  # fmt: skip
        asked = None
    if st.session_state.get(chosen) not in options:
        st.session_state[chosen] = asked or next(iter(options))
    st.session_state[key] = st.session_state[chosen]

    def keep() -> None:
        st.session_state[chosen] = st.session_state[key]

    st.selectbox(label, list(options), key=key, format_func=lambda s: options[s].label, help=help_text, on_change=keep)
    st.query_params[task] = st.session_state[chosen]


def sidebar_data_source() -> None:
    with st.sidebar:
        _source_picker(
            "notmnist",
            SOURCE_KEY,
            "notMNIST data source",
            "The Hugging Face hub copy (when online), dataset folders found under the data roots "
            f"(${ROOTS_ENV}; default ../shared/data and ~/data), or the small sample bundled with the app.",
        )
        _source_picker(
            "fer",
            FER_SOURCE_KEY,
            "FER-2013 data source",
            f"Dataset folders found under the data roots (${ROOTS_ENV}; default ../shared/data and ~/data), "
            "e.g. a folder with train/validation/test parquet files or the Kaggle download (train/ and test/).",
        )


def fer_source() -> str | None:
    """The FER-2013 source picked in the sidebar (None when there is none)."""
    return st.session_state.get(f"{FER_SOURCE_KEY}_chosen")


def data_source() -> str:
    """The notMNIST source picked in the sidebar."""
    return st.session_state.get(f"{SOURCE_KEY}_chosen") or "bundled"


def training_source_problem(task: str) -> str | None:
    """Why the picked source cannot train (the sample, no source, an unreachable hub), or None when it can."""
    source = data_source() if task == "notmnist" else fer_source()
    picked = next((c for c in source_choices(task) if c.source == source), None)
    where = f"a dataset folder under ${ROOTS_ENV} (default ../shared/data or ~/data)"
    if picked is None:
        return f"No {task} dataset found: put one in {where}, then reload."
    if not picked.full:
        return f"The bundled sample is for looking, not training: pick the full dataset in the sidebar ({where})."
    if "unreachable" in picked.label:
        return "The Hugging Face hub cannot be reached from this server: pick a local dataset folder in the sidebar."
    return None


@st.cache_resource(show_spinner="Loading notMNIST…")
def _load_split(source: str, split: str) -> ImageSplit:
    from core.data.cache import load_split  # torch: only on pages that show data

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


def beyond_runs(task: str) -> list[RunRecord]:
    """The task's models beyond the study (checkpoints/beyond/<task>), with test figures, shown beside its rows."""
    from core.study.report import BEYOND_DIR

    beyond = CHECKPOINTS / BEYOND_DIR
    return [r for r in task_runs(task) if r.path and beyond in r.path.parents and r.test]


def run_label(path: Path) -> str:
    """A run folder as a person reads it: under checkpoints/ relative to it, an app run as 'your runs/NAME'."""
    from core.jobs import runs_dir

    path = path.resolve()
    if not path.is_relative_to(CHECKPOINTS.resolve()) and path.is_relative_to(runs_dir().resolve()):
        return f"your runs/{path.relative_to(runs_dir().resolve())}"
    return shown_path(path, CHECKPOINTS)


def checkpoint_choices(task: str = "notmnist") -> dict[str, Path]:
    """Label -> checkpoint directory, for every loadable checkpoint of the task: the runs trained in the app
    first, newest first (the one just trained is the default), then the shipped ones."""
    from core.jobs import runs_dir

    mine = runs_dir().resolve()
    runs = task_runs(task, loadable=True)
    own = sorted((r for r in runs if r.path and r.path.resolve().is_relative_to(mine)), key=lambda r: r.created)
    out = {}
    for run in own[::-1] + [r for r in runs if r not in own]:
        assert run.path is not None
        acc = run.test.accuracy if run.test else None
        out[run_label(run.path) + (f"  ·  test {acc:.1%}" if acc is not None else "")] = run.path
    return out


def emotion_models() -> dict[str, Path]:
    """Label -> FER checkpoint with weights, the closest to what people say first (the default model:
    core.runs.index.best_first)."""
    from core.runs.index import agreement

    out = {}
    for run in best_first(task_runs("fer", loadable=True)):
        assert run.path is not None
        people = agreement(run)
        agrees = f"agrees with {people:.0%} of people, " if people is not None else ""
        val = run.validation.accuracy if run.validation else 0.0
        test = f", test {run.test.accuracy:.1%} (unseen in train {run.test.unseen_text()})" if run.test else ""
        setting = f"{run.config.arch} {run.config.img_size} px"
        out[f"{run_label(run.path)}  ·  {setting}, {agrees}FER-2013 validation {val:.1%}{test}"] = run.path
    return out


@st.cache_resource(show_spinner="Loading the emotion model…")
def _emotion_detector(path: str, mtime: float):
    from core.inference.emotions import EmotionDetector
    from core.inference.serving import configure_serving

    configure_serving()  # one thread per frame: steady under load (core.inference.serving)
    return EmotionDetector(path)


def emotion_detector(path: Path):
    """The model loaded once per server; each caller gets its own face tracker."""
    return _emotion_detector(str(path), (path / "meta.json").stat().st_mtime).for_session()


def number_table(
    table: Any,
    numeric: list[str],
    percent: list[str],
    formats: dict[str, str],
    download: str | None = None,
    digits: int = 1,
    index: bool = False,
    with_spread: dict[str, str] | None = None,
    csv_only: tuple[str, ...] = (),
) -> None:
    """A results table: a missing number is "—" (Streamlit would show "None"), shares are percentages with
    `digits` decimals in every column alike, other columns by the Python `formats` given ("{:,.0f}" for counts).
    With `download`, a button that saves the table (the numbers, unformatted) as that CSV file. To fit a laptop's
    width, `with_spread` (column -> its spread column) shows a spread in its column ("95.33 % ± 0.10") and
    `csv_only` columns are in the CSV alone; the CSV keeps every column as numbers."""
    import pandas as pd

    table = table.copy()
    table[numeric] = table[numeric].apply(pd.to_numeric, errors="coerce")
    shown = table.copy()
    for column, form in {**{c: f"{{:.{digits}%}}" for c in percent}, **formats}.items():
        shown[column] = table[column].map(lambda v, form=form: "—" if pd.isna(v) else form.format(v))
    for column, spread in (with_spread or {}).items():
        shown[column] = [v if pd.isna(s) else f"{v} ± {shown_spread}"
                         for v, s, shown_spread in zip(shown[column], table[spread], shown[spread])]  # fmt: skip
    hidden = [*csv_only, *(with_spread or {}).values()]
    st.dataframe(shown.drop(columns=hidden), hide_index=not index, width="stretch")
    if download:
        st.download_button("Download CSV", table.to_csv(index=False), file_name=download, mime="text/csv",
                           key=f"download-{download}")  # fmt: skip


def checkpoint_zip(path: Path) -> bytes:
    """A run folder's meta.json and weights as one zip, for a download button (built once per version)."""
    return _checkpoint_zip(str(path), (path / "meta.json").stat().st_mtime)


def png_bytes(picture: Any) -> bytes:
    """An RGB (or gray) uint8 array as PNG file bytes, for a download button."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(picture).save(out, format="PNG")
    return out.getvalue()


@st.cache_data(max_entries=4, show_spinner=False)
def _checkpoint_zip(folder: str, mtime: float) -> bytes:
    import io
    import zipfile

    from core.runs.record import read_record
    from core.study.model_card import hub_card

    path = Path(folder)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(path.iterdir()):
            if file.is_file() and not file.name.startswith("."):
                archive.write(file, f"{path.name}/{file.name}")
        archive.writestr(f"{path.name}/MODEL_CARD.md", _model_card(folder, mtime))
        archive.writestr(f"{path.name}/README.md", hub_card(read_record(folder)))  # the card as the Hub reads it
    return buffer.getvalue()


@st.cache_data(max_entries=32, show_spinner=False)
def _model_card(folder: str, mtime: float) -> str:
    from core.runs.record import read_record
    from core.study.model_card import model_card

    return model_card(read_record(folder))


def model_card_panel(path: Path, key: str) -> None:
    """A run's model card in an expander, with a download (the same Markdown as `python -m core card`)."""
    card = _model_card(str(path), (path / "meta.json").stat().st_mtime)
    with st.expander("Model card: data, setting, results with intervals, known limits"):
        st.markdown(card)
        st.download_button("Download the model card (Markdown)", card, file_name=f"{path.name}-MODEL_CARD.md",
                           mime="text/markdown", key=f"download-card-{key}")  # fmt: skip


CURVES = ["eval_accuracy", "train_accuracy", "eval_loss", "train_loss"]


def curve_picker(label: str, held_out: str, key: str) -> tuple[str, str]:
    """Which training curve to draw: (history key, axis title), the held-out split named as it is."""
    name = lambda m: m.replace("eval", held_out).replace("_", " ")  # noqa: E731
    metric = st.radio(label, CURVES, horizontal=True, format_func=name, key=key)
    return metric, name(metric)
