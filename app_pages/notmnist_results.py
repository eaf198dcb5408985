"""The 2x2 comparison: CNN / MLP on original / permuted pixels, mean ± std over seeds, with the study's numbers."""

import pandas as pd
import streamlit as st

from core.study.explain_plots import locality_bars
from core.study.explanations import locality_rows
from core.study.notmnist_summary import (
    CELLS,
    MODEL_NAMES,
    by_cell,
    collect_runs,
    comparison_rows,
    left_out,
    permutation_drop,
    setting_difference,
)
from core.study.plots import confusion_heatmap, per_class_heatmap, training_curves
from core.study.report import training_command
from ui.result_views import curve_picker, number_table
from ui.runs import CHECKPOINTS, beyond_runs, shown_path, task_runs

st.title("notMNIST results")


shipped = CHECKPOINTS / "notmnist"
# the shipped study first, then every other folder with runs of the study's models (the app's own runs); the
# models beyond the study have their own place below
study_runs = [r.path.parent for r in task_runs("notmnist") if r.path and (r.config.model, r.config.permute) in CELLS]
folders = [shipped] + [f for f in dict.fromkeys(study_runs) if f != shipped]
root = st.selectbox("Results folder", folders, format_func=shown_path, key="results_folder")
cells = collect_runs(root)
if not any(cells.get(cell) for cell in CELLS):
    st.info(
        f"No finished runs of the study's CNN or MLP in `{shown_path(root)}`. Train them on the *Train or load "
        "models* page, or all four configurations with three seeds each: `python -m core seeds notmnist --seeds 0 1 2`."
    )
    st.stop()

rows = comparison_rows(cells)
present = [r for r in rows if r.median is not None]
seeds = sorted({len(r.seeds) for r in present})
cfg = present[0].median.config  # type: ignore[union-attr]
st.markdown(
    f"{cfg.epochs} epochs, batch {cfg.batch_size}, {cfg.optimizer} lr {cfg.lr} "
    f"({cfg.lr_schedule}), weight decay {cfg.weight_decay}, random shift ±{cfg.augment_shift} px, "
    f"permutation seed {cfg.permutation_seed} · data `{cfg.data}`"
)
st.caption(
    f"Each configuration trained with {' / '.join(map(str, seeds))} seed(s); figures are the mean ± sample "
    "standard deviation across seeds. Curves, confusion matrices and the loadable checkpoint are the "
    "median seed's."
)
for cell, runs in left_out(root, cells).items():
    row = dict(zip(CELLS, rows))[cell]
    reasons = "; ".join(f"`{r.path and r.path.name}`: {setting_difference(r, row.runs[0])}" for r in runs)
    st.warning(f"**{row.label}**: {len(runs)} more run(s) here are not averaged in, their setting differs from the "
               f"newest run's ({reasons}). Move them to a folder of their own to compare them.", icon="⚠️")  # fmt: skip

st.subheader("Test accuracy")
for col, row in zip(st.columns(4), rows):
    mean, std = row.test_mean, row.test_std
    delta = None
    if mean is not None and row.study_accuracy is not None:
        delta = f"{(mean - row.study_accuracy) * 100:+.1f} pts vs study"
    value = "—" if mean is None else f"{mean:.1%}" + (f" ± {std * 100:.1f}" if std is not None else "")
    col.metric(row.label, value, delta)


def points(value):
    return None if value is None else value * 100


