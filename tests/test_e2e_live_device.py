"""The Live page's on-device mode end to end in headless Chromium: the fake camera plays a real face, the page's
component finds and reads it in the browser (opencv.js, ONNX Runtime Web), and

- it is the default, draws a reading, and makes no WebRTC connection;
- nothing it sends while streaming is bigger than a few kilobytes (no frame, no pixel reaches the server);
- its probabilities for the crops it read, and for FER-2013 test faces handed to it, equal the server's ONNX
  path's on the same crops within 1e-3, with the same labels;
- a bad model file, no camera, a denied camera and a browser without WebAssembly each give one line.

tests/test_live_device.py checks the same JavaScript in Node, frame by frame against the Python pipeline."""

import contextlib
import re
import time

import numpy as np
import pytest

from tests.browser import BROWSER_ARGS, CHROMIUM, LIVE_DEVICE, ROOT, assert_no_exception, live_device_frame, serve_app
from tests.fake_camera import write_y4m

pytestmark = pytest.mark.e2e
DIST = ROOT / "ui" / "live_device" / "frontend" / "dist"
COMPONENT = LIVE_DEVICE
WEBRTC = 'iframe[title="streamlit_webrtc.component.webrtc_streamer"]'
CAMERA_ARGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
READING = re.compile(r"≈ \d+ of 10 people would say \w+|people would disagree|\w+ · \d+%")
# Bigger than any summary the component sends (a few numbers), far smaller than one frame (640 x 480 x 3)
FEW_KILOBYTES = 4096
READ_FRAMES = 30  # frames the browser reads while the test watches what it sends
# Counts every WebRTC connection made in the page and its frames (an init script runs in each frame)
COUNT_PEER_CONNECTIONS = """(() => {
  window.__peerConnections = 0;
  const Real = window.RTCPeerConnection;
  if (!Real) return;
  window.RTCPeerConnection = function (...args) { window.__peerConnections += 1; return new Real(...args); };
  window.RTCPeerConnection.prototype = Real.prototype;
})();"""


@pytest.fixture
def app_url(tmp_path):
    if not (DIST / "bundle.js").is_file():
        pytest.skip("the on-device component is not built (make frontend)")
    with serve_app(tmp_path, {"STUDY_RUNS_DIR": str(tmp_path / "runs")}) as (url, _):
        yield url


@pytest.fixture(scope="module")
def camera_video(tmp_path_factory):
    return write_y4m(tmp_path_factory.mktemp("camera") / "face.y4m", fps=30)


@contextlib.contextmanager
def chromium(args: list[str]):
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS + args)
        try:
            yield browser
        finally:
            browser.close()


def component(page):
    frame = live_device_frame(page)
    assert frame is not None, "the on-device component's script did not run"
    return frame


def status(frame) -> str:
    return frame.locator("#status").inner_text()


def wait_for_status(page, frame, pattern: re.Pattern, seconds: float = 60) -> str:
    deadline, text = time.time() + seconds, ""
    while time.time() < deadline:
        text = status(frame)
        if pattern.search(text):
            return text
        page.wait_for_timeout(250)
    raise AssertionError(f"the component says {text!r}, waited {seconds:.0f} s for {pattern.pattern!r}")


def started(page):
    """The Live page, its component loaded and started."""
    frame = component(page)
    frame.locator("#start:not([disabled])").wait_for(timeout=120_000)
    frame.locator("#start").click()
    wait_for_status(page, frame, READING)
    return frame


