"""The README's figures: the same plotly figures the app draws, from the same committed meta.json files,
saved as PNG (plotly's `write_image` needs the kaleido package and a Chrome or Chromium on the machine)."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go

from ..runs.index import best_first, find_runs
from .plots import accuracy_bars, confusion_heatmap
from .sweep import by_completeness, find_sweeps, read_sweep

FIGURES_DIR = Path("docs") / "figures"
FREEZE_FIGURE = "freeze-depths.png"
CONFUSION_FIGURE = "best-emotion-model-confusion.png"


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
    found = best_first(find_runs(checkpoints, task="fer", loadable=True))
    test = found[0].test if found else None
    if test is None:
        return None
    cfg = found[0].config
    start = "fine-tuned" if cfg.pretrained else "from scratch"
    title = (
        f"{cfg.model} {start} (freeze {cfg.freeze}), {cfg.img_size} px: "
        f"test accuracy {test.accuracy:.1%}, rows normalised"
    )
    return confusion_heatmap(test.confusion_matrix, test.classes, True, title=title)


def write_figures(checkpoints: Path, out_dir: Path) -> list[Path]:
    """Write every figure that has data; returns the files written."""
    figures = {FREEZE_FIGURE: freeze_depth_figure(checkpoints), CONFUSION_FIGURE: best_model_confusion(checkpoints)}
    written = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, fig in figures.items():
        if fig is None:
            continue
        fig.update_layout(template="plotly_white")
        try:
            fig.write_image(out_dir / name, width=900, height=480, scale=1)
        except (ImportError, ValueError, RuntimeError) as exc:
            raise FiguresUnavailable(
                f"cannot save PNG figures ({str(exc).splitlines()[0]}); install the dev requirements "
                "(kaleido) and Chromium (apt-get install chromium)"
            ) from None
        written.append(out_dir / name)
    return written
