"""Every page in a real browser, each on a fresh server whose first request is that page's URL: the page
renders without an exception, and the sidebar shows the navigation and the data sources."""

import os

import pytest

from tests.browser import BROWSER_ARGS, CHROMIUM, LIVE_DEVICE, app_page, live_device_frame, serve_app

pytestmark = pytest.mark.e2e
PAGES = {  # URL path -> a title the page shows
    "": "Letters & Faces",
    "samples": "Original and permuted samples",
    "train": "Train or load models",
    "notmnist_results": "notMNIST results",
    "explain": "What the networks rely on",
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


NAV_TITLES = {  # sidebar link text -> a title the page shows
    "Overview": "Letters & Faces",
    "Samples": "Original and permuted samples",
    "Train or load models": "Train or load models",
    "notMNIST results": "notMNIST results",
    "What they rely on": "What the networks rely on",
    "Compare freeze depths": "Compare freeze depths",
    "Live emotions": "Live emotions",
}
# the on-device component has its detector (or has said why it cannot): no request of it is still in flight
LOADED = "() => window.__liveDevice.detector !== null || document.body.innerText.includes('On the server')"
VARIANTS = {"light": ({"width": 1400, "height": 1000}, "light"), "dark": ({"width": 1400, "height": 1000}, "dark"),
            "phone": ({"width": 390, "height": 844}, "light")}  # fmt: skip


def visit_every_page(browser, url: str, variant: str, shots: str | None) -> list[str]:
    """Open the app, reach every page through the navigation; returns the problems seen on the way."""
    viewport, scheme = VARIANTS[variant]
    page = browser.new_page(viewport=viewport, color_scheme=scheme)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url} {r.failure}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.goto(url)
    page.get_by_role("heading", name=NAV_TITLES["Overview"]).first.wait_for(timeout=60_000)
    for link, title in NAV_TITLES.items():
        nav = page.locator('[data-testid="stSidebarNav"]')
        if not nav.is_visible():  # folded away on a phone after each navigation: open it first
            page.get_by_test_id("stExpandSidebarButton").click()
            nav.wait_for(state="visible", timeout=60_000)
        page.locator('[data-testid="stSidebarNav"] a', has_text=link).first.click()
        page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)
        page.wait_for_timeout(1500)  # the page's charts and frames settle
        if page.locator(LIVE_DEVICE).count():  # the on-device component loads its model: leave once it has
            frame = live_device_frame(page)
            assert frame is not None, "the on-device component did not start"
            frame.wait_for_function(LOADED, timeout=120_000)
        if page.locator('[data-testid="stException"]').count():
            problems.append(f"exception on {link}")
        if shots:
            page.screenshot(path=f"{shots}/{link.replace(' ', '-').lower()}-{variant}.png", full_page=True)
    page.close()
    return problems


def test_every_page_in_light_dark_and_phone_size_without_errors(tmp_path):
    """Every page reached through the navigation, in the light and the dark theme and at a phone's size: it renders,
    shows no exception, logs no console error and no request fails (everything is served by the app, offline).
    With $E2E_SCREENSHOTS set, a screenshot of each goes there."""

    playwright = pytest.importorskip("playwright.sync_api")
    env = {"STUDY_RUNS_DIR": str(tmp_path / "runs"), "HF_HUB_OFFLINE": "1"}
    with serve_app(tmp_path, env) as (url, _), playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
        try:
            problems = {v: visit_every_page(browser, url, v, os.environ.get("E2E_SCREENSHOTS")) for v in VARIANTS}
        finally:
            browser.close()
    assert problems == {v: [] for v in VARIANTS}


def test_the_sidebar_choice_survives_a_reload(tmp_path):
    with app_page(tmp_path, "samples", "Original and permuted samples") as page:
        page.get_by_role("combobox", name="notMNIST data source").click()
        page.get_by_role("option", name="bundled sample").click()
        page.wait_for_url("**notmnist=bundled**", timeout=30_000)
        page.reload()
        page.get_by_role("heading", name="Original and permuted samples").first.wait_for(timeout=60_000)
        page.get_by_text("images from the test split of").first.wait_for(timeout=30_000)
        assert "notmnist=bundled" in page.url  # the choice is in the URL, and the page read it back:
        assert "notmnist_sample" in page.get_by_text("images from the test split of").first.inner_text()


def test_explain_page_maps_every_face_of_an_uploaded_photo_and_refuses_a_broken_one(tmp_path):
    import cv2

    from tests.fake_camera import face_frame

    photo, broken = tmp_path / "astronaut.png", tmp_path / "broken.png"
    cv2.imwrite(str(photo), face_frame())
    broken.write_text("not a picture")
    with app_page(tmp_path, "explain", "What the networks rely on") as page:
        page.get_by_role("tab", name="Faces").click()
        page.get_by_text("Where it looks, per emotion").wait_for(timeout=60_000)
        uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
        uploader.set_input_files(str(photo))
        page.get_by_text("Face 1:").first.wait_for(timeout=60_000)
        assert page.get_by_role("button", name="Download").count() >= 1
        if os.environ.get("E2E_SCREENSHOTS"):
            page.screenshot(path=f"{os.environ['E2E_SCREENSHOTS']}/explain-faces.png", full_page=True)
        uploader.set_input_files(str(broken))
        error = page.locator('[data-testid="stAlertContentError"]').first
        error.wait_for(timeout=60_000)
        assert "broken.png" in error.inner_text() and "\n" not in error.inner_text().strip()
        assert page.locator('[data-testid="stException"]').count() == 0
