"""Every page in a real browser, each on a fresh server whose first request is that page's URL: the page
renders without an exception, and the sidebar shows the navigation and the data sources."""

import pytest

from tests.browser import BROWSER_ARGS, CHROMIUM, serve_app

pytestmark = pytest.mark.e2e
PAGES = {  # URL path -> a title the page shows
    "": "Letters & Faces",
    "samples": "Original and permuted samples",
    "train": "Train or load models",
    "notmnist_results": "notMNIST results",
    "freeze_comparison": "Compare freeze depths",
    "webcam": "Live emotions",
}


@pytest.mark.parametrize("path", ["notmnist_results", "webcam"])
def test_first_request_to_a_page_url_shows_the_navigation(tmp_path, path):
    playwright = pytest.importorskip("playwright.sync_api")
    with serve_app(tmp_path, {"STUDY_RUNS_DIR": str(tmp_path / "runs"), "NOTMNIST_DATA": "bundled"}) as (url, log):
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"{url}/{path}")
                page.get_by_role("heading", name=PAGES[path]).first.wait_for(timeout=60_000)
                nav = page.locator('[data-testid="stSidebarNav"] a')
                nav.first.wait_for(timeout=30_000)
                assert nav.count() == len(PAGES), log.read_text()[-2000:]
                page.get_by_role("combobox", name="notMNIST data source").wait_for(
                    timeout=30_000
                )  # the sidebar is there too
                assert page.locator('[data-testid="stException"]').count() == 0
            finally:
                browser.close()
