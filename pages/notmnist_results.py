"""The 2x2 comparison: CNN / MLP on original / permuted pixels, mean ± std over seeds, with the study's numbers."""
import pandas as pd
import streamlit as st

from core.plots import confusion_heatmap, per_class_heatmap, training_curves
from core.results import MODEL_NAMES, by_cell, collect_runs, comparison_rows, permutation_drop
from pages.common import CHECKPOINTS, shown_path, task_checkpoints

st.title("notMNIST results")


shipped = CHECKPOINTS / "notmnist"
# the shipped study first, then every other folder with notMNIST runs (the app's own runs)
folders = [shipped] + [f for f in dict.fromkeys(p.parent for p, _ in task_checkpoints("notmnist")) if f != shipped]
root = st.selectbox("Results folder", folders, format_func=shown_path)
cells = collect_runs(root)
if not cells:
    st.info(f"No finished notMNIST runs in `{shown_path(root)}`. Train them on the *Train or load models* page, "
            "or all four configurations with three seeds each: `python -m core seeds notmnist --seeds 0 1 2`.")
    st.stop()

rows = comparison_rows(cells)
seeds = sorted({len(r.get("seeds", [])) for r in rows if r.get("seeds")})
cfg = next(r["median_meta"]["config"] for r in rows if r.get("seeds"))
st.markdown(f"{cfg['epochs']} epochs, batch {cfg['batch_size']}, {cfg['optimizer']} lr {cfg['lr']} "
            f"({cfg['lr_schedule']}), weight decay {cfg['weight_decay']}, random shift ±{cfg['augment_shift']} px, "
            f"permutation seed {cfg['permutation_seed']} · data `{cfg.get('data')}`")
st.caption(f"Each configuration trained with {' / '.join(map(str, seeds))} seed(s); figures are the mean ± sample "
           "standard deviation across seeds. Curves, confusion matrices and the loadable checkpoint are the "
           "median seed's.")

st.subheader("Test accuracy")
for col, row in zip(st.columns(4), rows):
    mean, std = row.get("test_mean"), row.get("test_std")
    delta = None
    if mean is not None and row["study_accuracy"] is not None:
        delta = f"{(mean - row['study_accuracy']) * 100:+.1f} pts vs study"
    value = "—" if mean is None else f"{mean:.1%}" + (f" ± {std * 100:.1f}" if std is not None else "")
    col.metric(f"{row['model']}, {row['pixels']}", value, delta)



def points(value):
    return None if value is None else value * 100


table = pd.DataFrame([{
    "model": r["model"], "pixels": r["pixels"], "seeds": len(r.get("seeds", [])),
    "test accuracy (mean)": r.get("test_mean"), "± std (points)": points(r.get("test_std")),
    "unseen in train (mean)": r.get("unseen_mean"), "± std (points) ": points(r.get("unseen_std")),
    "macro-F1 (mean)": r.get("macro_f1_mean"), "study": r["study_accuracy"], "epochs": r.get("epochs"),
    "time per run (s)": r.get("seconds_mean"), "median seed": r.get("median_seed"),
} for r in rows])
numeric = [c for c in table.columns if c not in ("model", "pixels")]
table[numeric] = table[numeric].apply(pd.to_numeric, errors="coerce")  # a missing cell: blank, not "None"
st.dataframe(table, hide_index=True, width="stretch", column_config={
    **{c: st.column_config.NumberColumn(format="percent") for c in
       ["test accuracy (mean)", "unseen in train (mean)", "macro-F1 (mean)", "study"]},
    **{c: st.column_config.NumberColumn(format="%.2f") for c in ["± std (points)", "± std (points) "]},
    "time per run (s)": st.column_config.NumberColumn(format="%.0f")})
drops = {m: permutation_drop(by_cell(rows), m) for m in ("CNN", "MLP")}
st.markdown(" · ".join(f"**{m}** loses {d * 100:.2f} points (mean) when pixels are permuted"
                       for m, d in drops.items() if d is not None))
st.caption("The study trained only the CNN (~93 % original, ~90 % permuted); it had no MLP. "
           "'Unseen' excludes test images whose exact pixels also occur in the training split.")
with st.expander("Every seed"):
    per_seed = pd.DataFrame([{"configuration": f"{r['model']}, {r['pixels']}", **s,
                              "median": s["seed"] == r["median_seed"]} for r in rows for s in r.get("per_seed", [])])
    st.dataframe(per_seed, hide_index=True, width="stretch", column_config={
        c: st.column_config.NumberColumn(format="percent") for c in ["test_accuracy", "unseen_accuracy", "macro_f1"]})

st.subheader("Training curves")
metric = st.radio("Curve", ["eval_accuracy", "train_accuracy", "eval_loss", "train_loss"], horizontal=True,
                  format_func=lambda m: m.replace("eval", "test").replace("_", " "))
every_seed = st.toggle("Every seed (default: the median seed)", value=False)
histories = {}
medians = {r["median_path"] for r in rows if r.get("seeds")}
for runs in cells.values():
    for path, meta in runs:
        if every_seed or path in medians:
            cfg = meta["config"]
            name = f"{MODEL_NAMES[cfg['model']]}, {'permuted' if cfg['permute'] else 'original'} · seed {cfg['seed']}"
            histories[name] = meta["history"]
st.plotly_chart(training_curves(histories, metric), width="stretch")

st.subheader("Confusion matrices and per-letter metrics (median seed)")
labels = {f"{r['model']}, {r['pixels']}": r["median_meta"] for r in rows if r.get("seeds")}
picked = st.multiselect("Runs", list(labels), default=list(labels)[:2])
normalise = st.toggle("Normalise per true letter", value=True)
for col, name in zip(st.columns(max(1, len(picked))), picked):
    test = labels[name]["metrics"]["test"]
    col.plotly_chart(confusion_heatmap(test["confusion_matrix"], test["classes"], normalise, title=name),
                     width="stretch")
f1 = {name: {c: m["f1"] for c, m in meta["metrics"]["test"]["per_class"].items()} for name, meta in labels.items()}
classes = next(iter(labels.values()))["metrics"]["test"]["classes"]
st.plotly_chart(per_class_heatmap(f1, classes), width="stretch")
