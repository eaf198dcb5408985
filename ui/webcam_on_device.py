"""The Live page's on-device mode: a Streamlit component (built from ui/live_device/frontend by `make frontend`)
that reads the camera, finds and reads faces in the visitor's browser with the server's own pipeline and model
(core.inference.on_device), and draws them there. No frame leaves the device; twice a second a summary of a few
numbers comes back, which this module shows."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import streamlit as st
import streamlit.components.v1 as components

from core.inference import on_device
from core.inference.emotions import EmotionDetector

DIST = Path(__file__).resolve().parent / "live_device" / "frontend" / "dist"
ON_DEVICE, ON_SERVER = "On this device", "On the server (WebRTC)"
FALLBACK = "webcam_on_device_unsupported"  # session state: why this browser cannot run the on-device mode


def unavailable() -> str | None:
    """Why the on-device mode cannot be offered by this server (one line), or None when it can."""
    if not (DIST / "index.html").is_file() or not (DIST / "bundle.js").is_file():
        return ("The on-device mode is not built on this server (it needs Node: `make frontend`), so the video is "
                "read on the server.")  # fmt: skip
    return None


@st.cache_resource
def _component() -> Any:
    return components.declare_component("live_device", path=str(DIST))


def _served(source: Path, folder: str) -> str:
    """A file copied into the component's folder, which the app serves (no CDN, no other route), as a URL relative
    to the component's page. A copy is replaced when its size differs (the model's file name already names its
    weights: core.inference.onnx_runtime)."""
    target = DIST / folder / source.name
    if not target.is_file() or target.stat().st_size != source.stat().st_size:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.part")
        shutil.copyfile(source, partial)
        partial.replace(target)
    return f"{folder}/{source.name}"


def where_to_read() -> str:
    """The mode picker: on this device by default where it is built and the browser can run it; the server's
    WebRTC mode otherwise."""
    why = unavailable() or st.session_state.get(FALLBACK)
    options = [ON_SERVER] if why else [ON_DEVICE, ON_SERVER]
    if st.session_state.get("webcam_where") not in options:
        st.session_state["webcam_where"] = options[0]
    st.radio("Where the video is read", options, horizontal=True, key="webcam_where",
             help="On this device: the camera, the face finder and the model run in your browser; the server gets "
             "a few numbers twice a second. On the server: the video streams to this server over WebRTC.")  # fmt: skip
    if why:
        st.caption(why)
    return str(st.session_state["webcam_where"])


@st.fragment
def on_device_panel(detector: EmotionDetector, key: str) -> None:
    """The component, and what its summaries say (a fragment: a summary reruns this alone, not the page)."""
    model = on_device.model_file(detector)
    if model is None:
        st.error("This model runs without ONNX Runtime here, so it cannot run in the browser: choose the server mode.")
        return
    value = _component()(
        model_url=_served(model, "models"),
        cascade_url=_served(on_device.cascade_file(), "assets"),
        settings=on_device.settings(detector),
        key=key,
        default=None,
    )
    if not value:
        return
    if value.get("error"):
        if value.get("fallback"):  # this browser cannot run it at all (no WebAssembly): the server mode instead
            st.session_state[FALLBACK] = value["error"]
            st.rerun(scope="app")
        return  # the component shows the line itself, in place of the video
    counts = value.get("counts") or {}
    seen = ", ".join(f"{name} {n}" for name, n in sorted(counts.items(), key=lambda kv: -kv[1])[:4])
    st.caption(f"{value.get('frames', 0):,} frames read on your device" + (f"; the largest face was {seen}" if seen
               else "") + ". Only these numbers reached the server.")  # fmt: skip
