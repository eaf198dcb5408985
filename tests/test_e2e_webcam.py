"""End to end in a real browser: headless Chromium with a fake camera playing a real face, the app on a free
loopback port, START clicked in the component's iframe, annotated frames back in the <video> element."""

import shutil
import time

import pytest

from tests.browser import BROWSER_ARGS, CHROMIUM, serve_app
from tests.fake_camera import write_y4m

pytestmark = pytest.mark.e2e
COMPONENT = 'iframe[title="streamlit_webrtc.component.webrtc_streamer"]'
CYCLES = 4  # START/STOP cycles: streamlit-webrtc 0.72.1+ dropped about one START in ten
CAMERA_ARGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
# Pixels of the drawn box colours after video compression: green (sure) or orange (unsure), as RGB.
COUNT_BOX_PIXELS = """(video) => {
  const c = document.createElement('canvas'); c.width = video.videoWidth; c.height = video.videoHeight;
  if (!c.width) return 0;
  const ctx = c.getContext('2d'); ctx.drawImage(video, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data; let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    const r = d[i], g = d[i + 1], b = d[i + 2];
    if ((g > 200 && r < 90 && b < 90) || (r > 200 && g > 150 && g < 235 && b < 90)) n++;
  }
  return n;
}"""
# Pixels of the Grad-CAM overlay's heat colours (inferno's purples and magentas); the box colours never have
# them, and the photo few (counted without the overlay first).
COUNT_HEAT_PIXELS = COUNT_BOX_PIXELS.replace(
    "(g > 200 && r < 90 && b < 90) || (r > 200 && g > 150 && g < 235 && b < 90)", "r > g + 40 && b > g + 20"
)


@pytest.fixture
def app_server(tmp_path, emotion_checkpoint):
    runs = tmp_path / "runs"
    shutil.copytree(emotion_checkpoint, runs / "fer-small")
    with serve_app(tmp_path, {"STUDY_RUNS_DIR": str(runs)}) as server:
        yield server


EMOTIONS = "angry|disgusted|fearful|happy|neutral|sad|surprised"
# "<emotion> · NN%" in a heading and "N face · F frames/s" under it, in the same status element
FACE_AND_RATE_SHOWN = f"""() => [...document.querySelectorAll('h3')].some(h =>
  /^({EMOTIONS}) · \\d+%/.test(h.innerText.trim())
  && /frames\\/s/.test((h.closest('[data-testid="stMarkdownContainer"]') || h).innerText))"""


def component_frame(page):
    for frame in page.frames:
        if "streamlit_webrtc" in frame.url:
            return frame
    return None


def video_pixels(page, count_script: str) -> int:
    """The count of the returned <video>'s current frame; 0 while the component's iframe or video is (re)made."""
    frame = component_frame(page)
    if frame is None:
        return 0
    try:
        return frame.locator("video").last.evaluate(count_script, timeout=3_000)
    except Exception:  # no video yet, or a frame detached: the caller polls until its deadline
        return 0


def start_and_wait_for_faces(page, attempts: int = 3) -> int:
    """Click START (retrying a bounded number of times if WebRTC set-up stalls); returns the clicks needed."""
    iframe = page.frame_locator(COMPONENT)
    for attempt in range(1, attempts + 1):
        iframe.get_by_role("button", name="START").click(timeout=60_000)
        try:
            page.wait_for_function(
                "() => [...document.querySelectorAll('h3')].some(h => / · \\d+%|no face found/.test(h.innerText))",
                timeout=25_000,
            )
            return attempt
        except Exception:
            iframe.get_by_role("button", name="STOP").click(timeout=10_000)
            iframe.get_by_role("button", name="START").wait_for(timeout=20_000)
    raise AssertionError(f"no processed frame after {attempts} START clicks")


def test_live_webcam_round_trip_in_chromium(app_server, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    url, server_log = app_server
    video_file = write_y4m(tmp_path / "face.y4m")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=BROWSER_ARGS + CAMERA_ARGS + [f"--use-file-for-fake-video-capture={video_file}"],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/webcam")
            page.wait_for_selector(COMPONENT, timeout=60_000)
            clicks = []
            for cycle in range(CYCLES):
                overlay = cycle == CYCLES - 1  # the last cycle with the Grad-CAM overlay switched on
                if overlay:
                    page.get_by_text("Show where it looks").click()
                    page.wait_for_timeout(2000)  # the rerun
                clicks.append(start_and_wait_for_faces(page))
                # The first processed frames may be the camera's start-up frames, with no face in them yet. The
                # emotion and the frame rate are read from one snapshot of the page, not two queries a rerun apart.
                page.wait_for_function(FACE_AND_RATE_SHOWN, timeout=20_000)
                # The returned video carries the drawn box: the frames made the round trip.
                deadline, pixels = time.time() + 15, 0
                while time.time() < deadline and pixels < 50:
                    pixels = video_pixels(page, COUNT_BOX_PIXELS)
                    time.sleep(0.3)
                assert pixels >= 50, f"cycle {cycle}: no box drawn in the returned video"
                heat = video_pixels(page, COUNT_HEAT_PIXELS)
                if cycle == 0:
                    without = heat
                deadline = time.time() + 15
                while overlay and time.time() < deadline and heat < without + 500:
                    heat = video_pixels(page, COUNT_HEAT_PIXELS)
                    time.sleep(0.3)
                if overlay:
                    assert heat >= without + 500, f"no Grad-CAM overlay: {heat} heat pixels, {without} without it"
                    page.screenshot(path=str(tmp_path / "webcam-gradcam.png"))
                if cycle == 0:
                    page.screenshot(path=str(tmp_path / "webcam.png"))
                page.frame_locator(COMPONENT).get_by_role("button", name="STOP").click(timeout=20_000)
                page.frame_locator(COMPONENT).get_by_role("button", name="START").wait_for(timeout=20_000)
        finally:
            browser.close()
    assert (tmp_path / "webcam.png").stat().st_size > 10_000
    log = server_log.read_text()
    assert "resetting stale state" not in log, "streamlit-webrtc dropped a stream (see requirements.txt)"
    print(f"START clicks per cycle: {clicks}")
