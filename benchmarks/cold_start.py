"""Cold start: seconds from `streamlit run streamlit_app.py` to the first rendered page in headless Chromium.

    python benchmarks/cold_start.py [--runs 3] [--path ""] [--json]

Each run starts a fresh server on a free loopback port, opens the page as soon as the health check answers, and
stops the clock when the page's title heading is visible. Prints every run and the median.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.browser import BROWSER_ARGS, CHROMIUM, free_port

ROOT = Path(__file__).resolve().parent.parent

TITLES = {"": "Letters & Faces", "samples": "Original and permuted samples", "train": "Train or load models"}


def one_run(path: str) -> dict:
    from playwright.sync_api import sync_playwright

    port = free_port()
    with tempfile.TemporaryDirectory() as runs, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        started = time.perf_counter()
        command = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
                   "--server.address", "127.0.0.1", "--server.port", str(port)]  # fmt: skip
        server = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "STUDY_RUNS_DIR": runs},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            while True:
                try:
                    if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).read() == b"ok":
                        break
                except OSError:
                    time.sleep(0.05)
            healthy = time.perf_counter() - started
            page.goto(f"http://127.0.0.1:{port}/{path}")
            page.get_by_role("heading", name=TITLES[path]).first.wait_for(timeout=120_000)
            rendered = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(timeout=20)
            browser.close()
    return {"healthy_s": round(healthy, 2), "first_page_s": round(rendered, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--path", default="", choices=list(TITLES), help="the page opened first (default Overview)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    runs = [one_run(args.path) for _ in range(args.runs)]
    result = {"page": args.path or "overview", "runs": runs,
              "median_first_page_s": statistics.median(r["first_page_s"] for r in runs)}  # fmt: skip
    if args.json:
        print(json.dumps(result))
        return
    for i, r in enumerate(runs, 1):
        print(
            f"run {i}: health check after {r['healthy_s']:.2f} s, first page rendered after {r['first_page_s']:.2f} s"
        )
    print(f"median: {result['median_first_page_s']:.2f} s")


if __name__ == "__main__":
    main()
