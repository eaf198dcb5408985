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
# The returned <video>'s current frame: its pixels of the drawn box colours after video compression, green
# (sure) or orange (unsure), and of the Grad-CAM overlay's heat colours (inferno's purples and magentas, which
# the box colours never have and the photo has few); with the video's state, for a failure's message.
VIDEO_STATE = """(video) => {
  const s = {width: video.videoWidth, ready: video.readyState, paused: video.paused,
             time: Math.round(video.currentTime * 10) / 10, box: 0, heat: 0, greenish: 0};
  if (!s.width) return s;
  const c = document.createElement('canvas'); c.width = video.videoWidth; c.height = video.videoHeight;
  const ctx = c.getContext('2d'); ctx.drawImage(video, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  for (let i = 0; i < d.length; i += 4) {
    const r = d[i], g = d[i + 1], b = d[i + 2];
    if ((g > 200 && r < 90 && b < 90) || (r > 200 && g > 150 && g < 235 && b < 90)) s.box++;
    if (r > g + 40 && b > g + 20) s.heat++;
    if (g > r + 60 && g > b + 60) s.greenish++;
  }
  return s;
}"""


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


FRAME_STATE = """() => ({videos: document.querySelectorAll('video').length,
  buttons: [...document.querySelectorAll('button')].map(b => b.innerText).join('/'),
  text: document.body.innerText.slice(0, 80)})"""


def component_frames(page) -> list:
    """The component's attached iframes (looked up afresh: a rerun can make a new one)."""
    return [f for f in page.frames if "streamlit_webrtc" in f.url and not f.is_detached()]


def video_state(page) -> dict:
    """VIDEO_STATE of the returned <video>, from the newest of the component's iframes that has one; counts 0
    while it is (re)made."""
    frames = component_frames(page)
    started, errors = time.time(), []
    for frame in reversed(frames):
        try:
            state = frame.locator("video").last.evaluate(VIDEO_STATE, timeout=1_500)
        except Exception as exc:  # no video in it, or the frame detached meanwhile
            errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:60]}")
            try:
                errors.append(frame.evaluate(FRAME_STATE))
            except Exception as inner:
                errors.append(f"frame: {type(inner).__name__}")
            continue
        state.update(frames=len(frames), errors=errors, seconds=round(time.time() - started, 1))
        return state
    return {"box": 0, "heat": 0, "frames": len(frames), "errors": errors, "seconds": round(time.time() - started, 1)}


def poll_video(page, done, seconds: float = 15) -> tuple[dict, list[dict]]:
    """The video's state polled until done(state) or the deadline; the last state and every one seen."""
    deadline, seen = time.time() + seconds, []
    while True:
        seen.append(video_state(page))
        if done(seen[-1]) or time.time() > deadline:
            return seen[-1], seen
        time.sleep(0.3)


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


def stop(page, cycle: int, server_log) -> None:
    """STOP, and wait until the component and then the page have taken it in: until the script reruns, the
    last cycle's emotion is still on the page, and the next START would be taken as answered by it (a dropped
    START then goes unretried)."""
    component = page.frame_locator(COMPONENT)
    steps = [
        ("STOP clicked", lambda: component.get_by_role("button", name="STOP").click(timeout=20_000)),
        ("START shown again", lambda: component.get_by_role("button", name="START").wait_for(timeout=20_000)),
    ]
    for name, step in steps:
        try:
            step()
        except Exception as exc:
            frames = [f.evaluate(FRAME_STATE) for f in component_frames(page)]
            status = [h.inner_text()[:60] for h in page.locator('h3, [data-testid="stAlert"]').all()]
            log = server_log.read_text()[-600:]
            raise AssertionError(f"cycle {cycle}: no {name} in 20 s ({type(exc).__name__}); component: {frames}; "
                                 f"status: {status}; server log ends: {log!r}") from None  # fmt: skip
    # Then the page: once the script reruns it says 'Press START'. About 1 stop in 10 it has not rerun within
    # 20 s (cause not found yet); the next START is then tried as before this wait existed.
    try:
        page.get_by_text("Press START to begin").wait_for(timeout=20_000)
    except Exception:
        print(f"cycle {cycle}: the page still showed the stopped stream's status after 20 s")


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
                state, seen = poll_video(page, lambda s: s["box"] >= 50)
                assert state["box"] >= 50, f"cycle {cycle}: no box drawn in the returned video; polls: {seen}"
                if cycle == 0:
                    without = state["heat"]
                if overlay:
                    state, seen = poll_video(page, lambda s, base=without: s["heat"] >= base + 500)
                    assert state["heat"] >= without + 500, (
                        f"no Grad-CAM overlay ({without} heat pixels without it): {seen}"
                    )
                    page.screenshot(path=str(tmp_path / "webcam-gradcam.png"))
                if cycle == 0:
                    page.screenshot(path=str(tmp_path / "webcam.png"))
                stop(page, cycle, server_log)
        finally:
            browser.close()
    assert (tmp_path / "webcam.png").stat().st_size > 10_000
    log = server_log.read_text()
    assert "resetting stale state" not in log, "streamlit-webrtc dropped a stream (see requirements.txt)"
    print(f"START clicks per cycle: {clicks}")
