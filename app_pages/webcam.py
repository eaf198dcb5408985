"""Live emotion detection from the browser's webcam (WebRTC), with snapshot and photo fallbacks.

The frame callback, the loop that follows its results and the ICE configuration are plain functions in
`ui/webcam_video.py` (tests import them from there); Streamlit runs this file as `__main__`, which draws the page.
"""

import logging
import queue
import time
from pathlib import Path

import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from core.errors import CheckpointError
from core.inference.emotions import reading
from core.study.plots import probability_bars
from ui.runs import emotion_detector, emotion_models, model_card_panel
from ui.webcam_on_device import ON_DEVICE, on_device_panel, where_to_read
from ui.webcam_photos import photo_tab, snapshot_tab
from ui.webcam_video import (
    desired_playing,
    face_cam,
    follow_results,
    forget_stopped_stream,
    how_it_reads,
    live_session,
    make_frame_callback,
    pending_offer,
    rtc_configuration,
    stalled_start,
    stop_raced,
)

log = logging.getLogger(__name__)


def live_video(model_dir: Path) -> None:
    st.caption(
        "Click START and allow the camera. Video is processed on this server; nothing is stored. "
        "A remote browser needs HTTPS for camera access (and possibly a TURN server, see the README)."
    )
    session = live_session()  # one detector (shared model, own tracker) and one result queue per browser session
    if session.model != str(model_dir):
        session.model, session.detector = str(model_dir), emotion_detector(model_dir)
    results, overlay = session.results, session.overlay
    session.run += 1  # this run's number: the one before it may still be polling the queue (see follow_results)
    run = session.run
    if st.toggle("Show where it looks (Grad-CAM on the largest face, a new map twice a second)",
                 key="webcam_gradcam"):  # fmt: skip
        if overlay.get("for") != str(model_dir):
            overlay["cam"] = face_cam(session.detector)
            overlay["for"] = str(model_dir)
    else:
        overlay.pop("cam", None)
        overlay.pop("for", None)
    video, panel = st.columns([3, 2])
    before = st.session_state.get("emotions")  # the component's context, as the runs before left it
    if before is not None and forget_stopped_stream(before):
        log.info("forgot a stopped stream's SDP answer (see ui/webcam_video.forget_stopped_stream)")
    reconnect = session.reconnect
    with video:
        try:
            ctx = webrtc_streamer(
                key="emotions",
                mode=WebRtcMode.SENDRECV,
                rtc_configuration=rtc_configuration(),
                media_stream_constraints={"video": True, "audio": False},
                video_frame_callback=make_frame_callback(session.detector, results, overlay),
                async_processing=True,
                desired_playing_state=desired_playing(reconnect, before.state if before is not None else None),
            )
        except AttributeError as exc:
            if not stop_raced(exc):
                raise
            # The other stop() finishes the stream: forget it and run again (twice at most in a row) rather than
            # show the user the traceback.
            retries = session.stop_retries
            if retries >= 2:
                session.stop_retries = 0
                st.error("The video connection could not be closed cleanly; reload the page to start again.")
                return
            session.stop_retries = retries + 1
            log.warning("streamlit-webrtc's stop raced itself (%s); running the page again", exc)
            if (stopped := st.session_state.get("emotions")) is not None:
                forget_stopped_stream(stopped, stopped=True)
            st.rerun()
            return
        session.stop_retries = 0

    def current() -> bool:  # the streamlit-webrtc pattern: poll while the video plays (and this run is the last)
        return session.run == run

    with panel:
        status = st.empty()
        chart = st.empty()
        if not ctx.state.playing:
            # results the last stream left behind must not show as the next stream's first faces
            session.last = session.since = None
            drain(results)
            if not ctx.state.signalling:
                if "phase" in reconnect:  # the page restarts a stalled START: between its stop and its start
                    status.info("Restarting the video connection…")
                else:
                    status.info("Press START to begin. The emotion of the largest face and the frame rate appear here.")
                return
            status.info("Connecting to the camera…")
            outcome = stalled_start(reconnect, pending_offer("emotions"), current)
            if outcome == "failed":
                status.warning("The video connection does not start. Press STOP, then START, or reload the page.")
            elif outcome:
                st.rerun()
            return
        # The stream began when the page first saw it playing; a result from before is a stopped stream's, which
        # its video thread can still queue after the drain above.
        if session.since is None:
            session.since = time.time()
        since, shown = session.since, session.last
        if (
            shown is not None and shown["time"] >= since
        ):  # a rerun while playing: keep the last result on screen, not a blank panel
            show_result(status, chart, shown)

        def show(item: dict) -> None:  # drawn first: a run told to stop stops there, before keeping the item
            show_result(status, chart, item)
            session.last = item

        follow_results(results, since, lambda: ctx.state.playing and current(), show,
                       lambda: status.info("Waiting for video…"))  # fmt: skip


def drain(results: queue.Queue) -> None:
    while True:
        try:
            results.get_nowait()
        except queue.Empty:
            return


def show_result(status, chart, item: dict) -> None:
    """One processed frame's result: the largest face's emotion (what ten people would say, for a model trained
    on their votes), the frame rate (over the last 2 s) and bars."""
    fps, faces = item["fps"], item["faces"]
    if not faces:
        status.markdown(f"### no face found\n{fps:.1f} frames/s · {item['ms']:.0f} ms per frame")
        return
    face, people = faces[0], live_session().detector.people
    status.markdown(
        f"### {reading(face, people)}\n"
        f"{len(faces)} face{'s' if len(faces) > 1 else ''} · {fps:.1f} frames/s · {item['ms']:.0f} ms per frame"
    )
    bars = probability_bars(face["probabilities"], height=260, people=people)
    chart.plotly_chart(bars, width="stretch", key=f"live-{item['time']}")


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
        "Model",
        list(models),
        key="webcam_model_choice",
        help="The default agrees best with people (FER+ annotators) on validation.",
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
        if where_to_read() == ON_DEVICE:  # the default where it is built (ui/webcam_on_device.py)
            # keyed by the model: another model is a new component, which loads that model
            on_device_panel(emotion_detector(model_dir), f"live_device-{label}")
        else:
            live_video(model_dir)
    with snapshot:
        snapshot_tab(model_dir)
    with photo:
        photo_tab(model_dir)


if __name__ == "__main__":
    main()
