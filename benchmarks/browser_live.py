"""The Live page's two modes side by side, in one run, with N viewers at once: headless Chromium (Debian's) whose
fake camera plays a real face at 30 frames/s, the app served on a loopback port, each viewer a browser context
of its own (a session of its own on the server).

- on this device: the page's component reads the faces in the browser; frames/s and the time of every frame
  come from the component (window.__liveDevice);
- on the server (WebRTC): frames stream to the server, which reads them; frames/s and ms per frame are the ones
  the page shows (sampled every 0.5 s).

For each mode: frames/s of each viewer over the measured window, the 95th percentile of ms per frame, the
server's CPU seconds per viewer-minute (the app's process, from /proc, over the same window), and then, the
viewers still streaming, how long a rerun of the Overview page takes for another visitor (the slowest of three).
The browser shares this machine's cores with the server, so browser figures are a floor.

    .venv/bin/python benchmarks/browser_live.py                       # one viewer
    .venv/bin/python benchmarks/browser_live.py --viewers 4 --json    # four at once

JSON: {viewers, seconds, on_device: {fps_per_viewer, p95_ms, server_cpu_seconds_per_viewer_minute,
page_rerun_s, server_cores, browser_cores, stages_per_viewer}, server: {...}} with fps_per_viewer a list, one per
viewer; server_cores and browser_cores (by Chromium process type) are CPU seconds per second over the window, and
stages_per_viewer the mean ms per frame of each stage of the on-device pipeline.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

from tests.browser import BROWSER_ARGS, CHROMIUM, live_device_frame
from tests.fake_camera import write_y4m

ROOT = Path(__file__).resolve().parent.parent

ON_DEVICE, ON_SERVER = "On this device", "On the server (WebRTC)"
WEBRTC_FRAME = 'iframe[title="streamlit_webrtc.component.webrtc_streamer"]'
SERVER_RATE = re.compile(r"([\d.]+) frames/s · (\d+) ms per frame")
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (/proc/PID/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def chromium_cpu() -> dict[str, float]:
    """CPU seconds so far of every Chromium process on this machine, by its --type (browser, renderer, gpu-process,
    utility), where the time of the viewers' pages goes."""
    out: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # (Chromium rewrites its children's command lines as one string: split on spaces too)
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").split()
            if not cmdline or b"chrom" not in Path(cmdline[0].decode(errors="replace")).name.encode():
                continue
            kind = next((a.split(b"=", 1)[1].decode() for a in cmdline if a.startswith(b"--type=")), "browser")
            out[kind] = out.get(kind, 0.0) + cpu_seconds(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue  # a process that ended meanwhile
    return out


# a viewer's frames read so far and its stage times, in one call
READOUT = "() => ({processed: window.__liveDevice.processed, ...window.__liveDevice.timing})"


def stage_means(before: dict, after: dict) -> dict[str, float]:
    """Mean ms per frame of each stage over the window (core: capture and locate on the page's thread, the model
    in its worker; model_wait: from the faces sent to the worker until their reading is back)."""
    frames = max(1, after["frames"] - before["frames"])
    return {
        "capture_ms": round((after["capture"] - before["capture"]) / frames, 1),
        "locate_ms": round((after["locate"] - before["locate"]) / frames, 1),
        "model_ms": round((after.get("inModel", 0) - before.get("inModel", 0)) / frames, 1),
        "model_wait_ms": round((after["model"] - before["model"]) / frames, 1),
        "camera_frames": after.get("presented", 0) - before.get("presented", 0),
        "read_frames": after["frames"] - before["frames"],
    }


def serve(folder: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "STUDY_RUNS_DIR": str(folder / "runs")}
    command = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
               "--server.address", "127.0.0.1", "--server.port", str(port)]  # fmt: skip
    log = open(folder / "server.log", "w")  # noqa: SIM115  (closed with the process)
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    sys.exit("the app did not start in 90 s; see " + str(folder / "server.log"))


def device_frame(page):
    frame = live_device_frame(page, seconds=180)
    if frame is None:
        raise SystemExit("the on-device component did not load")
    return frame


def start_viewer(context, url: str, mode: str):
    page = context.new_page()
    page.goto(f"{url}/webcam")
    page.get_by_role("radio", name=mode).wait_for(timeout=180_000)
    if mode == ON_DEVICE:
        frame = device_frame(page)
        frame.locator("#start:not([disabled])").wait_for(timeout=180_000)
        frame.locator("#start").click()
        frame.wait_for_function("() => (window.__liveDevice.processed || 0) > 5", timeout=120_000)
        return page, frame
    page.get_by_text(mode, exact=True).click()
    page.frame_locator(WEBRTC_FRAME).get_by_role("button", name="START").click(timeout=180_000)
    page.get_by_text(SERVER_RATE).first.wait_for(timeout=120_000)
    return page, None


