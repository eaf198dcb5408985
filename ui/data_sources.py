"""The sidebar's data sources (notMNIST and FER-2013): what may be picked, the pick (kept in the session and the
URL), and the notMNIST splits read from it. Nothing outside the data roots, hub ids and the bundled sample is read."""

from __future__ import annotations

import os

import streamlit as st

from core.data import notmnist
from core.data.roots import ROOTS_ENV, Choice, choices, data_roots, hub_reachable
from core.data.sources import ImageSplit
from core.data.tasks import get_task
from core.errors import DataSourceError

SOURCE_KEY = "notmnist_source"
FER_SOURCE_KEY = "fer_source"


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


def notmnist_source() -> str:
    """The notMNIST source picked in the sidebar."""
    return st.session_state.get(f"{SOURCE_KEY}_chosen") or "bundled"


def training_source_problem(task: str) -> str | None:
    """Why the picked source cannot train (the sample, no source, an unreachable hub), or None when it can."""
    source = notmnist_source() if task == "notmnist" else fer_source()
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
    source = notmnist_source()
    error = _source_error(source, split)
    if error is None:
        return _load_split(source, split)
    st.warning(f"{error} Showing the small bundled sample (20 images per letter) instead.", icon="⚠️")
    return _load_split("bundled", "test")  # the sample is test images only
