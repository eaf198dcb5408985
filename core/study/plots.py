"""Plotly figures and image montages shared by the app pages (and usable from scripts)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.express as px
import plotly.graph_objects as go


def montage(images: np.ndarray, columns: int, pad: int = 1, pad_value: int = 64) -> np.ndarray:
    """N x H x W uint8 images -> one grid image, `columns` wide, separated by thin lines."""
    n, h, w = images.shape
    rows = max(1, -(-n // columns))
    out = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad), pad_value, dtype=np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        out[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = img
    return out


def enlarge(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement, so small pixels stay crisp in the browser."""
    return np.kron(image, np.ones((factor, factor) + (1,) * (image.ndim - 2), dtype=image.dtype))


def position_colours(size: int = 28) -> np.ndarray:
    """An RGB image whose colour encodes each pixel's position (red: column, green: row)."""
    ys, xs = np.mgrid[0:size, 0:size] / (size - 1)
    return (np.stack([xs, ys, 1 - (xs + ys) / 2], axis=-1) * 255).astype(np.uint8)


def displacement_heatmap(perm: np.ndarray, size: int = 28) -> go.Figure:
    """How far (in pixels) the value shown at each position travelled from its source."""
    src_y, src_x = np.divmod(perm, size)
    dst_y, dst_x = np.divmod(np.arange(size * size), size)
    dist = np.hypot(src_y - dst_y, src_x - dst_x).reshape(size, size)
    fig = go.Figure(
        go.Heatmap(
            z=dist,
            colorscale="Viridis",
            colorbar=dict(title="px moved"),
            customdata=perm.reshape(size, size),
            hovertemplate="at (%{y}, %{x}) comes from pixel %{customdata}<br>moved %{z:.1f} px",
        )
    )
    fig.update_yaxes(autorange="reversed", scaleanchor="x")
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=30, b=10), title="Distance each pixel moved")
    return fig


def probability_bars(probabilities: dict[str, float], height: int = 300, people: bool = False) -> go.Figure:
    """One bar per class. With `people` (a model trained on the FER+ votes) the bars are the expected votes of ten
    annotators ('≈ 7'), not probabilities."""
    names, values = list(probabilities), list(probabilities.values())
    best = int(np.argmax(values))
    colours = ["#d62728" if i == best else "#7f7f7f" for i in range(len(values))]
    shown = [v * 10 for v in values] if people else values
    text = [f"≈ {int(v * 10 + 0.5)}" for v in values] if people else [f"{v:.0%}" for v in values]
    fig = go.Figure(go.Bar(x=names, y=shown, marker_color=colours, text=text, textposition="outside"))
    axis = dict(range=[0, 11], title="of 10 people") if people else dict(range=[0, 1.1], tickformat=".0%")
    fig.update_layout(height=height, yaxis=axis, margin=dict(l=10, r=10, t=10, b=10))
    return fig


DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")


def training_curves(
    histories: dict[str, Sequence[dict]],
    metric: str = "eval_accuracy",
    title: str | None = None,
    axis_title: str | None = None,
    groups: dict[str, str] | None = None,
) -> go.Figure:
    """One line per run; accuracies on a 0-100 % axis (a one-epoch run gets no 150 % axis). With `groups` (run
    name -> group, e.g. a configuration whose seeds are the runs), a group shares a colour and its runs differ by
    dash, so a dozen lines never reuse a colour for two configurations."""
    fig = go.Figure()
    palette = px.colors.qualitative.Plotly
    colour = {g: palette[i % len(palette)] for i, g in enumerate(dict.fromkeys((groups or {}).values()))}
    members: dict[str, int] = {}
    for name, history in histories.items():
        group = (groups or {}).get(name)
        style: dict = {}
        if group is not None:
            dash = DASHES[members.setdefault(group, 0) % len(DASHES)]
            members[group] += 1
            style = dict(line=dict(color=colour[group], dash=dash), legendgroup=group)
        fig.add_trace(go.Scatter(x=[h["epoch"] for h in history], y=[h[metric] for h in history],
                                 mode="lines+markers", name=name, **style))  # fmt: skip
    fig.update_layout(
        height=360,
        xaxis_title="epoch",
        yaxis_title=axis_title or metric.replace("_", " "),
        title=title,
        margin=dict(l=10, r=10, t=80 if title else 40, b=10),  # room for the legend above the plot
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
    )
    if "acc" in metric:
        fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    fig.update_xaxes(dtick=1)
    return fig


