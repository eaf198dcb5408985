"""A drawing pad for one letter: a small Streamlit v2 component (inline HTML/JS, no build step).

streamlit-drawable-canvas does not work with this Streamlit (0.10-0.13 fail to import, 0.9.3 never shows
its iframe), and a letter pad needs only a canvas, a pen and a clear button.
"""

from __future__ import annotations

import base64
import io

import streamlit as st
from PIL import Image

_HTML = """
<div class="pad">
  <canvas width="280" height="280"></canvas>
  <button type="button">Clear</button>
</div>
"""

_CSS = """
.pad { display: flex; gap: 0.75rem; align-items: flex-start; }
canvas { background: #000; border: 2px solid #888; border-radius: 0.5rem; touch-action: none; cursor: crosshair; }
/* fixed colours: readable in the light and the dark theme alike */
button { font: inherit; padding: 0.25rem 0.75rem; border-radius: 0.5rem; border: 1px solid #888;
         background: #f0f2f6; color: #31333f; cursor: pointer; }
"""

_JS = """
export default function(component) {
  const { parentElement, setStateValue } = component;
  const canvas = parentElement.querySelector("canvas");
  const clear = parentElement.querySelector("button");
  const ctx = canvas.getContext("2d");
  const reset = () => { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, canvas.width, canvas.height); };
  reset();
  ctx.strokeStyle = "#fff"; ctx.lineWidth = 22; ctx.lineCap = "round"; ctx.lineJoin = "round";
  let drawing = false;
  const at = (e) => { const r = canvas.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
  const down = (e) => { drawing = true; canvas.setPointerCapture(e.pointerId); const [x, y] = at(e);
                        ctx.beginPath(); ctx.moveTo(x, y); ctx.lineTo(x + 0.1, y + 0.1); ctx.stroke(); };
  const move = (e) => { if (!drawing) return; const [x, y] = at(e); ctx.lineTo(x, y); ctx.stroke(); };
  const up = () => { if (!drawing) return; drawing = false; setStateValue("image", canvas.toDataURL("image/png")); };
  const wipe = () => { reset(); setStateValue("image", null); };
  canvas.addEventListener("pointerdown", down);
  canvas.addEventListener("pointermove", move);
  canvas.addEventListener("pointerup", up);
  canvas.addEventListener("pointerleave", up);
  clear.addEventListener("click", wipe);
  return () => {
    canvas.removeEventListener("pointerdown", down); canvas.removeEventListener("pointermove", move);
    canvas.removeEventListener("pointerup", up); canvas.removeEventListener("pointerleave", up);
    clear.removeEventListener("click", wipe);
  };
}
"""

_pad = st.components.v2.component("letter_sketchpad", html=_HTML, css=_CSS, js=_JS)


def sketchpad(key: str = "sketchpad") -> Image.Image | None:
    """Show the pad; return what has been drawn (white on black, RGB) or None while it is empty."""
    result = _pad(key=key, on_image_change=lambda: None)
    data_url = getattr(result, "image", None)
    if not data_url or "," not in data_url:
        return None
    return Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).convert("RGB")