def test_the_live_page_reads_faces_on_the_device_as_the_server_does(app_url, camera_video, fer_data):
    from core.inference.emotions import EmotionDetector
    from core.runs.index import webcam_default

    with chromium(CAMERA_ARGS + [f"--use-file-for-fake-video-capture={camera_video}"]) as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.add_init_script(COUNT_PEER_CONNECTIONS)
        sent: list[tuple[str, int]] = []
        streaming = {"on": False}

        def request(req) -> None:
            if streaming["on"]:
                sent.append((req.url, len(req.post_data_buffer or b"")))

        def websocket(ws) -> None:
            def frame_sent(payload) -> None:
                if streaming["on"]:
                    sent.append((ws.url, len(payload if isinstance(payload, bytes) else payload.encode())))

            ws.on("framesent", frame_sent)

        page.on("request", request)
        page.on("websocket", websocket)
        page.goto(f"{app_url}/webcam")
        page.get_by_role("radiogroup").get_by_text("On this device").wait_for(timeout=120_000)
        assert page.get_by_role("radio", name="On this device").is_checked()
        frame = started(page)
        assert_no_exception(page, "starting the on-device mode")
        assert "never sent anywhere" in frame.locator("body").inner_text()
        streaming["on"] = True
        # while the browser reads at least READ_FRAMES more frames (however fast this machine is): a dozen looks at
        # the crops it read, with its raw probabilities
        first = frame.evaluate("() => window.__liveDevice.processed")
        samples: list[dict] = []
        deadline = time.time() + 120  # a guard against a stalled reading, not a speed bound
        while time.time() < deadline and (
            len(samples) < 12 or frame.evaluate("() => window.__liveDevice.processed") < first + READ_FRAMES
        ):
            page.wait_for_timeout(250)
            samples += frame.evaluate("() => window.__liveDevice.samples")
        # the page shows the summary the component sends back (a few numbers)
        page.get_by_text(re.compile(r"frames read on your device")).wait_for(timeout=30_000)
        streaming["on"] = False
        read = frame.evaluate("() => window.__liveDevice.processed") - first
        # FER-2013 test faces handed to the browser's model, as 48 x 48 crops
        faces = fer_data["test"].images[:40, 0].numpy()
        browser_probs = frame.evaluate(
            "async (faces) => (await window.__liveDevice.detector.classify(faces.map((f) => Uint8Array.from(f))))"
            ".map((p) => Array.from(p))",
            [face.ravel().tolist() for face in faces],
        )
        peers = [f.evaluate("() => window.__peerConnections || 0") for f in page.frames if not f.is_detached()]
        webrtc_components = page.locator(WEBRTC).count()
        assert_no_exception(page, "streaming")

    assert sum(peers) == 0, f"WebRTC connections were made: {peers}"
    assert webrtc_components == 0
    biggest = max(sent, key=lambda s: s[1], default=("", 0))
    print(f"sent while streaming: {len(sent)} messages, the biggest {biggest[1]} bytes")
    assert biggest[1] <= FEW_KILOBYTES, f"{biggest[1]} bytes sent to {biggest[0]} while streaming"
    assert read >= READ_FRAMES, f"the browser stopped reading frames ({read} in 120 s)"

    server = EmotionDetector(webcam_default(ROOT / "checkpoints").path).for_session()
    crops = [np.array(s["face"], dtype=np.uint8).reshape(48, 48) for s in samples]
    assert len(crops) >= 5, "the browser read too few faces"
    mine = np.array([s["probs"] for s in samples] + browser_probs)
    theirs = np.concatenate([server.classify(crops), server.classify(list(faces))])
    assert np.abs(mine - theirs).max() <= 1e-3
    assert (mine.argmax(1) == theirs.argmax(1)).mean() >= 0.99


def open_on_device(browser, app_url, prepare=None):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    if prepare:
        prepare(page)
    page.goto(f"{app_url}/webcam")
    return page


def one_line(page, frame, expected: str) -> None:
    text = wait_for_status(page, frame, re.compile(re.escape(expected)))
    assert "\n" not in text.strip()
    height = page.locator(COMPONENT).first.evaluate("(f) => f.getBoundingClientRect().height")
    assert height > 20, "the component is blank"
    assert_no_exception(page, expected)


def test_a_bad_model_file_is_one_line(app_url, camera_video):
    def bad_model(page):
        page.route("**/models/*.onnx", lambda route: route.fulfill(status=200, body=b"not an ONNX model"))

    with chromium(CAMERA_ARGS + [f"--use-file-for-fake-video-capture={camera_video}"]) as browser:
        page = open_on_device(browser, app_url, bad_model)
        one_line(page, component(page), "The emotion model could not be loaded in this browser")


def test_no_camera_and_a_denied_camera_are_one_line_each(app_url, camera_video):
    with chromium(["--use-fake-ui-for-media-stream"]) as browser:  # a machine without a camera
        page = open_on_device(browser, app_url)
        frame = component(page)
        frame.locator("#start:not([disabled])").wait_for(timeout=120_000)
        frame.locator("#start").click()
        one_line(page, frame, "No camera was found on this device.")
    # a camera, and the person says no (headless Chromium denies when there is no fake "allow")
    camera = ["--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={camera_video}"]
    with chromium(camera) as browser:
        page = open_on_device(browser, app_url)
        frame = component(page)
        frame.locator("#start:not([disabled])").wait_for(timeout=120_000)
        frame.locator("#start").click()
        one_line(page, frame, "Camera access was denied")


def test_a_browser_without_webassembly_reads_on_the_server(app_url, camera_video):
    def no_webassembly(page):
        page.add_init_script("delete window.WebAssembly;")

    with chromium(CAMERA_ARGS + [f"--use-file-for-fake-video-capture={camera_video}"]) as browser:
        page = open_on_device(browser, app_url, no_webassembly)
        page.get_by_text("cannot run WebAssembly").first.wait_for(timeout=120_000)
        page.locator(WEBRTC).first.wait_for(timeout=60_000)  # the server's WebRTC mode instead
        assert page.get_by_role("radio", name="On the server (WebRTC)").is_checked()
        assert page.locator(COMPONENT).count() == 0
        assert_no_exception(page, "falling back to the server mode")
