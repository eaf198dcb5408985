"""The Explain page's faces: the emotion model's mean map per emotion over the test split (recorded by
`core explain --by-class`), and the map of every face in a photo or snapshot, through the webcam's detector."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import streamlit as st

from core.config import EXPLAIN_METHODS
from core.errors import ImageLoadError
from ui.result_views import png_bytes
from ui.runs import emotion_models


@st.cache_resource(show_spinner="Loading the emotion model for its maps…")
def _face_model(folder: str, mtime: float):
    from core.runs.record import read_record
    from core.study.explanations import face_crops

    model, crops = face_crops(folder)
    return model, crops, read_record(folder)


@st.cache_data(show_spinner="Finding the faces and computing their maps…", max_entries=16)
def _explained(folder: str, mtime: float, data: bytes, name: str, method: str, _lock: threading.Lock) -> list[dict]:
    from core.data.images import open_image
    from core.study.explanations import explain_crops

    model, crops, record = _face_model(folder, mtime)
    found = crops(open_image(data, name))
    with _lock:
        return explain_crops(model, record, found, method)


SHOWN_SIDE = 320  # px: a map is enlarged smoothly to this, not stretched pixel by pixel by the browser


def smooth(picture: np.ndarray, side: int) -> np.ndarray:
    """A map (an RGB uint8 array) enlarged with bicubic interpolation: a 96-px map shown at 320 px would show
    its pixels."""
    import cv2

    if picture.shape[0] >= side:
        return picture
    return cv2.resize(picture, (round(side * picture.shape[1] / picture.shape[0]), side), interpolation=cv2.INTER_CUBIC)


def faces_panel(lock: threading.Lock) -> None:
    from core.study.explain_plots import METHOD_NAMES, class_maps_figure

    models = emotion_models()
    if not models:
        st.info("No emotion model with weights is installed; train one on *Train or load models*.")
        return
    label = st.selectbox("Emotion model", list(models), key="explain_face_model")
    folder: Path = models[label]
    mtime = (folder / "meta.json").stat().st_mtime
    _, _, record = _face_model(str(folder), mtime)
    blocks = (record.explanations or {}).get("by_class", {})
    st.markdown("**Where it looks, per emotion** (mean over the test split; white: the eye band and the mouth)")
    if blocks:
        st.plotly_chart(class_maps_figure(blocks), width="stretch")
        area = next(iter(blocks.values()))["area"]
        st.caption(
            f"Shares of the map in the eye band and the mouth, for the rows in order "
            f"({' / '.join(METHOD_NAMES.get(m, m) for m in blocks)}; a flat map: {area['eyes']:.0%} and "
            f"{area['mouth']:.0%}). Grad-CAM looks at the last stage, which is only a few cells across, so its "
            "maps are coarse; saliency is per pixel."
        )
    else:
        st.info(
            f"Not recorded for this model: `python -m core explain {folder} --by-class 3589 --method gradcam "
            "--record` stores them."
        )
    st.markdown("**A photo or a snapshot**: every face, through the same detector and crop as the webcam")
    c1, c2 = st.columns([1, 2])
    method = c1.selectbox("Method", EXPLAIN_METHODS, index=EXPLAIN_METHODS.index("gradcam"), key="explain_face_method")
    source = c2.radio("Picture", ["Upload a photo", "Take a snapshot"], horizontal=True, key="explain_face_source")
    picture = (
        st.file_uploader("A photo with faces", type=["png", "jpg", "jpeg", "webp", "bmp"], key="explain_face_upload")
        if source == "Upload a photo"
        else st.camera_input("Snapshot", key="explain_face_camera")
    )
    if picture is None:
        return
    try:
        faces = _explained(str(folder), mtime, picture.getvalue(), picture.name, method, lock)
    except ImageLoadError as exc:
        st.error(f"{picture.name}: {exc}")
        return
    if not faces:
        st.info("No face found. Faces should be upright, lit from the front and at least a tenth of the picture.")
    columns = st.columns(4)  # a map keeps a face's size: one face is not stretched over the page
    for i, face in enumerate(faces, 1):
        column = columns[(i - 1) % len(columns)]
        p = face["probabilities"][face["label"]]
        column.image(smooth(face["picture"], SHOWN_SIDE), caption=f"Face {i}: {face['label']} ({p:.0%}), {method}",
                     width="stretch")  # fmt: skip
        column.download_button("Download", png_bytes(face["picture"]), file_name=f"face{i}-{method}.png",
                               mime="image/png", key=f"face-map-{i}", icon=":material/download:")  # fmt: skip
