"""The Live page's still pictures: a camera snapshot and an uploaded photo, each searched for faces (or, for a
photo, read as one face), drawn, offered for download and charted. Each tab's elements have their own keys, so
a snapshot's result and a photo's can show at the same time."""

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import streamlit as st

from core.data.images import open_image, to_rgb_array
from core.errors import ImageLoadError
from core.inference.emotions import Face, draw_faces, reading
from core.inference.faces import looks_like_one_face, to_gray
from core.study.plots import probability_bars
from ui.result_views import png_bytes
from ui.runs import emotion_detector

SHOWN_MIN_SIDE = 320  # px: a smaller picture is enlarged (pixels kept sharp) before its box and label are drawn
FIND, ONE_FACE = "Find the faces", "The picture is one face"


def enlarged(image_rgb: np.ndarray, faces: list[Face], min_side: int = SHOWN_MIN_SIDE) -> tuple[np.ndarray, list]:
    """A picture smaller than `min_side` enlarged by a whole factor, with its faces' boxes scaled alike."""
    h, w = image_rgb.shape[:2]
    factor = int(np.ceil(min_side / min(h, w)))
    if factor <= 1:
        return image_rgb, faces
    picture = cv2.resize(image_rgb, (w * factor, h * factor), interpolation=cv2.INTER_NEAREST)
    return picture, [dataclasses.replace(f, box=tuple(v * factor for v in f.box)) for f in faces]


def show_faces(model_dir: Path, image_rgb: np.ndarray, key: str, name: str, one_face: bool = False) -> None:
    """Faces found in the picture (or the picture read as one face), drawn and charted; `key` names this tab's
    elements, `name` the picture in its caption."""
    detector = emotion_detector(model_dir)
    if one_face:
        faces = [detector.classify_face_image(image_rgb, order="rgb")]
    else:
        faces = detector.detect(image_rgb, order="rgb")
    picture, drawn = enlarged(image_rgb, faces)
    annotated = draw_faces(picture, drawn, order="rgb", people=detector.people)
    how = "read as one face" if one_face else "searched for faces"
    caption = f"{name}: {image_rgb.shape[1]} × {image_rgb.shape[0]} px, {how}"
    st.image(annotated, caption=caption, width="stretch" if annotated.shape[1] >= 640 else "content")
    st.download_button("Download the annotated picture", png_bytes(annotated), file_name=f"emotions-{key}.png",
                       mime="image/png", key=f"webcam-{key}-download")  # fmt: skip
    if not faces:
        st.info(
            "No face found. Faces should be upright, lit from the front and at least a tenth of the picture."
            + (f" If the picture is one face, choose *{ONE_FACE}*." if key == "photo" else "")
        )
    for i, face in enumerate(faces, 1):
        st.markdown(f"**Face {i}: {reading(face, detector.people)}**")
        chart = probability_bars(face.probabilities, height=220, people=detector.people)
        st.plotly_chart(chart, width="stretch", key=f"webcam-{key}-face-{i}")


def picture(data: bytes, name: str) -> np.ndarray | None:
    """The uploaded picture as RGB, or None with the reason shown."""
    try:
        return to_rgb_array(open_image(data, name=name))
    except ImageLoadError as exc:
        st.error(str(exc))
        return None


def snapshot_tab(model_dir: Path) -> None:
    shot = st.camera_input("Take a picture", key="webcam_snapshot")
    if shot is not None and (image := picture(shot.getvalue(), "snapshot")) is not None:
        show_faces(model_dir, image, "snapshot", "snapshot")


def photo_tab(model_dir: Path) -> None:
    upload = st.file_uploader(
        "A photo with faces (JPEG, PNG or WebP, any size)", type=["jpg", "jpeg", "png", "webp"], key="webcam_photo"
    )
    if upload is None or (image := picture(upload.getvalue(), upload.name)) is None:
        return
    one = looks_like_one_face(to_gray(image, "rgb"))
    mode = st.radio(
        "Read the picture",
        [FIND, ONE_FACE],
        index=1 if one else 0,
        horizontal=True,
        key=f"webcam_photo_mode_{upload.file_id}",  # each upload starts from its own default
        help="*One face*: no face search; the whole picture (without its padding) is framed as FER-2013 frames "
        "its faces. Chosen by itself for a small, square picture, such as a FER-2013 face.",
    )
    show_faces(model_dir, image, "photo", upload.name, one_face=mode == ONE_FACE)
