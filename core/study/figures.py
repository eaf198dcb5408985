"""The README's figures: the same plotly figures the app draws, from the same committed meta.json files,
saved as PNG (plotly's `write_image` needs the kaleido package and a Chrome or Chromium on the machine)."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go

from ..runs.index import webcam_default
from .plots import accuracy_bars, confusion_heatmap
from .sweep import by_completeness, find_sweeps, read_sweep

FIGURES_DIR = Path("docs") / "figures"
FREEZE_FIGURE = "freeze-depths.png"
CONFUSION_FIGURE = "best-emotion-model-confusion.png"
LOCALITY_FIGURE = "letter-maps-locality.png"
LETTERS_FIGURE = "letters-explained.png"
EMOTION_MAPS_FIGURE = "emotion-maps-by-class.png"


class FiguresUnavailable(RuntimeError):
    """PNG export is not possible on this machine; the message says what to install."""


def freeze_depth_figure(checkpoints: Path) -> go.Figure | None:
    """Test accuracy per freeze depth of the sweep the comparison page opens on."""
    sweeps = by_completeness(find_sweeps(checkpoints / "fer"))
    if not sweeps:
        return None
    summary, _ = read_sweep(sweeps[0])
    title = (
        f"FER-2013 test accuracy: {summary['model']}, {summary['img_size']} px, {summary['epochs']} epochs "
        "(bars: 95 % CI)"
    )
    return accuracy_bars(summary["rows"], "test", title=title)


def best_model_confusion(checkpoints: Path) -> go.Figure | None:
    """The webcam page's default model (best validation accuracy): its normalised test confusion matrix."""
    found = webcam_default(checkpoints)
    test = found.test if found else None
    if found is None or test is None:
        return None
    cfg = found.config
    title = (
        f"{cfg.model} {cfg.start} (freeze {cfg.freeze}), {cfg.img_size} px: "
        f"test accuracy {test.accuracy:.1%}, rows normalised"
    )
    return confusion_heatmap(test.confusion_matrix, test.classes, True, title=title)


def locality_figure(checkpoints: Path) -> go.Figure | None:
    """Moran's I and the share on the ink of each letter model's maps over the test split (recorded figures)."""
    from .explain_plots import locality_bars
    from .explanations import locality_rows

    rows = locality_rows(checkpoints / "notmnist")
    if not rows:
        return None
    n = next(iter(rows[0]["split"].values()))["n"]
    return locality_bars(rows, title=f"How local is what each letter model relies on? ({n:,} test images, "
                         "median seed, bars: 95 % CI)")  # fmt: skip


def letters_figure(checkpoints: Path) -> go.Figure | None:
    """Bundled test letters and the four letter models' integrated-gradients maps of them."""
    from .explain_plots import image_grid
    from .explanations import letters_side_by_side

    shown = letters_side_by_side(checkpoints / "notmnist")
    if shown is None:
        return None
    pictures, columns, rows = shown
    title = "Integrated gradients on the letter's own grid (rows: true letter → each model's answer)"
    return image_grid(pictures, columns, rows, title=title, cell=150)


def emotion_maps_figure(checkpoints: Path) -> go.Figure | None:
    """The webcam default's mean map per emotion over the test split (recorded by `core explain --by-class`),
    a row per recorded method."""
    from .explain_plots import class_maps_figure

    found = webcam_default(checkpoints)
    blocks = (found.explanations or {}).get("by_class", {}) if found else {}
    if found is None or not blocks:
        return None
    n = next(iter(blocks.values()))["n"]
    area = next(iter(blocks.values()))["area"]
    title = (f"{found.config.model}: mean map per emotion over {n:,} test faces; share in the eye band and "
             f"mouth (white; a flat map: {area['eyes']:.0%} / {area['mouth']:.0%})")  # fmt: skip
    return class_maps_figure(blocks, title=title)


def write_figures(checkpoints: Path, out_dir: Path) -> list[Path]:
    """Write every figure that has data; returns the files written."""
    figures = {
        FREEZE_FIGURE: freeze_depth_figure(checkpoints),
        CONFUSION_FIGURE: best_model_confusion(checkpoints),
        LOCALITY_FIGURE: locality_figure(checkpoints),
        LETTERS_FIGURE: letters_figure(checkpoints),
        EMOTION_MAPS_FIGURE: emotion_maps_figure(checkpoints),
    }
    written = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, fig in figures.items():
        if fig is None:
            continue
        fig.update_layout(template="plotly_white")
        try:
            fig.write_image(out_dir / name, width=fig.layout.width or 900, height=fig.layout.height or 480, scale=1)
        except (ImportError, ValueError, RuntimeError) as exc:
            raise FiguresUnavailable(
                f"cannot save PNG figures ({str(exc).splitlines()[0]}); install the dev requirements "
                "(kaleido) and Chromium (apt-get install chromium)"
            ) from None
        written.append(out_dir / name)
    return written
