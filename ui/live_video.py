"""The Live page's video thread and connection: the per-frame callback (faces found, read, drawn, optionally
with the Grad-CAM overlay; results leave through a queue), the script's loop that follows those results, the
overlay's construction and the ICE servers."""

import json
import logging
import os
import queue
import statistics
import time
import traceback
from collections import deque
from collections.abc import Callable

import av
import streamlit as st

from core.inference.emotions import EmotionDetector, draw_faces

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


def follow_results(
    results: queue.Queue,
    since: float,
    current: Callable[[], bool],
    show: Callable[[dict], None],
    waiting: Callable[[], None],
    quiet_after: float = 3.0,
) -> None:
    """The script's side of the queue while this run is `current()`: each result from `since` on shown, in
    order; `waiting()` after `quiet_after` s without one. Streamlit's fast reruns start the next run while this
    one still waits here (it only stops at its next st.* call): a result taken after that is neither shown nor
    kept, or a stopped stream's emotion would overwrite the next run's panel."""
    last = time.time()
    while current():
        try:
            item = results.get(timeout=1.0)
        except queue.Empty:
            if time.time() - last > quiet_after and current():  # no frame for a while, not merely between two
                waiting()
            continue
        if item["time"] < since:  # a stopped stream's, queued after the drain
            continue
        if not current():
            return
        last = item["time"]
        show(item)


def stop_raced(exc: AttributeError) -> bool:
    """streamlit-webrtc 0.72.0: a STOP after a START that never connected can run two stop() calls at once, and
    one finds an attribute the other has just set to None (`_polling_thread`, `_process_offer_thread`, ...)."""
    frames = traceback.extract_tb(exc.__traceback__)
    return (
        str(exc).startswith("'NoneType' object has no attribute")
        and bool(frames)
        and ("streamlit_webrtc" in frames[-1].filename)
    )


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
