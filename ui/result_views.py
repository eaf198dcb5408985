"""How results are shown: number tables with their CSV download, the training-curve picker, PNG downloads."""

from __future__ import annotations

from typing import Any

import streamlit as st

CURVES = ["eval_accuracy", "train_accuracy", "eval_loss", "train_loss"]


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


def curve_picker(label: str, held_out: str, key: str) -> tuple[str, str]:
    """Which training curve to draw: (history key, axis title), the held-out split named as it is."""
    name = lambda m: m.replace("eval", held_out).replace("_", " ")  # noqa: E731
    metric = st.radio(label, CURVES, horizontal=True, format_func=name, key=key)
    return metric, name(metric)


def png_bytes(picture: Any) -> bytes:
    """An RGB (or gray) uint8 array as PNG file bytes, for a download button."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(picture).save(out, format="PNG")
    return out.getvalue()
