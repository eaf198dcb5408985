"""Live emotion detection from the browser's webcam (WebRTC), with snapshot and photo fallbacks.

The frame callback, the loop that follows its results and the ICE configuration are plain functions in
`ui/live_video.py` (tests import them from there); Streamlit runs this file as `__main__`, which draws the page.
"""

import logging
import queue
import time
from pathlib import Path

import numpy as np
import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from core.data.images import open_image, to_rgb_array
from core.errors import CheckpointError, ImageLoadError
from core.inference.emotions import EmotionDetector, draw_faces
from core.study.plots import probability_bars
from ui.common import emotion_detector, emotion_models, model_card_panel, png_bytes
from ui.live_video import face_cam, follow_results, make_frame_callback, rtc_configuration, stop_raced

log = logging.getLogger(__name__)


def show_faces(model_dir: Path, image_rgb: np.ndarray) -> None:
    detector = emotion_detector(model_dir)
    faces = detector.detect(image_rgb, order="rgb")
    annotated = draw_faces(image_rgb, faces, order="rgb")
    st.image(annotated, width="stretch")
    st.download_button("Download the annotated picture", png_bytes(annotated), file_name="emotions.png",
                       mime="image/png")  # fmt: skip
    if not faces:
        st.info("No face found. Faces should be upright, lit from the front and at least a tenth of the picture.")
    for i, face in enumerate(faces, 1):
        st.markdown(f"**Face {i}: {face.label}** ({face.confidence:.0%}{', unsure' if face.low_confidence else ''})")
        st.plotly_chart(probability_bars(face.probabilities, height=220), width="stretch", key=f"face-{i}")


def live_video(model_dir: Path) -> None:
    st.caption(
        "Click START and allow the camera. Video is processed on this server; nothing is stored. "
        "A remote browser needs HTTPS for camera access (and possibly a TURN server, see the README)."
    )
    # One detector (shared model, own tracker) and one result queue per browser session.
    if st.session_state.get("webcam_model") != str(model_dir):
        st.session_state.webcam_model = str(model_dir)
        st.session_state.webcam_detector = emotion_detector(model_dir)
    results: queue.Queue = st.session_state.setdefault("webcam_results", queue.Queue(maxsize=8))
    # This run's number: the one before it may still be polling the queue (see follow_results).
    run = st.session_state.webcam_run = st.session_state.get("webcam_run", 0) + 1
    # read by the video thread on every frame, so the switch works while the video runs
    overlay: dict = st.session_state.setdefault("webcam_overlay", {})
    if st.toggle("Show where it looks (Grad-CAM on the largest face, a new map twice a second)",
                 key="webcam_gradcam"):  # fmt: skip
        if overlay.get("for") != str(model_dir):
            overlay["cam"] = face_cam(st.session_state.webcam_detector)
            overlay["for"] = str(model_dir)
    else:
        overlay.pop("cam", None)
        overlay.pop("for", None)
    video, panel = st.columns([3, 2])
    with video:
        try:
            ctx = webrtc_streamer(
                key="emotions",
                mode=WebRtcMode.SENDRECV,
                rtc_configuration=rtc_configuration(),
                media_stream_constraints={"video": True, "audio": False},
                video_frame_callback=make_frame_callback(st.session_state.webcam_detector, results, overlay),
                async_processing=True,
            )
        except AttributeError as exc:
            if not stop_raced(exc):
                raise
            # The next run stops what is left of the stream cleanly: run again (twice at most in a row) rather
            # than show the user the traceback.
            retries = st.session_state.get("webcam_stop_retries", 0)
            if retries >= 2:
                st.session_state.pop("webcam_stop_retries", None)
                st.error("The video connection could not be closed cleanly; reload the page to start again.")
                return
            st.session_state.webcam_stop_retries = retries + 1
            log.warning("streamlit-webrtc's stop raced itself (%s); running the page again", exc)
            st.rerun()
            return
        st.session_state.pop("webcam_stop_retries", None)
    with panel:
        status = st.empty()
        chart = st.empty()
        if not ctx.state.playing:
            # results the last stream left behind must not show as the next stream's first faces
            st.session_state.pop("webcam_last", None)
            st.session_state.pop("webcam_since", None)
            drain(results)
            status.info("Press START to begin. The emotion of the largest face and the frame rate appear here.")
            return
        # The stream began when the page first saw it playing; a result from before is a stopped stream's, which
        # its video thread can still queue after the drain above.
        since = st.session_state.setdefault("webcam_since", time.time())
        shown = st.session_state.get("webcam_last")
        if (
            shown is not None and shown["time"] >= since
        ):  # a rerun while playing: keep the last result on screen, not a blank panel
            show_result(status, chart, shown)

        def current() -> bool:  # the streamlit-webrtc pattern: poll the queue while the video plays
            return ctx.state.playing and st.session_state.get("webcam_run") == run

        def show(item: dict) -> None:  # drawn first: a run told to stop stops there, before keeping the item
            show_result(status, chart, item)
            st.session_state.webcam_last = item

        follow_results(results, since, current, show, lambda: status.info("Waiting for video…"))


