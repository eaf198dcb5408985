import streamlit as st

from core.runs.index import find_runs, webcam_default
from core.study.notmnist_summary import by_cell, collect_runs, comparison_rows, permutation_drop
from core.study.sweep import STUDY_TEST_ACCURACY
from ui.runs import CHECKPOINTS

st.title("Letters & Faces: what do neural networks rely on?")
st.markdown(
    """
This app reproduces and extends a two-part deep-learning study.

**1 · notMNIST letters (A–J, 28×28).** A small CNN (two conv layers, max pooling, one dense layer) learns to
read letters in hundreds of fonts. Then every image is scrambled by one *fixed* random pixel permutation and the
same CNN is retrained: convolutions rely on neighbouring pixels, so they lose something. A fully connected
network (MLP) has no notion of neighbours at all, so the permutation should not matter to it. We measure both.

- **Samples**: the same letters, original and permuted, and the permutation itself.
- **Train or load models**: start a training run in the background and watch it live, or load a trained
  model and draw or upload a letter to classify.
- **notMNIST results**: the 2×2 comparison (CNN / MLP × original / permuted) with the study's numbers.

**2 · Facial emotions (FER-2013, 7 emotions, 48×48 faces).** ResNet-18 (or MobileNetV2) trained from scratch
versus fine-tuned from ImageNet weights with more and more of the network frozen.

- **Compare freeze depths**: accuracy with confidence intervals beside the study's numbers, training curves,
  confusion matrices and per-emotion F1 for every row of a sweep.
- **Live emotions**: your webcam, with each face boxed and its emotion read live; or a snapshot or a photo.

Data sources are set in the sidebar (or with the `NOTMNIST_DATA` and `FER_DATA` environment variables). Without a
network or a local copy, the notMNIST pages use a small sample bundled with the app, and the trained models that
ship with it still load and predict.
"""
)

# The headline numbers of the shipped results (the results pages have the details).
cells = by_cell(comparison_rows(collect_runs(CHECKPOINTS / "notmnist")))
best = webcam_default(CHECKPOINTS)
if cells or best:
    st.subheader("Measured here")
    cols = st.columns(3)
    for col, model in zip(cols, ("CNN", "MLP")):
        drop = permutation_drop(cells, model)
        if drop is not None:
            a, b = cells[(model, "original")], cells[(model, "permuted")]
            col.metric(
                f"{model}: original → permuted pixels",
                f"{a.test_mean:.1%} → {b.test_mean:.1%}",
                f"{-drop * 100:+.2f} pts (mean of {len(a.seeds)} seeds)",
                delta_color="off",
            )  # a measured effect, not good or bad news
    if best and best.test and best.test.ferplus and best.config.labels != "fer2013":
        cfg, test = best.config, best.test
        # the runs trained on FER-2013's own labels, measured against the same ten annotators
        others = [r.test.ferplus["majority_accuracy"] for r in find_runs(CHECKPOINTS, task="fer")
                  if r.config.labels == "fer2013" and r.test and r.test.ferplus]  # fmt: skip
        majority = test.ferplus["majority_accuracy"]
        cols[2].metric(
            "Webcam emotion model: agrees with people (test)",
            f"{majority:.1%}",
            f"{(majority - max(others)) * 100:+.1f} pts vs FER-2013-label training" if others else None,
        )
        cols[2].caption(
            f"{cfg.model} trained on what ten FER+ annotators said of each face; the share of test faces where it "
            f"names their plurality emotion. Against FER-2013's single labels it reads {test.accuracy:.1%}."
        )
    elif best and best.test:
        cfg, test = best.config, best.test
        study_best = max(STUDY_TEST_ACCURACY.values())
        cols[2].metric(
            "Best emotion model (FER-2013 test)",
            f"{test.accuracy:.1%}",
            f"{(test.accuracy - study_best) * 100:+.1f} pts vs the study's best ({study_best:.1%})",
        )
        source = f" (`{cfg.init_from}`)" if cfg.init_from else ""
        cols[2].caption(
            f"{cfg.model} {cfg.start}{source}, freeze {cfg.freeze}, {cfg.img_size} px; the webcam default. On the "
            f"test faces that do not occur in train: {test.unseen_text()}."
        )
