"""The study's results explorer: scratch vs ImageNet fine-tuning at every freeze depth, side by side."""

import numpy as np
import pandas as pd
import streamlit as st

from core.runs.record import consensus_cell, describe_consensus
from core.study.model_card import LABEL_NAMES
from core.study.plots import accuracy_bars, confusion_heatmap, per_class_heatmap, training_curves
from core.study.report import test_accuracies, training_command, unseen_cell
from core.study.sweep import RowStatus, by_completeness, find_sweeps, read_sweep, sweep_command, test_split_origin
from ui.result_views import curve_picker, number_table
from ui.runs import beyond_runs, result_roots, shown_path

st.title("Compare freeze depths")
st.caption(
    "ResNet-18 (or MobileNetV2) trained from scratch versus fine-tuned from ImageNet weights with more "
    "and more of the network frozen. 'freeze layer1+2' means the stem, layer1 and layer2 keep their "
    "ImageNet weights; only the rest trains. Accuracy is against FER-2013's labels; *FER+ majority* against the "
    "plurality of ten annotators who relabelled every face ('not recomputed' where a row's weights do not ship)."
)

sweeps = [sweep for root in result_roots() for sweep in find_sweeps(root)]
if not sweeps:
    st.info(
        "No sweep yet. Run one with `python -m core sweep fer --arch mobilenet_v2 --img-size 64 --epochs 2 "
        "--data ../shared/data/fer` (a short setting takes minutes on a CPU), then reload this page."
    )
    st.stop()

sweeps = by_completeness(sweeps)
folder = st.selectbox("Sweep", sweeps, format_func=shown_path, key="sweep_folder")
summary, records = read_sweep(folder)
rows = summary["rows"]
done = [r for r in rows if r["status"] == RowStatus.COMPLETE]
setting = summary.get("setting", {})
test_origin = test_split_origin(records)
st.markdown(
    f"**{summary['model']}**, {summary['img_size']} px input, {summary['epochs']} epochs, batch "
    f"{setting.get('batch_size')}, {setting.get('optimizer')} lr {setting.get('lr')} "
    f"({setting.get('lr_schedule')}) · data `{setting.get('data')}` · **test = {test_origin}**"
)
if len(done) < len(rows):
    missing = ", ".join(f"{r['label']} ({r['status']})" for r in rows if r["status"] != RowStatus.COMPLETE)
    st.warning(f"{len(done)} of {len(rows)} rows finished; not yet: {missing}.")
unavailable = [r for r in rows if r["status"] == RowStatus.UNAVAILABLE]
if unavailable:
    st.info(
        f"**{', '.join(r['label'] for r in unavailable)}**: no ImageNet weights on the machine that ran this "
        f"sweep ({unavailable[0].get('error')}). On a machine with internet, one command fills these rows "
        "(torchvision downloads the weights; finished rows are skipped):"
    )
    st.code(sweep_command(summary, folder), language="bash")


def pct(m, key="accuracy"):
    return m.get(key) if m else None


table = pd.DataFrame(
    [
        {
            "row": r["label"],
            "status": r["status"],
            "val accuracy": pct(r.get("validation")),
            "test accuracy": pct(r.get("test")),
            "test 95% CI": (f"{r['test']['ci_low']:.1%} – {r['test']['ci_high']:.1%}" if r.get("test") else ""),
            "test [95% CI]": (
                f"{r['test']['accuracy']:.1%} [{r['test']['ci_low'] * 100:.1f}, {r['test']['ci_high'] * 100:.1f}]"
                if r.get("test")
                else "—"
            ),  # fmt: skip
            "FER+ majority (test)": consensus_cell(r["test"].get("ferplus")) if r.get("test") else "—",
            "test, unseen in train": unseen_cell(r),
            "val macro-F1": pct(r.get("validation"), "macro_f1"),
            "test macro-F1": pct(r.get("test"), "macro_f1"),
            "study (test)": r.get("study_test_accuracy"),
            "best epoch": r.get("best_epoch"),
            "trainable params": r.get("trainable_parameters"),
            "time (min)": (r.get("training_seconds") or np.nan) / 60,
        }
        for r in rows
    ]
)
numeric = [
    "val accuracy",
    "test accuracy",
    "val macro-F1",
    "test macro-F1",
    "study (test)",
    "best epoch",
    "trainable params",
]
number_table(
    table,
    numeric,
    percent=["val accuracy", "test accuracy", "val macro-F1", "test macro-F1", "study (test)"],
    formats={"time (min)": "{:.1f}", "trainable params": "{:,.0f}", "best epoch": "{:.0f}"},
    download=f"{folder.name}.csv",
    csv_only=("test accuracy", "test 95% CI", "val macro-F1", "best epoch", "trainable params"),  # fits a laptop
)