def confusion_heatmap(
    matrix: Sequence[Sequence[int]], classes: Sequence[str], normalise: bool = True, title: str | None = None
) -> go.Figure:
    """Rows: true class, columns: predicted; normalised per true class when `normalise`."""
    counts = np.asarray(matrix, dtype=float)
    z = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1) if normalise else counts
    text = [[f"{v:.0%}" if normalise else f"{int(v)}" for v in row] for row in z]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(classes),
            y=list(classes),
            colorscale="Blues",
            text=text,
            texttemplate="%{text}",
            textfont=dict(size=13),
            showscale=False,  # the cells say their values; the width goes to them
            customdata=counts,
            hovertemplate="true %{y}, predicted %{x}: %{customdata:.0f}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", title="true")
    fig.update_xaxes(title="predicted", side="bottom")
    fig.update_layout(height=420, title=title, margin=dict(l=10, r=10, t=40 if title else 10, b=10))
    return fig


def per_class_heatmap(
    rows: dict[str, dict[str, float]], classes: Sequence[str], title: str = "F1 per class"
) -> go.Figure:
    """rows: run name -> {class: value}. Values in per cent (two digits stay legible in a phone's narrow cells) and
    no colour bar: the cells say their values, the width goes to them."""
    z = [[rows[r].get(c, np.nan) for c in classes] for r in rows]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(classes),
            y=list(rows),
            colorscale="RdYlGn",
            zmin=0,
            zmax=1,
            text=[["" if np.isnan(v) else f"{v * 100:.0f}" for v in row] for row in z],
            texttemplate="%{text}",
            textfont=dict(size=13),
            showscale=False,
            hovertemplate="%{y}, %{x}: %{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(height=120 + 40 * len(rows), title=f"{title} (%)", margin=dict(l=10, r=10, t=40, b=10))
    return fig


def wrapped(label: str, width: int = 10) -> str:
    """A category label broken onto lines of about `width` characters (plotly's <br>), so a narrow chart keeps
    its labels upright and whole instead of slanting and clipping them."""
    lines: list[str] = []
    for word in label.replace(", ", ",  ").split(" "):
        if lines and len(lines[-1]) + len(word) < width:
            lines[-1] = f"{lines[-1]} {word}".strip()
        elif word:
            lines.append(word)
    return "<br>".join(lines)


def accuracy_bars(rows: Sequence[dict], split: str = "test", title: str | None = None) -> go.Figure:
    """Accuracy per sweep row with its 95 % interval, and the study's number as a marker where it has one."""
    names = [wrapped(r["label"]) for r in rows]
    acc = [r.get(split, {}).get("accuracy") for r in rows]
    low = [(a - r[split]["ci_low"]) if a is not None else None for a, r in zip(acc, rows)]
    high = [(r[split]["ci_high"] - a) if a is not None else None for a, r in zip(acc, rows)]
    fig = go.Figure(
        go.Bar(
            x=names,
            y=acc,
            name=f"ours ({split})",
            marker_color="#1f77b4",
            error_y=dict(type="data", symmetric=False, array=high, arrayminus=low),
            text=[f"{a:.1%}" if a is not None else "missing" for a in acc],
            # at the foot of the bar, so the study's markers never cover our numbers
            textposition=["inside" if a is not None else "outside" for a in acc],
            insidetextanchor="start",
            insidetextfont=dict(color="white"),
        )
    )
    study = [r.get("study_test_accuracy") for r in rows]
    if split == "test" and any(s is not None for s in study):
        fig.add_trace(
            go.Scatter(
                x=names,
                y=study,
                mode="markers",
                name="study (ResNet-18, 224 px)",
                marker=dict(symbol="diamond", size=12, color="#d62728"),
            )
        )
    fig.update_layout(
        height=380,
        yaxis=dict(tickformat=".0%", range=[0, 1]),
        title=title,
        margin=dict(l=10, r=10, t=80 if title else 40, b=10),  # room for the legend above the plot
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
    )
    fig.update_xaxes(tickangle=0, automargin=True)
    return fig
