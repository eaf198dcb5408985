// The Live page's on-device mode (a Streamlit component): the camera is read with getUserMedia, faces are found
// and read in this page (src/detector.js: the server's pipeline, the same model), and drawn here. No frame and
// no pixel leaves the device: twice a second a summary of a few numbers goes back to Python.
import { Streamlit } from "streamlit-component-lib";
import { Detector } from "./detector.js";
import { RemoteSession, Tensor } from "./remote_session.js";

const SUMMARY_MS = 500;
const FRAME_HEIGHT = 640;
const BOX = "rgb(0, 255, 0)";
const LOW = "rgb(255, 200, 0)";

// opencv.js is loaded once WebAssembly is known to be there (it starts it as it loads); ONNX Runtime runs in the
// model's worker (src/model_worker.js)
let cv = null;
// frames whose faces the worker is reading: a new frame waits its turn behind at most this many, else is skipped
const IN_FLIGHT = 2;
const el = (id) => document.getElementById(id);
const state = { detector: null, stream: null, running: false, frames: [], counts: {}, samples: [], summaryAt: 0,
  // milliseconds spent so far in each stage of a frame (benchmarks/browser_live.py reports the means)
  // (model: from a frame's faces sent to the worker to their reading back, waiting behind the frame before included)
  timing: { capture: 0, locate: 0, model: 0, frames: 0 } };
// what the end-to-end tests read (tests/test_e2e_live_device.py); nothing of it leaves the page
window.__liveDevice = state;

function say(text, kind = "info") {
  const line = el("status");
  line.textContent = text;
  line.className = kind;
  line.setAttribute("role", kind === "error" ? "alert" : "status");
}

// One line on the page instead of the video (never a blank component), and to Python; `fallback` asks the page to
// switch to the server mode, for a browser that cannot run the model at all.
function fail(text, fallback = false) {
  say(text, "error");
  state.error = text;
  el("start").disabled = true;
  el("stop").disabled = true;
  document.querySelector(".layout .video").hidden = true;
  Streamlit.setFrameHeight(document.body.scrollHeight + 8);
  Streamlit.setComponentValue({ error: text, fallback });
}

// core.inference.emotions.reading / box_text: what ten people would say, for a model trained on their votes
const ofTen = (share) => Math.floor(share * 10 + 0.5);
function reading(face, people) {
  if (!people) return `${face.label} · ${Math.round(face.confidence * 100)}%${face.low_confidence ? " (unsure)" : ""}`;
  if (!face.low_confidence) return `≈ ${ofTen(face.confidence)} of 10 people would say ${face.label}`;
  const top = Object.entries(face.probabilities).sort((a, b) => b[1] - a[1]).slice(0, 2);
  return "people would disagree: " + top.map(([name, p]) => `≈ ${ofTen(p)} of 10 ${name}`).join(", ");
}
function boxText(face, people) {
  if (people) return face.low_confidence ? "people would disagree" : `${face.label}: ~${ofTen(face.confidence)} of 10`;
  return `${face.label} ${Math.round(face.confidence * 100)}%${face.low_confidence ? " (unsure)" : ""}`;
}

function draw(faces, people, scale) {
  const canvas = el("overlay");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.font = "bold 15px sans-serif";
  for (const face of faces) {
    const [x, y, w, h] = face.box.map((v) => v * scale);
    const colour = face.low_confidence ? LOW : BOX;
    ctx.strokeStyle = colour;
    ctx.lineWidth = 3;
    ctx.strokeRect(x, y, w, h);
    const text = boxText(face, people);
    const width = ctx.measureText(text).width + 10;
    const top = y > 24 ? y - 24 : y + h;
    ctx.fillStyle = colour;
    ctx.fillRect(x, top, width, 22);
    ctx.fillStyle = "rgb(20, 20, 20)";
    ctx.fillText(text, x + 5, top + 16);
  }
}

function bars(face, people) {
  const panel = el("bars");
  panel.replaceChildren();
  if (!face) return;
  const best = face.label;
  for (const [name, p] of Object.entries(face.probabilities)) {
    const row = document.createElement("div");
    row.className = "bar" + (name === best ? " best" : "");
    const value = people ? `≈ ${ofTen(p)}` : `${Math.round(p * 100)}%`;
    row.innerHTML = `<span class="name"></span><span class="track"><span class="fill"></span></span><span class="value"></span>`;
    row.querySelector(".name").textContent = name;
    row.querySelector(".fill").style.width = `${(p * 100).toFixed(1)}%`;
    row.querySelector(".value").textContent = value;
    panel.append(row);
  }
}

function summarise(now) {
  // frames per second over the last 2 s, as the server mode measures it
  state.frames = state.frames.filter((t) => now - t.at < 2000);
  const fps = state.frames.length > 1 ? (state.frames.length - 1) / ((now - state.frames[0].at) / 1000) : 0;
  const ms = state.frames.length ? state.frames.reduce((a, t) => a + t.ms, 0) / state.frames.length : 0;
  return { fps, ms };
}

