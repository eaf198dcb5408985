"""The Live page's video thread and connection: the per-frame callback (faces found, read, drawn, optionally
with the Grad-CAM overlay; results leave through a queue), the script's loop that follows those results, the
overlay's construction and the ICE servers."""

import hashlib
import json
import logging
import os
import queue
import statistics
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import av
import streamlit as st

from core.inference.emotions import EmotionDetector, draw_faces

log = logging.getLogger(__name__)


@dataclass
class LiveSession:
    """What one browser session's Live page keeps between reruns: one object in st.session_state."""

    model: str | None = None  # the model folder the detector was loaded from
    detector: Any = None  # that model with this session's own face tracker (an EmotionDetector)
    results: queue.Queue = field(default_factory=lambda: queue.Queue(maxsize=8))  # from the video thread
    run: int = 0  # the page's latest run: an earlier one may still be polling the queue (follow_results)
    overlay: dict = field(default_factory=dict)  # read by the video thread on every frame (the Grad-CAM switch)
    reconnect: dict = field(default_factory=dict)  # restarts of a START that stalls (stalled_start)
    stop_retries: int = 0  # reruns after streamlit-webrtc's stop raced itself
    last: dict | None = None  # the result on screen
    since: float | None = None  # when the page first saw this stream playing


def live_session() -> LiveSession:
    return st.session_state.setdefault("webcam_live", LiveSession())


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
        annotated = draw_faces(image if cam is None else cam.on_frame(image, faces, detector.prepare, now), faces,
                               people=detector.people)  # fmt: skip
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


# A START the component has not connected after this long (more after each restart) is restarted by the page.
STALL_AFTER = 5.0
MAX_RESTARTS = 3


def forget_stopped_stream(ctx, stopped: bool = False) -> bool:
    """Clears what streamlit-webrtc 0.72.0 keeps of a stream that has already stopped; True when it did.

    The context holds its worker by weak reference and clears the stream's SDP answer only when its own stop
    branch finds that worker. A browser STOP closes the connection, and the worker's ICE handler then stops the
    worker itself, often before the script's next run; once garbage-collected, that run finds no worker, skips
    the reset, and the old answer stays marked as sent. The next START's answer is then never sent, and the
    browser waits for it for ever ("Connection is taking longer than expected"). Upstream resets a stale answer
    without a worker since 0.74.1, beside changes this project cannot take yet (requirements.txt). A worker whose
    connection is closed while the browser offers a new one (a STOP and START faster than a run) is let go too,
    and so is one whose stop() raised (`stopped`: the other thread in stop() finishes it)."""
    worker = ctx._get_worker()
    closed = worker is not None and ctx.state.signalling and worker.pc.connectionState == "closed"
    if worker is not None and not closed and not stopped:
        return False
    if worker is None and ctx._sdp_answer_json is None and not ctx._is_sdp_answer_sent:
        return False
    ctx._set_worker(None)
    ctx._sdp_answer_json = None
    ctx._is_sdp_answer_sent = False
    return True


def desired_playing(reconnect: dict, state) -> bool | None:
    """The component's desired_playing_state for this run: None (the user's START and STOP buttons) unless the
    page is restarting a stalled START (`reconnect["phase"]`, set by `stalled_start`): then False until the
    stalled connection is down, True until the new one plays. A restarted START that ends without connecting
    (the browser's error shows in the component) hands the buttons back."""
    if state is not None and state.playing:
        reconnect.clear()  # connected: nothing to restart, no restart counted against the next START
        return None
    idle = state is None or not state.signalling
    phase = reconnect.get("phase")
    if phase is None and idle or phase == "start" and idle and reconnect.get("started"):
        reconnect.clear()
        return None
    if phase == "stop" and idle:
        reconnect["phase"] = phase = "start"
    if phase == "start" and not idle:
        reconnect["started"] = True
    return {"stop": False, "start": True}.get(phase)


def stalled_start(reconnect: dict, offer: str, current: Callable[[], bool], step: float = 0.25) -> str | None:
    """The script's side of a START that is signalling (offered, not connected): waits while this run is
    `current()` (the component's every report starts a newer run). "restart" (rerun the page: a restart is
    requested, see desired_playing) once this offer has been pending STALL_AFTER s, twice that after one
    restart, ...; "failed" when MAX_RESTARTS did not help (the user's buttons are back); None otherwise."""
    if reconnect.get("failed") == offer:
        return "failed"
    if reconnect.get("offer") != offer:
        reconnect.update(offer=offer, since=time.time())
    tries = reconnect.get("tries", 0)
    while current():
        waited = time.time() - reconnect["since"]
        if waited < STALL_AFTER * (1 + tries):
            time.sleep(step)
            continue
        log.warning("the video connection has not started in %.0f s (after %d restarts)", waited, tries)
        reconnect.pop("started", None)
        if tries >= MAX_RESTARTS:
            reconnect.pop("phase", None)
            reconnect["failed"] = offer
        else:
            reconnect.update(phase="stop", tries=tries + 1, offer=None)
        return "restart"
    return None


def pending_offer(key: str) -> str:
    """A digest of the SDP offer the component `key` is signalling with ('' for none): one START's identity."""
    from streamlit_webrtc.component import generate_frontend_component_key

    offer = (st.session_state.get(generate_frontend_component_key(key)) or {}).get("sdpOffer") or {}
    return hashlib.sha1(str(offer.get("sdp", "")).encode()).hexdigest() if offer else ""


def stop_raced(exc: AttributeError) -> bool:
    """streamlit-webrtc 0.72.0: after a STOP, the script's stop() of the worker and the worker's own (its ICE
    connection closed) can run at once, and one finds an attribute the other has just set to None
    (`_polling_thread`, `_process_offer_thread`, ...); upstream made them safe in 0.72.2."""
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
    if not well_formed(servers):
        log.warning("ICE servers are not a list of {urls, username?, credential?}: %r", servers)
        st.warning('The ICE servers setting is not a list of {"urls": [...], "username": ..., "credential": ...} '
                   "entries; connecting without ICE servers.")  # fmt: skip
        servers = []
    return {"iceServers": [dict(server) for server in servers]}


def well_formed(servers: object) -> bool:
    """A list of RTCIceServer entries: each a mapping with "urls" (a string or a list of strings)."""
    if not isinstance(servers, list):
        return False
    for server in servers:
        urls = server.get("urls") if isinstance(server, Mapping) else None
        if not (isinstance(urls, str) or (isinstance(urls, list) and urls and all(isinstance(u, str) for u in urls))):
            return False
    return True


def how_it_reads(detector: EmotionDetector) -> str:
    cal = detector.calibration
    if cal is None:
        return f"Runs on {detector.backend}; not calibrated (`python -m core calibrate RUN`)."
    flip = ", averaged with the mirror image" if cal.flip else ""
    prior = f"class-prior adjusted (tau {cal.tau:.2f}), " if cal.tau > 0 else ""
    adjusted = f"{prior}temperature {cal.temperature:.2f}{flip}"
    if cal.disagreement:
        return (f"Trained on what ten people said of each face (FER+ votes): the bars are the votes of ten people "
                f"it expects. Runs on {detector.backend}; calibrated on validation ({adjusted}); below "
                f"{cal.threshold:.0%} for the top emotion: people would disagree.")  # fmt: skip
    return f"Runs on {detector.backend}; calibrated on validation ({adjusted}); below {cal.threshold:.0%}: unsure."
