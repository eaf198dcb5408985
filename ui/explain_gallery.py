"""The Explain page's gallery of mistakes: pick a model and a cell of its test confusion matrix (true class,
predicted class) to see those test images with the model's probabilities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from ui.data_sources import fer_source, notmnist_split
from ui.runs import checkpoint_choices


@st.cache_data(show_spinner="Classifying the test split (a few seconds; once per model)…", max_entries=8)
def _predictions(folder: str, mtime: float, source: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """(images, labels, probabilities) of the whole test split, and the class names. In the fastest mode this
    machine measured for the model (a 96-px face model in fp32 NCHW took 77 s for FER-2013's test split under
    load; channels-last about a sixth of that)."""
    import torch

    from core.data import fer
    from core.data.cache import load_split
    from core.data.tasks import batch_transform
    from core.inference.modes import inference_mode
    from core.inference.runtime import predict_logits
    from core.runs.checkpoint import load_checkpoint

    model, record = load_checkpoint(folder)
    split = notmnist_split("test") if record.task == "notmnist" else load_split(fer.SPEC, source, "test")
    mode, _ = inference_mode(model, record.config, 256)
    logits = predict_logits(model, split.images, batch_transform(record.config).eval, mode)
    probs = torch.softmax(logits.float(), 1).numpy()
    return split.images[:, 0].numpy(), split.labels.numpy(), probs, list(record.classes)


def mistakes_gallery() -> None:
    task = st.radio("Task", ["notMNIST letters", "FER-2013 emotions"], horizontal=True, key="mistakes_task")
    choices = checkpoint_choices("notmnist" if task.startswith("notMNIST") else "fer")
    source = fer_source() if task.startswith("FER") else None
    if not choices:
        st.info("No model with weights for this task under `checkpoints/` yet.")
        return
    if task.startswith("FER") and source is None:
        st.info("Pick a FER-2013 data source in the sidebar to see its test faces.")
        return
    # each task has its own selectors: one kept from the other task would show that task's classes
    kind = "fer" if task.startswith("FER") else "notmnist"
    folder: Path = choices[st.selectbox("Model", list(choices), key=f"mistakes_model_{kind}")]
    images, labels, probs, classes = _predictions(str(folder), (folder / "meta.json").stat().st_mtime, source)
    preds = probs.argmax(1)
    wrong = preds != labels
    c1, c2 = st.columns(2)
    count = lambda t, p: int(((labels == t) & (preds == p)).sum())  # noqa: E731
    true = c1.selectbox("True class", range(len(classes)), format_func=lambda i: f"{classes[i]} "
                        f"({int((wrong & (labels == i)).sum()):,} wrong)", key=f"mistakes_true_{kind}")  # fmt: skip
    pred = c2.selectbox("Predicted as", [p for p in range(len(classes)) if p != true], key=f"mistakes_pred_{kind}",
                        format_func=lambda p: f"{classes[p]} ({count(true, p):,})")  # fmt: skip
    picked = np.flatnonzero((labels == true) & (preds == pred))
    share = f"{wrong.mean():.1%} of the split is wrong"
    st.caption(f"{len(picked):,} of {int((labels == true).sum()):,} test {classes[true]} images were read as "
               f"{classes[pred]} ({share}); up to 30 shown, most confident first.")  # fmt: skip
    if not len(picked):
        st.info("None: pick another cell.")
        return
    picked = picked[np.argsort(-probs[picked, pred])][:30]
    scale = 3 if images.shape[-1] <= 28 else 2
    pictures = [np.kron(images[i], np.ones((scale, scale), dtype=np.uint8)) for i in picked]
    captions = [f"{classes[pred]} {probs[i, pred]:.0%} · {classes[true]} {probs[i, true]:.0%}" for i in picked]
    st.image(pictures, caption=captions, width=images.shape[-1] * scale)
