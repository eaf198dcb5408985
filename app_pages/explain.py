"""What each network relies on: attribution maps side by side (Captum), the MLP's first-layer weights and its
exact invariance, and the test images a model gets wrong. Maps are computed for the shown images only."""

import threading

import numpy as np
import streamlit as st

from core.config import EXPLAIN_METHODS
from ui.data_sources import notmnist_split
from ui.result_views import png_bytes
from ui.runs import CHECKPOINTS

st.title("What the networks rely on")
st.caption(
    "Brighter = the pixel mattered more for the class the model chose. The permuted CNN's map is taken on the "
    "letter's own pixels (the permutation is part of what is explained), so every map sits on the same grid."
)


@st.cache_resource(show_spinner="Loading the letter models…")
def letter_models() -> dict:
    """The shipped study's four configurations, each its median seed (as on the results page and in the README)."""
    from core.data.tasks import batch_transform
    from core.runs.checkpoint import load_checkpoint
    from core.study.notmnist_summary import collect_runs, comparison_rows

    out = {}
    for row in comparison_rows(collect_runs(CHECKPOINTS / "notmnist")):
        if row.median is not None and row.median.path is not None:
            model, record = load_checkpoint(row.median.path)
            out[f"{row.label} pixels"] = (model, batch_transform(record.config), record)
    return out


@st.cache_resource
def attribution_lock() -> threading.Lock:
    """The models are shared by every session, and Captum hooks into them while it attributes: one at a time."""
    return threading.Lock()


@st.cache_data(show_spinner="Computing the maps…", max_entries=64)
def letter_maps(source: str, split: str, index: int, method: str) -> dict:
    from core.inference.explain import attribute, morans_i, overlay

    image = notmnist_split(split).images[index : index + 1]
    out = {}
    for label, (model, transform, record) in letter_models().items():
        used = "saliency" if method == "gradcam" and "MLP" in label else method  # Grad-CAM needs convolutions
        with attribution_lock():
            a = attribute(model, transform, image, used)
        out[label] = {"picture": overlay(image[0, 0].numpy(), a.maps[0]), "moran": float(morans_i(a.maps)[0]),
                      "label": record.classes[int(a.targets[0])], "p": float(a.probabilities[0].max()),
                      "method": used, "run": record.name}  # fmt: skip
    return out


letters_tab, weights_tab, faces_tab, errors_tab = st.tabs(
    ["Letters", "MLP weights and invariance", "Faces", "Mistakes"]
)


@st.fragment  # a method or letter change reruns this tab alone, not the other three
def letters_panel() -> None:
    data = notmnist_split("test")
    c1, c2, c3 = st.columns([1, 1, 2])
    method = c1.selectbox("Method", EXPLAIN_METHODS, index=1, key="explain_method",
                          help="gradcam needs convolutions: the MLPs get saliency instead")  # fmt: skip
    letter = c2.selectbox("Letter", range(len(data.classes)), format_func=lambda i: data.classes[i],
                          key="explain_letter")  # fmt: skip
    positions = (data.labels == letter).nonzero().flatten().tolist()
    which = c3.number_input(f"Which {data.classes[letter]} of the test split (1–{len(positions):,})", 1,
                            len(positions), 1, key=f"explain_which_{letter}")  # fmt: skip
    index = positions[int(which) - 1]
    maps = letter_maps(data.source, data.split, index, method)
    st.caption(f"Test image {index:,} of `{data.source}`: a **{data.classes[letter]}**.")
    for i, (column, (label, shown)) in enumerate(zip(st.columns(len(maps)), maps.items())):
        column.image(shown["picture"], caption=f"{label}: {shown['label']} ({shown['p']:.0%}); {shown['method']}, "
                     f"Moran's I {shown['moran']:.2f}", width="stretch")  # fmt: skip
        column.download_button("Download", png_bytes(shown["picture"]), key=f"letter-map-{i}", mime="image/png",
                               file_name=f"test{index}-{shown['run']}-{shown['method']}.png",
                               icon=":material/download:")  # fmt: skip
    st.markdown(
        "**Moran's I** measures whether relevant pixels come in patches of neighbours (near 1) or are scattered "
        "(near 0). `python -m core explain RUN --faithfulness 200` gives it over the test split with its "
        "interval, and checks that deleting the pixels a map points at hurts more than deleting random ones."
    )


with letters_tab:
    letters_panel()

with weights_tab:
    import torch

    from core.data.permutation import inverse_permutation
    from core.data.transforms import LetterTransform
    from core.study.plots import enlarge, montage

    models = letter_models()
    original, _, _ = models["MLP, original pixels"]
    permuted, transform, _ = models["MLP, permuted pixels"]
    assert isinstance(transform, LetterTransform) and transform.perm is not None
    units = st.slider("Hidden units shown", 8, 64, 24, step=8, key="explain_units")

    def weight_picture(maps: torch.Tensor) -> np.ndarray:
        w = maps[:units].numpy()
        w = (w - w.min(axis=(1, 2), keepdims=True)) / (np.ptp(w, axis=(1, 2), keepdims=True) + 1e-8)
        return enlarge(montage((255 * w).astype(np.uint8), 8), 3)

    left, right = st.columns(2)
    left.image(weight_picture(original.first_layer_maps()), caption="MLP on original pixels: first-layer weights")
    right.image(weight_picture(permuted.first_layer_maps(inverse=inverse_permutation(transform.perm))),
                caption="MLP trained on permuted pixels, weights put back on the letter's grid")  # fmt: skip
    x = notmnist_split("test").images[:256].float() / 255
    from core.data.permutation import permute_pixels

    with torch.no_grad():
        diff = (original.for_permuted_inputs(transform.perm)(permute_pixels(x, transform.perm)) - original(x)).abs()
    st.success(f"Invariance, exactly: the original MLP with its first-layer columns permuted gives on 256 permuted "
               f"test images what it gives on the originals (largest logit difference {diff.max():.1e}).")  # fmt: skip

with faces_tab:
    from ui.explain_faces import faces_panel

    faces_panel(attribution_lock())

with errors_tab:
    from ui.explain_gallery import mistakes_gallery

    mistakes_gallery()
