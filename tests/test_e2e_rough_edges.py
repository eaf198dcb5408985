"""The rough edges a person hit in ten minutes (issue 28), each tried again in a real browser: one app server for
the module, runs of the person's own in its runs folder, and after every interaction a check that no exception or
traceback reached the page."""

import csv
import io
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.browser import BROWSER_ARGS, CHROMIUM, assert_no_exception, serve_app

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def server(tmp_path_factory, small_checkpoint, notmnist_dir):
    """The app with a runs folder holding: two runs of one configuration at other image limits (limits/a, b),
    the deep CNN alone (deep/), and a run trained last (my-cnn); and a cache with the letters setting's speed."""
    from core.config import Experiment
    from core.engine.probe import training_probe

    tmp = tmp_path_factory.mktemp("rough")
    runs = tmp / "runs"
    for name, limit, day in (("a", 3000, 1), ("b", 1000, 2)):
        shutil.copytree(small_checkpoint[0], runs / "limits" / name)
        meta = runs / "limits" / name / "meta.json"
        record = json.loads(meta.read_text())
        record["config"]["train_limit"], record["created"] = limit, f"2026-01-0{day}T00:00:00"
        meta.write_text(json.dumps(record))
    shutil.copytree(ROOT / "checkpoints" / "beyond" / "notmnist", runs / "deep")
    shutil.copytree(small_checkpoint[0], runs / "my-cnn")
    cache = tmp / "cache"
    env = {"STUDY_RUNS_DIR": str(runs), "STUDY_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"}
    previous = os.environ["STUDY_CACHE_DIR"]  # the tests' own cache (conftest)
    os.environ["STUDY_CACHE_DIR"] = str(cache)
    try:
        training_probe(Experiment(model="cnn", data=str(notmnist_dir)), budget_s=1.0)  # as the page measures it
    finally:
        os.environ["STUDY_CACHE_DIR"] = previous
    with serve_app(tmp, env) as (url, log):
        yield url, log


@pytest.fixture
def page(server):
    playwright = pytest.importorskip("playwright.sync_api")
    url, _ = server
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        tab.base = url
        try:
            yield tab
        finally:
            browser.close()


def open_page(page, path, heading):
    page.goto(f"{page.base}/{path}")
    page.get_by_role("heading", name=heading).first.wait_for(timeout=90_000)
    page.wait_for_timeout(1500)  # the script's run after the heading: its widgets and their values
    assert_no_exception(page, f"opening {path}")


def pick(page, label, option):
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option).first.click()
    page.wait_for_timeout(1500)
    assert_no_exception(page, f"picking {option!r} in {label!r}")


def selected(page, label):
    """What a selectbox shows as chosen (its searchable input's value, or else the box's text)."""
    box = page.get_by_role("combobox", name=label)
    value = box.evaluate("el => el.value ?? ''") if box.count() else ""
    text = page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first.inner_text()
    return value or text.replace(label, "", 1).strip()


def options(page, label):
    page.get_by_role("combobox", name=label).click()
    found = [o.inner_text() for o in page.get_by_role("option").all()]
    page.keyboard.press("Escape")
    return found


def test_results_folders_hold_the_studys_runs_and_name_the_ones_left_out(page):
    open_page(page, "notmnist_results", "notMNIST results")
    folders = options(page, "Results folder")
    assert folders and not any("beyond" in f or "deep" in f for f in folders), folders  # row 2: no IndexError
    pick(page, "Results folder", next(f for f in folders if "limits" in f))
    warning = page.get_by_text("not averaged in").first
    warning.wait_for(timeout=30_000)  # row 7: the run of another setting is named, not merged into "1 seed"
    assert "train_limit 3000 (not 1000)" in warning.inner_text()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").first.click()
    header = next(csv.reader(io.StringIO(download.value.path().read_text())))
    assert len(header) == len(set(header)) and "test ± std (points)" in header  # row 7: distinct columns


def test_results_table_fits_a_laptop(page):
    open_page(page, "notmnist_results", "notMNIST results")
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.wait_for(timeout=30_000)
    scroller = grid.locator(".dvn-scroller").first
    overflow = scroller.evaluate("el => el.scrollWidth - el.clientWidth")
    assert overflow <= 2, f"the table scrolls {overflow} px sideways at 1400 px"  # row 9


def test_mistakes_of_the_face_model_name_emotions(page):
    open_page(page, "explain", "What the networks rely on")
    page.get_by_role("tab", name="Mistakes").click()
    page.get_by_text("notMNIST letters").first.wait_for(timeout=120_000)  # the tab's first run (letters)
    page.get_by_text("FER-2013 emotions").first.click()
    page.get_by_text("test angry images were read as").first.wait_for(timeout=180_000)  # the faces' first cell
    assert_no_exception(page, "choosing FER-2013 in Mistakes")
    true_class = selected(page, "True class")
    assert any(e in true_class for e in ("angry", "disgusted", "fearful", "happy", "neutral", "sad", "surprised"))
    assert "A (" not in true_class  # row 4: the letters' selector is not carried over


def test_letters_are_picked_by_letter_and_a_face_map_keeps_its_size(page, tmp_path):
    import cv2

    from tests.fake_camera import face_frame

    open_page(page, "explain", "What the networks rely on")
    pick(page, "Letter", "C")  # row 8: a letter picker, not a 0-3744 slider
    page.get_by_text("a C.").first.wait_for(timeout=60_000)
    assert page.get_by_role("slider", name="Test image").count() == 0
    photo = tmp_path / "astronaut.png"
    cv2.imwrite(str(photo), face_frame())
    page.get_by_role("tab", name="Faces").click()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(photo))
    page.get_by_text("Face 1:").first.wait_for(timeout=120_000)
    assert_no_exception(page, "uploading a photo on the Faces tab")
    shown = page.locator('[data-testid="stImage"] img').last
    width = shown.evaluate("img => img.getBoundingClientRect().width")
    assert width <= 340, f"one face's map is stretched to {width} px"  # row 8: not full width and pixelated


def test_the_estimate_follows_the_form_and_one_image_is_warned_about(page):
    open_page(page, "train", "Train or load models")
    estimate = page.get_by_text("from Start to results").first
    estimate.wait_for(timeout=60_000)
    assert estimate.inner_text().startswith("10 epoch(s)")
    epochs = page.get_by_label("Epochs")
    epochs.fill("1")
    epochs.press("Enter")
    page.get_by_text("1 epoch(s) on").first.wait_for(timeout=30_000)  # row 5: before Start, not after
    assert_no_exception(page, "setting Epochs to 1")
    limit = page.get_by_label("Use only the first N training images (0 = all)")
    limit.fill("1")
    limit.press("Enter")
    page.get_by_text("Only 1 training image(s)").first.wait_for(timeout=30_000)  # row 10
    assert_no_exception(page, "setting the image limit to 1")
    page.get_by_role("tab", name="Load a model and predict").click()
    page.get_by_role("combobox", name="Model").wait_for(timeout=60_000)
    assert selected(page, "Model").startswith("your runs/my-cnn")  # row 10: the run trained last, no absolute path
    assert str(ROOT.parent) not in " ".join(options(page, "Model"))