def drain(results: queue.Queue) -> None:
    while True:
        try:
            results.get_nowait()
        except queue.Empty:
            return


def show_result(status, chart, item: dict) -> None:
    """One processed frame's result: the largest face's emotion, the frame rate (over the last 2 s) and bars."""
    fps, faces = item["fps"], item["faces"]
    if not faces:
        status.markdown(f"### no face found\n{fps:.1f} frames/s · {item['ms']:.0f} ms per frame")
        return
    face = faces[0]
    unsure = " (unsure)" if face["low_confidence"] else ""
    status.markdown(
        f"### {face['label']} · {face['confidence']:.0%}{unsure}\n"
        f"{len(faces)} face{'s' if len(faces) > 1 else ''} · {fps:.1f} frames/s · {item['ms']:.0f} ms per frame"
    )
    chart.plotly_chart(probability_bars(face["probabilities"], height=260), width="stretch", key=f"live-{item['time']}")


def how_it_reads(detector: EmotionDetector) -> str:
    cal = detector.calibration
    if cal is None:
        return f"Runs on {detector.backend}; not calibrated (`python -m core calibrate RUN`)."
    flip = ", averaged with the mirror image" if cal.flip else ""
    prior = f"class-prior adjusted (tau {cal.tau:.2f}), " if cal.tau > 0 else ""
    adjusted = f"{prior}temperature {cal.temperature:.2f}{flip}"
    return f"Runs on {detector.backend}; calibrated on validation ({adjusted}); below {cal.threshold:.0%}: unsure."


def show_upload(model_dir: Path, data: bytes | None, name: str) -> None:
    if data is None:
        return
    try:
        show_faces(model_dir, to_rgb_array(open_image(data, name=name)))
    except ImageLoadError as exc:
        st.error(str(exc))


def main() -> None:
    st.title("Live emotions")
    models = emotion_models()
    if not models:
        st.info(
            "No emotion model with weights under `checkpoints/` yet. Train one on *Train or load models* or with "
            "`python -m core train fer --arch mobilenet_v2 --pretrained --img-size 64 --data ../shared/data/fer`."
        )
        st.stop()
    label = st.selectbox(
        "Model", list(models), key="webcam_model_choice", help="The best model by validation accuracy is the default."
    )
    model_dir = models[label]
    try:
        st.caption(how_it_reads(emotion_detector(model_dir)))
    except CheckpointError as exc:  # e.g. a hand-edited calibration block: one line, pick another model
        st.error(str(exc))
        st.stop()
    model_card_panel(model_dir, "emotions")
    live, snapshot, photo = st.tabs(["Live video", "Snapshot", "Photo"])
    with live:
        live_video(model_dir)
    with snapshot:
        shot = st.camera_input("Take a picture", key="webcam_snapshot")
        show_upload(model_dir, shot.getvalue() if shot else None, "snapshot")
    with photo:
        upload = st.file_uploader(
            "A photo with faces (JPEG, PNG or WebP, any size)", type=["jpg", "jpeg", "png", "webp"], key="webcam_photo"
        )
        show_upload(model_dir, upload.getvalue() if upload else None, upload.name if upload else "upload")


if __name__ == "__main__":
    main()
