"""The app on a free loopback port, and the headless Chromium that the end-to-end tests drive."""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_app(tmp_path: Path, env: dict[str, str]) -> Iterator[tuple[str, Path]]:
    """A fresh `streamlit run streamlit_app.py` on 127.0.0.1; yields (url, server log). Skips without Chromium."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install -y chromium); .ci/run installs it")
    port = free_port()
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log:
        command = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
                   "--server.address", "127.0.0.1", "--server.port", str(port)]  # fmt: skip
        proc = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 60
            while time.time() < deadline:
                try:
                    if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                        break
                except OSError:
                    time.sleep(0.5)
            else:
                pytest.fail("the app did not become healthy in 60 s")
            yield url, log_path
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextlib.contextmanager
def app_page(tmp_path: Path, path: str, heading: str, env: dict[str, str] | None = None) -> Iterator[Any]:
    """A fresh app (runs in tmp_path) and a desktop-sized Chromium page opened on `path`, its heading shown."""
    playwright = pytest.importorskip("playwright.sync_api")
    env = {"STUDY_RUNS_DIR": str(tmp_path / "runs"), **(env or {})}
    with serve_app(tmp_path, env) as (url, _), playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/{path}")
            page.get_by_role("heading", name=heading).first.wait_for(timeout=60_000)
            yield page
        finally:
            browser.close()


def assert_no_exception(page: Any, after: str = "") -> None:
    """No Streamlit exception box and no traceback on the page (its iframes included); call it after each
    interaction, not only after navigating. `after` names the interaction in the failure's message."""
    boxes = page.locator('[data-testid="stException"]')
    shown = [boxes.nth(i).inner_text()[:400] for i in range(boxes.count())]
    texts = [page.locator("body").inner_text()]
    for frame in page.frames[1:]:
        try:
            texts.append(frame.locator("body").inner_text(timeout=2_000))
        except Exception:  # a component's frame that is gone or not loaded: nothing of it shows
            continue
    shown += [text[max(0, text.find("Traceback") - 200) :][:600] for text in texts if "Traceback" in text]
    assert not shown, f"exception on the page{' after ' + after if after else ''}: {shown}"


LIVE_DEVICE = 'iframe[title="ui.webcam_on_device.live_device"]'


def live_device_frame(page: Any, seconds: float = 120) -> Any:
    """The Live page's on-device component's frame, once its script runs (None if it does not in `seconds`)."""
    page.locator(LIVE_DEVICE).first.wait_for(timeout=seconds * 1000)
    deadline = time.time() + seconds
    while time.time() < deadline:
        for frame in page.frames:
            if "live_device" in frame.url and not frame.is_detached():
                with contextlib.suppress(Exception):  # a frame still loading
                    if frame.evaluate("() => Boolean(window.__liveDevice)"):
                        return frame
        page.wait_for_timeout(300)
    return None
