"""Live emotion detection from the browser's webcam (WebRTC), with snapshot and photo fallbacks.

The frame callback and ICE configuration are plain functions above `main()` (tests import them from here);
Streamlit runs this file as `__main__`, which draws the page.
"""

import io
import json
import logging
import os
import queue
import statistics
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import streamlit as st
from PIL import Image
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from core.data.images import open_image, to_rgb_array
from core.errors import CheckpointError, ImageLoadError
from core.inference.emotions import EmotionDetector, draw_faces
from core.study.plots import probability_bars
from ui.common import emotion_detector, emotion_models, model_card_panel

log = logging.getLogger(__name__)


def make_frame_callback(
    detector: EmotionDetector, results: queue.Queue, overlay: dict | None = None
) -> Callable[[av.VideoFrame], av.VideoFrame]:
    """The video thread's work on each frame: faces found, read and drawn; the reading leaves through `results`
    (the newest few kept). `overlay["cam"]`, when set (a core.inference.explain.FaceCam), blends the largest
    face's Grad-CAM map into its box, a new map twice a second. No st.* in here: it runs outside the script
    thread."""
    overlay = {} if overlay is None else overlay

    stamps: deque[float] = deque()  # when the frames of the last 2 s were done (all of them, read or not)
    durations: deque[float] = deque(maxlen=30)

    def video_frame_callback(frame: av.VideoFrame) -> av.VideoFrame:
        image = frame.to_ndarray(format="bgr24")
        start = time.perf_counter()
        faces = detector.process(image)
        now = time.time()
        cam = overlay.get("cam")
        annotated = draw_faces(image if cam is None else cam.on_frame(image, faces, detector.prepare, now), faces)
        durations.append((time.perf_counter() - start) * 1000)
        stamps.append(now)
        while now - stamps[0] > 2.0:
            stamps.popleft()
        fps = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
        item = {"time": now, "ms": statistics.median(durations), "fps": fps, "faces": [f.to_dict() for f in faces]}
        if results.full():
            try:
                results.get_nowait()
            except queue.Empty:
                pass
        results.put_nowait(item)
        return av.VideoFrame.from_ndarray(annotated, format="bgr24")

    return video_frame_callback


def face_cam(detector: EmotionDetector):
    """A Grad-CAM overlay on the detector's model (its own copy of the weights: Captum hooks into it)."""
    from core.inference.explain import FaceCam

    return FaceCam(detector.model, detector.transform, detector.classes)


def rtc_configuration() -> dict:
    """No ICE servers by default (localhost and LANs need none; nothing depends on a public STUN server).
    For remote deployments: `[webrtc] ice_servers = [...]` in .streamlit/secrets.toml, or WEBRTC_ICE_SERVERS
    as JSON, e.g. '[{"urls": ["turn:turn.example.org:3478"], "username": "u", "credential": "p"}]'."""
    servers = []
    try:
        servers = list(st.secrets.get("webrtc", {}).get("ice_servers", []))
    except (FileNotFoundError, KeyError, AttributeError):
        servers = []
    if not servers and os.environ.get("WEBRTC_ICE_SERVERS"):
        try:
            servers = json.loads(os.environ["WEBRTC_ICE_SERVERS"])
        except json.JSONDecodeError as exc:
            log.warning("WEBRTC_ICE_SERVERS is not JSON (%s); using no ICE servers", exc)
            st.warning(f"WEBRTC_ICE_SERVERS is not valid JSON ({exc.msg}); connecting without ICE servers.")
            servers = []
    return {"iceServers": servers if isinstance(servers, list) else []}


def show_faces(model_dir: Path, image_rgb: np.ndarray) -> None:
    detector = emotion_detector(model_dir)
    faces = detector.detect(image_rgb, order="rgb")
    annotated = draw_faces(image_rgb, faces, order="rgb")
    st.image(annotated, width="stretch")
    png = io.BytesIO()
    Image.fromarray(annotated).save(png, format="PNG")
    st.download_button("Download the annotated picture", png.getvalue(), file_name="emotions.png", mime="image/png")
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
        ctx = webrtc_streamer(
            key="emotions",
            mode=WebRtcMode.SENDRECV,
            rtc_configuration=rtc_configuration(),
            media_stream_constraints={"video": True, "audio": False},
            video_frame_callback=make_frame_callback(st.session_state.webcam_detector, results, overlay),
            async_processing=True,
        )
    with panel:
        status = st.empty()
        chart = st.empty()
        if not ctx.state.playing:
            status.info("Press START to begin. The emotion of the largest face and the frame rate appear here.")
            return
        last = time.time()
        while ctx.state.playing:  # the streamlit-webrtc pattern: poll the queue while the video plays
            try:
                item = results.get(timeout=1.0)
            except queue.Empty:
                if time.time() - last > 3.0:  # no frame for a while, not merely between two frames
                    status.info("Waiting for video…")
                continue
            last = item["time"]
            fps = item["fps"]  # over every frame of the last 2 s, counted in the video thread
            faces = item["faces"]
            if faces:
                face = faces[0]
                unsure = " (unsure)" if face["low_confidence"] else ""
                status.markdown(
                    f"### {face['label']} · {face['confidence']:.0%}{unsure}\n"
                    f"{len(faces)} face{'s' if len(faces) > 1 else ''} · {fps:.1f} frames/s · "
                    f"{item['ms']:.0f} ms per frame"
                )
                chart.plotly_chart(
                    probability_bars(face["probabilities"], height=260), width="stretch", key=f"live-{item['time']}"
                )
            else:
                status.markdown(f"### no face found\n{fps:.1f} frames/s · {item['ms']:.0f} ms per frame")


def how_it_reads(detector: EmotionDetector) -> str:
    cal = detector.calibration
    if cal is None:
        return f"Runs on {detector.backend}; not calibrated (`python -m core calibrate RUN`)."
    flip = ", averaged with the mirror image" if cal.flip else ""
    adjusted = f"class-prior adjusted, temperature {cal.temperature:.2f}{flip}"
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