def rerun_seconds(browser, url: str, tries: int = 3) -> float:
    """Another visitor on the Overview page reruns it (Streamlit's R key): seconds from the key to the last message
    of the run (the page streams nothing else); the slowest of `tries`."""
    page = browser.new_context().new_page()
    received: list[float] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda _: received.append(time.time())))
    page.goto(url)
    page.get_by_role("heading").first.wait_for(timeout=120_000)
    page.wait_for_timeout(3000)
    slowest = 0.0
    for _ in range(tries):
        received.clear()
        pressed = time.time()
        page.locator("body").press("r")
        page.wait_for_timeout(4000)  # a run far longer than this would show as 4 s
        if not received:
            raise SystemExit("the R key reran nothing")
        slowest = max(slowest, received[-1] - pressed)
    page.context.close()
    return slowest


def measure(browsers: list, url: str, server_pid: int, mode: str, seconds: float) -> dict:
    viewers = len(browsers)
    contexts = [browser.new_context(permissions=["camera"]) for browser in browsers]
    try:
        started = [start_viewer(c, url, mode) for c in contexts]
        time.sleep(3)  # every viewer streaming for a while
        cpu0, t0, browser0 = cpu_seconds(server_pid), time.time(), chromium_cpu()
        times: list[list[float]] = [[] for _ in started]
        rates: list[list[float]] = [[] for _ in started]
        server_ms: list[float] = []
        readouts0 = [frame.evaluate(READOUT) if frame else None for _, frame in started]
        seen: list[set] = [set() for _ in started]
        while time.time() - t0 < seconds:
            for i, (page, frame) in enumerate(started):
                if frame:  # every frame's time, from the component's last two seconds
                    for at, ms in frame.evaluate("() => window.__liveDevice.frames.map((f) => [f.at, f.ms])"):
                        if at not in seen[i]:
                            seen[i].add(at)
                            times[i].append(ms)
                else:
                    status = page.locator('[data-testid="stMarkdownContainer"]').filter(has_text=SERVER_RATE)
                    match = SERVER_RATE.search(status.first.inner_text(timeout=5_000)) if status.count() else None
                    if match:
                        rates[i].append(float(match.group(1)))
                        server_ms.append(float(match.group(2)))
            time.sleep(0.5)
        elapsed, cpu = time.time() - t0, cpu_seconds(server_pid) - cpu0
        browser_cores = {k: round((v - browser0.get(k, 0.0)) / elapsed, 2) for k, v in chromium_cpu().items()}
        # the frames read in the window, counted at its end (the rerun below goes on streaming)
        readouts = [frame.evaluate(READOUT) if frame else None for _, frame in started]
        stages = [stage_means(r0, r) for r0, r in zip(readouts0, readouts) if r0 is not None and r is not None]
        # then, the viewers still streaming, another visitor's page (its own CPU is not in the figure above)
        rerun = rerun_seconds(browsers[0], url)
        if mode == ON_DEVICE:
            fps = [(r["processed"] - r0["processed"]) / elapsed for r, r0 in zip(readouts, readouts0) if r and r0]
            every = [ms for per_viewer in times for ms in per_viewer]
        else:
            fps = [float(np.median(r)) if r else 0.0 for r in rates]
            every = server_ms
    finally:
        for context in contexts:
            context.close()
    return {
        "fps_per_viewer": [round(f, 1) for f in fps],
        "p95_ms": round(float(np.percentile(every, 95)), 1) if every else None,
        "server_cpu_seconds_per_viewer_minute": round(cpu / viewers / (elapsed / 60), 2),
        "page_rerun_s": round(rerun, 2),
        "server_cores": round(cpu / elapsed, 2),
        "browser_cores": browser_cores,  # CPU seconds per second of each kind of Chromium process over the window
        **({"stages_per_viewer": stages} if stages else {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", type=int, default=1, help="viewers at once (default 1)")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window per mode (default 20)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--one-browser", action="store_true",
                        help="every viewer a context of one browser (default: a browser each)")  # fmt: skip
    args = parser.parse_args()
    if args.viewers < 1 or args.seconds <= 0:
        parser.error("--viewers must be at least 1 and --seconds above 0")
    if not Path(CHROMIUM).exists():
        sys.exit("Chromium is not installed (apt-get install -y chromium)")
    if not (ROOT / "ui/live_device/frontend/dist/bundle.js").is_file():
        sys.exit("the on-device component is not built: make frontend")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        video = write_y4m(folder / "face.y4m", fps=30)
        camera = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                  f"--use-file-for-fake-video-capture={video}"]  # fmt: skip
        proc, url = serve(folder)
        results: dict = {"viewers": args.viewers, "seconds": args.seconds}
        try:
            with sync_playwright() as p:
                # a browser each, as each visitor has (the viewers of one browser share its camera and compositor)
                shared = 1 if args.one_browser else args.viewers
                browsers = [p.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS + camera)
                            for _ in range(shared)]  # fmt: skip
                browsers = [browsers[i % shared] for i in range(args.viewers)]
                for key, mode in (("on_device", ON_DEVICE), ("server", ON_SERVER)):
                    results[key] = measure(browsers, url, proc.pid, mode, args.seconds)
                    if not args.json:
                        print(f"{mode}: {results[key]}", flush=True)
                for browser in set(browsers):
                    browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
