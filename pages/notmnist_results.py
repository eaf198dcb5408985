"""The 2x2 comparison: CNN / MLP on original / permuted pixels, with the study's numbers."""
import pandas as pd
import streamlit as st

from core.plots import confusion_heatmap, per_class_heatmap, training_curves
from core.results import collect_runs, comparison_rows, run_label
from pages.common import CHECKPOINTS

st.title("notMNIST results")
folders = sorted({p.parent for p in CHECKPOINTS.rglob("meta.json")} - {CHECKPOINTS}) if CHECKPOINTS.is_dir() else []
roots = [CHECKPOINTS / "notmnist"] + [f for f in {p.parent for p in folders} if f != CHECKPOINTS / "notmnist"]
root = st.selectbox("Results folder", [r for r in roots if r.is_dir()] or [CHECKPOINTS / "notmnist"],
                    format_func=lambda p: str(p.relative_to(CHECKPOINTS.parent)))
cells = collect_runs(root)
if not cells:
    st.info(f"No finished notMNIST runs in `{root}`. Train them on the *Train or load models* page or with "
            "`python -m core train notmnist --model cnn`.")
    st.stop()

rows = comparison_rows(cells)
table = pd.DataFrame(rows)
pivot = table.pivot(index="model", columns="pixels", values="test_accuracy")[["original", "permuted"]]
study = table.pivot(index="model", columns="pixels", values="study_accuracy")[["original", "permuted"]]

st.subheader("Test accuracy")
cols = st.columns(4)
for col, row in zip(cols, rows):
    value = row["test_accuracy"]
    delta = None
    if value is not None and row["study_accuracy"] is not None:
        delta = f"{(value - row['study_accuracy']) * 100:+.1f} pts vs study"
    col.metric(f"{row['model']}, {row['pixels']}", "—" if value is None else f"{value:.1%}", delta)

shown = pd.DataFrame({
    "model": table["model"], "pixels": table["pixels"],
    "test accuracy": table["test_accuracy"], "on test images unseen in train": table["unseen_accuracy"],
    "macro-F1": table["macro_f1"], "study": table["study_accuracy"].astype(float), "epochs": table["epochs"],
    "training time (s)": table["training_seconds"],
})
st.dataframe(shown, hide_index=True, width="stretch", column_config={
    c: st.column_config.NumberColumn(format="percent") for c in
    ["test accuracy", "on test images unseen in train", "macro-F1", "study"]})
drop = (pivot["original"] - pivot["permuted"]) * 100
st.markdown(" · ".join(f"**{m}** loses {d:.1f} points when pixels are permuted" for m, d in drop.dropna().items()))
st.caption("The study trained only the CNN (~93 % original, ~90 % permuted); it had no MLP. "
           "'Unseen' excludes test images whose exact pixels also occur in the training split.")

st.subheader("Training curves")
metric = st.radio("Curve", ["eval_accuracy", "train_accuracy", "eval_loss", "train_loss"], horizontal=True,
                  format_func=lambda m: m.replace("eval", "test").replace("_", " "))
histories = {run_label(meta["config"]): meta["history"] for _, meta in cells.values()}
st.plotly_chart(training_curves(histories, metric), width="stretch")

st.subheader("Confusion matrices and per-letter metrics")
labels = {run_label(meta["config"]): meta for _, meta in cells.values()}
picked = st.multiselect("Runs", list(labels), default=list(labels)[:2])
normalise = st.toggle("Normalise per true letter", value=True)
for col, name in zip(st.columns(max(1, len(picked))), picked):
    test = labels[name]["metrics"]["test"]
    col.plotly_chart(confusion_heatmap(test["confusion_matrix"], test["classes"], normalise, title=name),
                     width="stretch")
f1 = {name: {c: m["f1"] for c, m in meta["metrics"]["test"]["per_class"].items()} for name, meta in labels.items()}
classes = next(iter(labels.values()))["metrics"]["test"]["classes"]
st.plotly_chart(per_class_heatmap(f1, classes), width="stretch")