table = pd.DataFrame(
    [
        {
            "model": r.model,
            "pixels": r.pixels,
            "seeds": len(r.seeds),
            "test accuracy (mean)": r.test_mean,
            "test ± std (points)": points(r.test_std),
            "unseen in train (mean)": r.unseen_mean,
            "unseen ± std (points)": points(r.unseen_std),
            "macro-F1 (mean)": r.macro_f1_mean,
            "study": r.study_accuracy,
            "epochs": r.median and r.median.config.epochs,
            "time per run (s)": r.seconds_mean,
            "median seed": r.median and r.median.config.seed,
        }
        for r in rows
    ]
)
numeric = [c for c in table.columns if c not in ("model", "pixels")]
number_table(
    table,
    numeric,
    percent=["test accuracy (mean)", "unseen in train (mean)", "macro-F1 (mean)", "study"],
    formats={
        "test ± std (points)": "{:.2f}",
        "unseen ± std (points)": "{:.2f}",
        "time per run (s)": "{:.0f}",
        "seeds": "{:.0f}",
        "epochs": "{:.0f}",
        "median seed": "{:.0f}",
    },  # fmt: skip
    download="notmnist-results.csv",
    digits=2,
    with_spread={"test accuracy (mean)": "test ± std (points)", "unseen in train (mean)": "unseen ± std (points)"},
    csv_only=("epochs", "median seed"),  # said above the table; in the CSV too
)
drops = {m: permutation_drop(by_cell(rows), m) for m in ("CNN", "MLP")}
st.markdown(
    " · ".join(
        f"**{m}** loses {d * 100:.2f} points (mean) when pixels are permuted" for m, d in drops.items() if d is not None
    )
)
st.caption(
    "The study trained only the CNN (~93 % original, ~90 % permuted); it had no MLP. "
    "'Unseen' excludes test images whose exact pixels also occur in the training split."
)
beyond = beyond_runs("notmnist")
if beyond:
    st.markdown("**Beyond the study** (its own recipe; the four configurations above stay the study's)")
    cnn = next((r for r in rows if r.label == "CNN, original"), None)
    for col, run in zip(st.columns(4), beyond):
        test = run.test
        assert test is not None
        vs = f"{(test.accuracy - cnn.test_mean) * 100:+.1f} pts vs the study's CNN" if cnn and cnn.test_mean else None
        col.metric(f"{MODEL_NAMES.get(run.config.model or '', run.config.model)}", f"{test.accuracy:.1%}", vs,
                   help=f"`{run.name}`: unseen in train {test.unseen_text()}; `{training_command(run)}`")  # fmt: skip

with st.expander("Every seed"):
    per_seed = pd.DataFrame(
        [
            {
                "configuration": r.label,
                "seed": s.seed,
                "test accuracy": s.test_accuracy,
                "unseen in train": s.unseen_accuracy,
                "macro-F1": s.macro_f1,
                "training time (s)": s.training_seconds,
                "checkpoint": s.checkpoint,
                "median seed": r.median is not None and s.seed == r.median.config.seed,
            }
            for r in rows
            for s in r.per_seed
        ]
    )
    number_table(
        per_seed,
        ["test accuracy", "unseen in train", "macro-F1", "training time (s)"],
        percent=["test accuracy", "unseen in train", "macro-F1"],
        formats={"training time (s)": "{:.0f}"},
        download="notmnist-every-seed.csv",
        digits=2,
    )

st.subheader("How local is what they rely on?")
maps = locality_rows(root)
if maps:
    st.plotly_chart(locality_bars(maps), width="stretch")
    st.caption(
        "Over the test split, each model's maps of the true letter on the letter's own pixels (median seed; bars: "
        "95 % intervals). Saliency shows the study's point: the CNN's relevance is local on original pixels and "
        "scattered on permuted ones, and the MLP's is the same either way. Integrated gradients vanish off the "
        "ink, so their locality is the letter's. See single images on *What they rely on*."
    )
else:
    st.info(
        "No recorded map figures for these runs. `python -m core explain RUN --faithfulness 3745 --method saliency "
        "--record` (and `--method integrated-gradients`) stores them for a run."
    )

st.subheader("Training curves")
metric, axis = curve_picker("Curve", "test", key="results_curve")
every_seed = st.toggle("Every seed (default: the median seed)", value=False, key="results_every_seed")
histories, groups = {}, {}
medians = {r.median.path for r in present if r.median}
for runs in cells.values():
    for run in runs:
        if every_seed or run.path in medians:
            c = run.config
            configuration = f"{MODEL_NAMES[c.model or '']}, {'permuted' if c.permute else 'original'}"
            histories[f"{configuration} · seed {c.seed}"] = run.history
            groups[f"{configuration} · seed {c.seed}"] = configuration
st.plotly_chart(training_curves(histories, metric, axis_title=axis, groups=groups), width="stretch")

st.subheader("Confusion matrices and per-letter metrics (median seed)")
tests = {r.label: r.median.test for r in present if r.median and r.median.test}
picked = st.multiselect("Runs", list(tests), default=list(tests)[:2], key="results_runs")
normalise = st.toggle("Normalise per true letter", value=True, key="results_normalise")
for col, name in zip(st.columns(max(1, len(picked))), picked):
    test = tests[name]
    col.plotly_chart(confusion_heatmap(test.confusion_matrix, test.classes, normalise, title=name), width="stretch")
f1 = {name: test.f1_by_class() for name, test in tests.items()}
classes = next(iter(tests.values())).classes
st.plotly_chart(per_class_heatmap(f1, classes), width="stretch")