beyond = beyond_runs("fer")
best_row = max((pct(r.get("test")) or 0.0 for r in rows), default=0.0)
best_consensus = max(((r.get("test") or {}).get("ferplus", {}).get("majority_accuracy") or 0.0 for r in rows),
                     default=0.0)  # fmt: skip
shown = {"one crop": "one crop (test)", "flip": "flip-averaged", "ten-crop": "ten-crop", "calibrated": "as the app"}
for run in beyond:
    people = run.config.labels != "fer2013"  # trained on the FER+ votes: measured against them
    st.markdown(
        f"**Beyond the study:** `{run.name}`, {run.config.start} (its own recipe; the rows above stay the "
        f"study's) · `{training_command(run)}`" + (" · **FER+ majority accuracy**" if people else "")
    )
    figures = test_accuracies(run, ferplus=people)  # one crop as the rows above, then test-time augmented
    reference = best_consensus if people else best_row
    for col, (key, label) in zip(st.columns(4), shown.items()):
        value = figures[key]
        comparable = key == "one crop" and value and reference  # the rows are one crop too
        vs = f"{(value - reference) * 100:+.1f} pts vs the best row" if comparable else None
        col.metric(label, "—" if value is None else f"{value:.1%}", vs)
    if run.test is not None and run.test.ferplus:
        st.caption(f"Trained on {LABEL_NAMES[run.config.labels]}. The same faces against the ten FER+ annotators: "
                   f"{describe_consensus(run.test.ferplus)}.")  # fmt: skip
if beyond:
    st.caption(
        "Flip averages the face and its mirror image; ten-crop the four corner and the centre crops and their "
        "mirrors (`python -m core evaluate RUN --tta ten-crop --record-tta`); *as the app* is calibrated and "
        "flip-averaged, as the webcam runs it. The rows above are one crop."
    )

left, right = st.columns(2)
with left:
    split = st.radio("Bars", ["test", "validation"], horizontal=True, key="sweep_bars")
    st.plotly_chart(accuracy_bars(rows, split), width="stretch")
with right:
    metric, axis = curve_picker("Curves", "validation", key="sweep_curve")
    labels = {r["row"]: r["label"] for r in rows}
    histories = {labels[name]: record.history for name, record in records.items() if record.history}
    st.plotly_chart(training_curves(histories, metric, axis_title=axis), width="stretch")

if not done:
    st.stop()
st.subheader("Confusion matrices (test, normalised per true class)")
picked = st.multiselect(
    "Rows", [r["label"] for r in done], default=[r["label"] for r in done][:3], key="sweep_confusion_rows"
)
tests = {r["label"]: records[r["row"]].test for r in done}
for start in range(0, len(picked), 2):  # two a row: seven classes need the width to stay legible
    for col, label in zip(st.columns(2), picked[start : start + 2]):
        test = tests[label]
        if test is not None:
            col.plotly_chart(confusion_heatmap(test.confusion_matrix, test.classes, True, title=label), width="stretch")

st.subheader("F1 per emotion (test)")
f1 = {label: test.f1_by_class() for label, test in tests.items() if test is not None}
classes = next(test.classes for test in tests.values() if test is not None)
st.plotly_chart(per_class_heatmap(f1, classes, title="F1 per class"), width="stretch")
mean_f1 = pd.DataFrame(f1).mean(axis=1).sort_values()
hardest = ", ".join(f"**{c}** (mean F1 {v:.2f})" for c, v in mean_f1.head(2).items())
st.markdown(f"Hardest emotions across rows: {hardest}. Easiest: **{mean_f1.index[-1]}** ({mean_f1.iloc[-1]:.2f}).")

if len(sweeps) > 1:
    st.subheader("Every sweep side by side (test accuracy)")
    side = {}
    for other in sweeps:
        other_summary, _ = read_sweep(other)
        side[other.name if other.name not in side else shown_path(other)] = {
            r["label"]: (r.get("test") or {}).get("accuracy") for r in other_summary["rows"]
        }
    side["study (ResNet-18, 224 px)"] = {r["label"]: r.get("study_test_accuracy") for r in rows}
    wide = pd.DataFrame(side)
    number_table(wide, list(wide.columns), percent=list(wide.columns), formats={}, index=True)
    st.caption("—: the row has not run (or, for pretrained ResNet-18, its ImageNet weights were unavailable).")
