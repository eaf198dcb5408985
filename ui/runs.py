"""Runs as the pages list and load them: the shipped checkpoints and the app's own runs, their labels, the models
loaded once per server, and a run's downloads (zip, model card)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.errors import CheckpointError
from core.runs.index import best_first, find_runs
from core.runs.record import RunRecord

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS = PROJECT_ROOT / "checkpoints"


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


@st.cache_resource(show_spinner="Loading model…")
def _classifier(path: str, mtime: float):
    from core.inference.letters import LetterClassifier

    return LetterClassifier(path)


def classifier(path: Path):
    """A checkpoint loaded once per server (reloaded when its files change)."""
    return _classifier(str(path), (path / "meta.json").stat().st_mtime)


@st.cache_resource(show_spinner="Loading the emotion model…")
def _emotion_detector(path: str, mtime: float):
    from core.inference.emotions import EmotionDetector
    from core.inference.serving import configure_serving

    configure_serving()  # one thread per frame: steady under load (core.inference.serving)
    return EmotionDetector(path)


def emotion_detector(path: Path):
    """The model loaded once per server; each caller gets its own face tracker."""
    return _emotion_detector(str(path), (path / "meta.json").stat().st_mtime).for_session()


def checkpoint_zip(path: Path) -> bytes:
    """A run folder's meta.json and weights as one zip, for a download button (built once per version)."""
    return _checkpoint_zip(str(path), (path / "meta.json").stat().st_mtime)


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
