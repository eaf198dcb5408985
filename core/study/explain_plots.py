"""Figures of what the networks rely on, for the app and the README alike: the locality of the letter models'
maps (with intervals), letters explained side by side, and the emotion model's mean map per emotion."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..inference.explain import overlay
from .plots import wrapped

METHOD_NAMES = {"saliency": "saliency", "integrated-gradients": "integrated gradients", "occlusion": "occlusion",
                "gradcam": "Grad-CAM"}  # fmt: skip
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd")


def locality_bars(rows: Sequence[dict], title: str | None = None) -> go.Figure:
    """Moran's I and the share on the ink per letter model, one bar per attribution method, 95 % intervals.
    rows: {"label", "split": {method: {"morans_i": {mean, ci_low, ci_high}, "ink_share": {...}}}}."""
    methods = list(dict.fromkeys(m for r in rows for m in r["split"]))
    # one above the other, with short titles and upright wrapped labels: side by side, a phone's width made the
    # two titles overlap and clipped the labels
    fig = make_subplots(rows=2, cols=1, vertical_spacing=0.22, subplot_titles=(
        "Moran's I (1: relevance in patches, 0: scattered)", "Share of relevance on the letter's ink"))  # fmt: skip
    for col, key in enumerate(("morans_i", "ink_share"), 1):
        for colour, method in zip(COLOURS, methods):
            shown = [(r["label"], r["split"][method][key]) for r in rows if key in r["split"].get(method, {})]
            fig.add_trace(
                go.Bar(
                    x=[wrapped(label) for label, _ in shown],
                    y=[v["mean"] for _, v in shown],
                    error_y=dict(
                        type="data",
                        symmetric=False,
                        array=[v["ci_high"] - v["mean"] for _, v in shown],
                        arrayminus=[v["mean"] - v["ci_low"] for _, v in shown],
                    ),  # fmt: skip
                    text=[f"{v['mean']:.2f}" for _, v in shown],
                    textposition="inside",
                    name=METHOD_NAMES.get(method, method),
                    marker_color=colour,
                    legendgroup=method,
                    showlegend=col == 1,
                ),
                row=col,
                col=1,
            )
    fig.update_yaxes(range=[0, 1])
    fig.update_xaxes(tickangle=0, automargin=True)
    fig.update_layout(barmode="group", height=620, title=title,
                      legend=dict(orientation="h", yanchor="bottom", y=1.04, x=0),
                      margin=dict(l=10, r=10, t=90 if title else 60, b=10))  # fmt: skip
    fig.update_annotations(font_size=12)
    return fig


def image_grid(
    pictures: Sequence[Sequence[np.ndarray]], column_titles: Sequence[str], row_titles: Sequence[str] | None = None,
    title: str | None = None, cell: int = 150,
) -> go.Figure:  # fmt: skip
    """RGB pictures in a grid (rows x columns), with a title per column (and per row)."""
    rows, cols = len(pictures), len(pictures[0])
    fig = make_subplots(rows=rows, cols=cols, column_titles=list(column_titles),
                        row_titles=list(row_titles) if row_titles else None,
                        horizontal_spacing=0.01, vertical_spacing=0.02)  # fmt: skip
    for r, row in enumerate(pictures, 1):
        for c, picture in enumerate(row, 1):
            fig.add_trace(go.Image(z=picture, hoverinfo="skip"), row=r, col=c)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    top = 20 + 16 * (1 + max(t.count("<br>") for t in column_titles)) + (40 if title else 0)
    fig.update_layout(height=cell * rows + top + 10, width=cell * cols + 60, margin=dict(l=10, r=30, t=top, b=10),
                      title=dict(text=title, y=0.99, yanchor="top"))  # fmt: skip
    fig.update_annotations(font_size=12)
    return fig


def class_map_pictures(block: dict, scale: int = 8) -> dict[str, np.ndarray]:
    """Per emotion of a `core explain --by-class` block: the mean face with the mean map over it, and the eye
    and mouth regions outlined (white)."""
    import cv2

    out = {}
    for name, row in block["classes"].items():
        face = np.asarray(row["face"], dtype=np.uint8)
        picture = overlay(face, np.asarray(row["map"], dtype=np.float32), scale=scale)
        side = picture.shape[0]
        for top, bottom, left, right in block["regions"].values():
            k = side / 48  # regions are given on the 48-px face
            cv2.rectangle(picture, (round(left * k), round(top * k)), (round(right * k), round(bottom * k)),
                          (255, 255, 255), 2)  # fmt: skip
        out[name] = picture
    return out


def class_maps_figure(blocks: dict[str, dict], title: str | None = None) -> go.Figure:
    """The mean map of each emotion (over the faces of that emotion) with its eye and mouth shares: a row per
    method ({method: `core explain --by-class` block})."""
    classes = list(next(iter(blocks.values()))["classes"])
    drawn = [class_map_pictures(block) for block in blocks.values()]
    pictures = [[by_class[name] for name in classes] for by_class in drawn]
    row_titles = [METHOD_NAMES.get(method, method) for method in blocks]
    shares = [" / ".join(f"{b['classes'][name]['eyes']['mean']:.0%}" for b in blocks.values()) for name in classes]
    mouths = [" / ".join(f"{b['classes'][name]['mouth']['mean']:.0%}" for b in blocks.values()) for name in classes]
    titles = [f"{name}<br>eyes {e}<br>mouth {m}" for name, e, m in zip(classes, shares, mouths)]
    return image_grid(pictures, titles, row_titles, title=title, cell=140)