// One video frame: captured and its faces located and cropped here, read by the model's worker while this thread
// takes the next frame; shown when its reading comes back (in frame order).
function step(_now, frame) {
  if (!state.running) return;
  const video = el("video");
  if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(step);
  else requestAnimationFrame(step);
  if (frame) state.timing.presented = frame.presentedFrames; // the camera's frames so far (the benchmark's rate)
  if (state.inFlight >= IN_FLIGHT) return; // the model is behind: this frame is skipped, as a slow server skips
  const started = performance.now();
  const work = el("work");
  const ctx = work.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(video, 0, 0, work.width, work.height);
  const rgba = cv.matFromImageData(ctx.getImageData(0, 0, work.width, work.height));
  const gray = new cv.Mat();
  cv.cvtColor(rgba, gray, cv.COLOR_RGBA2GRAY);
  rgba.delete();
  const captured = performance.now();
  let framed;
  try {
    framed = state.detector.prepare(gray);
  } finally {
    gray.delete();
  }
  const located = performance.now();
  const crops = [];
  state.inFlight += 1;
  state.detector.read(framed, crops)
    .then((faces) => {
      state.inFlight -= 1;
      const t = state.timing;
      Object.assign(t, { capture: t.capture + captured - started, locate: t.locate + located - captured,
        model: t.model + performance.now() - located, frames: t.frames + 1, inModel: state.detector.session.busyMs });
      if (state.running) show(faces, crops, started);
    })
    .catch((e) => fail(`The on-device reading stopped: ${e.message || e}`));
}

function show(faces, crops, started) {
  const now = performance.now();
  const work = el("work");
  state.frames.push({ at: now, ms: now - started });
  state.samples = crops.slice(0, 4);
  state.processed = (state.processed || 0) + 1;
  const people = state.settings.people;
  draw(faces, people, el("overlay").width / work.width);
  const largest = faces.reduce((a, f) => (!a || f.box[2] * f.box[3] > a.box[2] * a.box[3] ? f : a), null);
  const { fps, ms } = summarise(now);
  say(largest ? reading(largest, people) : "no face found", "reading");
  el("rate").textContent = `${faces.length} face${faces.length === 1 ? "" : "s"} · ${fps.toFixed(1)} frames/s · ${ms.toFixed(0)} ms per frame`;
  bars(largest, people);
  if (largest) state.counts[largest.label] = (state.counts[largest.label] || 0) + 1;
  if (now - state.summaryAt >= SUMMARY_MS) {
    state.summaryAt = now;
    Streamlit.setComponentValue({ fps: Number(fps.toFixed(2)), ms: Number(ms.toFixed(1)), faces: faces.length,
      label: largest ? largest.label : null, reading: largest ? reading(largest, people) : null, counts: state.counts,
      frames: state.processed });
  }
}

async function startCamera() {
  el("start").disabled = true;
  say("Starting the camera…");
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (e) {
    const name = e && e.name;
    if (name === "NotAllowedError" || name === "SecurityError") return fail("Camera access was denied: allow the camera for this page in the browser's settings, then reload.");
    if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError") return fail("No camera was found on this device.");
    return fail(`The camera could not be started (${name || e}).`);
  }
  const video = el("video");
  video.srcObject = state.stream;
  await video.play();
  const track = state.stream.getVideoTracks()[0].getSettings();
  const width = track.width || video.videoWidth || 640;
  const height = track.height || video.videoHeight || 480;
  Object.assign(el("work"), { width, height });
  Object.assign(el("overlay"), { width: video.clientWidth || width, height: (video.clientWidth || width) * height / width });
  state.running = true;
  state.inFlight = 0;
  el("stop").disabled = false;
  say("Looking for faces…");
  step();
}

function stopCamera() {
  state.running = false;
  if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
  state.stream = null;
  el("stop").disabled = true;
  el("start").disabled = false;
  el("overlay").getContext("2d").clearRect(0, 0, el("overlay").width, el("overlay").height);
  say("Press Start to begin. Everything stays on this device.");
  Streamlit.setComponentValue({ stopped: true, counts: state.counts, frames: state.processed || 0 });
}

async function load(args) {
  if (typeof WebAssembly !== "object" || typeof WebAssembly.instantiate !== "function") {
    return fail("This browser cannot run WebAssembly, which the on-device mode needs, so the video is read on the server.", true);
  }
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return fail("This page has no camera access (a remote page needs HTTPS, or the browser has none): choose “On the server” above.");
  }
  state.settings = args.settings;
  say("Loading the face finder and the model (once)…");
  // require, not import(): opencv.js's module is a thenable, which `await` would chase for ever
  cv = require("@techstark/opencv-js"); // eslint-disable-line no-undef
  const base = new URL(".", window.location.href).href;
  await new Promise((resolve) => (cv.Mat ? resolve() : (cv.onRuntimeInitialized = resolve)));
  const cascadeFile = await fetch(args.cascade_url);
  if (!cascadeFile.ok) return fail(`The face finder's cascade file could not be loaded (HTTP ${cascadeFile.status}).`);
  cv.FS_createDataFile("/", "face.xml", new Uint8Array(await cascadeFile.arrayBuffer()), true, false, false);
  const cascade = new cv.CascadeClassifier();
  if (!cascade.load("face.xml")) return fail("The face finder's cascade file is not a cascade.");
  let session;
  try {
    const model = await fetch(args.model_url);
    if (!model.ok) throw new Error(`HTTP ${model.status}`);
    session = await RemoteSession.load(`${base}model_worker.js`, new Uint8Array(await model.arrayBuffer()), `${base}ort/`);
  } catch (e) {
    return fail(`The emotion model could not be loaded in this browser (${(e && e.message) || e}): choose “On the server” above.`);
  }
  state.detector = new Detector(cv, cascade, { Tensor }, session, args.settings);
  el("start").disabled = false;
  say("Press Start to begin. Everything stays on this device.");
}

let loaded = false;
Streamlit.events.addEventListener(Streamlit.RENDER_EVENT, (event) => {
  if (loaded) return;
  loaded = true;
  el("start").addEventListener("click", () => startCamera().catch((e) => fail(`${e.message || e}`)));
  el("stop").addEventListener("click", stopCamera);
  load(event.detail.args).catch((e) => fail(`The on-device mode could not start (${(e && e.message) || e}).`));
});
Streamlit.setComponentReady();
Streamlit.setFrameHeight(FRAME_HEIGHT);
