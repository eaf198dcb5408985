"""The app, rendered headless with Streamlit's AppTest: every page, its main widgets, no exceptions."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def app(monkeypatch, tmp_path):
    monkeypatch.setenv("STUDY_RUNS_DIR", str(tmp_path / "runs"))
    return AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)


def open_page(app, page, source):
    # Sidebar values are set on the entry page: AppTest starts every run in Streamlit's legacy multipage
    # mode, so after switch_page its element tree holds the page alone (a real browser shows the sidebar).
    app.run()
    app.sidebar.text_input[0].set_value(str(source))
    app.switch_page(page)
    app.run()
    assert not app.exception, app.exception
    return app


def test_overview(app):
    app.run()
    assert not app.exception
    assert "notMNIST" in app.markdown[0].value
    # the shipped results' headline numbers, on a fresh install
    labels = [m.label for m in app.metric]
    assert labels == ["CNN: original → permuted pixels", "MLP: original → permuted pixels",
                      "Best emotion model (FER-2013 test)"]
    assert "mean of 3 seeds" in app.metric[0].delta


def test_samples_page_shows_original_and_permuted(app, notmnist_dir):
    open_page(app, "pages/samples.py", notmnist_dir)
    assert [s.value for s in app.subheader] == ["Original", "Permuted (seed 0)"]
    app.multiselect[0].set_value(["A", "J"])
    app.slider[0].set_value(3)
    app.number_input[0].set_value(42)
    app.run()
    assert not app.exception
    assert app.subheader[1].value == "Permuted (seed 42)"
    assert "6 images" in app.caption[1].value


def test_samples_page_falls_back_to_the_bundled_sample(app, tmp_path):
    open_page(app, "pages/samples.py", tmp_path / "no-such-folder")
    assert app.warning and "bundled sample" in app.warning[0].value
    assert app.subheader[0].value == "Original"


def test_train_page_form_starts_a_background_run(app, notmnist_dir, tmp_path):
    open_page(app, "pages/train.py", notmnist_dir)
    app.selectbox[0].set_value("mlp")
    epochs = next(w for w in app.number_input if w.label == "Epochs")
    epochs.set_value(1)
    limit = next(w for w in app.number_input if w.label.startswith("Use only"))
    limit.set_value(1000)
    next(b for b in app.button if b.label == "Start training").click()  # the form's submit button
    app.run()
    assert not app.exception
    jobs = list((tmp_path / "runs" / ".jobs").iterdir())
    assert len(jobs) == 1 and "mlp-original" in jobs[0].name


def test_train_page_loads_a_shipped_model(app, notmnist_dir):
    open_page(app, "pages/train.py", notmnist_dir)
    models = app.selectbox[-1]
    assert any("cnn-original" in o for o in models.options)
    models.set_value(next(o for o in models.options if "mlp-permuted" in o))
    next(r for r in app.radio if r.label == "Input").set_value("Upload an image")
    app.run()
    assert not app.exception
    assert "MLP on permuted" in " ".join(c.value for c in app.caption)


def test_results_page_shows_the_two_by_two(app, notmnist_dir):
    open_page(app, "pages/notmnist_results.py", notmnist_dir)
    assert len(app.metric) == 4
    labels = [m.label for m in app.metric]
    assert labels == ["CNN, original", "CNN, permuted", "MLP, original", "MLP, permuted"]
    # the shipped study: every seed of every configuration, summarised as mean ± std
    from core.results import collect_runs

    runs = collect_runs(ROOT / "checkpoints" / "notmnist")
    assert all(" ± " in m.value for m in app.metric)
    assert len(app.dataframe[1].value) == sum(len(r) for r in runs.values()) >= 12
    app.toggle[0].set_value(False)
    app.radio[0].set_value("eval_loss")
    app.run()
    assert not app.exception


def test_freeze_comparison_page_on_a_small_sweep(app, tmp_path, fer_data, fer_dir, imagenet_mobilenet):
    from core.config import Experiment
    from core.sweep import run_sweep
    from tests.conftest import slices

    base = Experiment(task="fer", model="mobilenet_v2", img_size=32, epochs=2, data=str(fer_dir))
    run_sweep(base, tmp_path / "runs" / "sweep-small", rows=["scratch", "layer2", "all"],
              data=slices(fer_data, 200, 64), log=lambda line: None)
    app.run()
    app.switch_page("pages/freeze_comparison.py")
    app.run()
    assert not app.exception, app.exception
    sweep_box = app.selectbox[0]
    sweep_box.set_value(next(o for o in sweep_box.options if "sweep-small" in str(o))).run()
    assert not app.exception
    assert "3 of 6 rows finished" in app.warning[0].value  # a partial sweep: missing rows shown as missing
    table = app.dataframe[0].value
    assert list(table["status"]) == ["complete", "missing", "missing", "complete", "missing", "complete"]
    assert "test =" in app.markdown[0].value
    app.radio[0].set_value("validation").run()
    app.multiselect[0].set_value(["from scratch", "freeze all conv"]).run()
    assert not app.exception
    assert any("Hardest emotions" in m.value for m in app.markdown)


def test_freeze_comparison_opens_on_the_shipped_study_and_says_how_to_fill_missing_rows(app):
    app.run()
    app.switch_page("pages/freeze_comparison.py")
    app.run()
    assert not app.exception, app.exception
    sweep_box = app.selectbox[0]
    assert "sweep-mobilenet_v2-96px-10ep" in str(sweep_box.value)  # the shipped, complete study by default
    assert list(app.dataframe[0].value["status"]) == ["complete"] * 6
    sweep_box.set_value(next(o for o in sweep_box.options if "sweep-resnet18" in str(o))).run()
    assert not app.exception
    assert any("no ImageNet weights" in i.value for i in app.info)
    assert any("python -m core sweep fer --arch resnet18" in c.value for c in app.code)


def test_train_page_fer_form_estimates_epoch_time_and_starts_a_run(app, fer_dir, tmp_path, monkeypatch):
    from core.jobs import cancel_job, list_jobs

    monkeypatch.setenv("FER_DATA", str(fer_dir))
    open_page(app, "pages/train.py", "bundled")
    next(r for r in app.radio if r.label == "Experiment").set_value("FER-2013 emotions").run()
    assert not app.exception
    next(s for s in app.selectbox if s.label == "Backbone").set_value("mobilenet_v2")
    next(s for s in app.select_slider if s.label == "Input size (px)").set_value(48)
    next(n for n in app.number_input if n.label == "Training images (0 = all)").set_value(500)
    next(n for n in app.number_input if n.label == "Epochs").set_value(1)
    app.run()
    estimate = next(c.value for c in app.caption if "per epoch" in c.value)
    assert "Estimated on this machine" in estimate and "images/s" in estimate
    next(b for b in app.button if b.label == "Start training").click().run()
    assert not app.exception
    jobs = list_jobs(tmp_path / "runs" / ".jobs")
    assert len(jobs) == 1 and jobs[0].info["config"]["model"] == "mobilenet_v2"
    assert jobs[0].info["config"]["train_limit"] == 500 and jobs[0].info["config"]["img_size"] == 48
    cancel_job(jobs[0])


def test_webcam_page_renders_with_a_model(app, tmp_path, emotion_checkpoint, monkeypatch):
    import shutil

    # AppTest has no real session for the WebRTC component (Mock has no _session_mgr); render without one.
    monkeypatch.setattr("streamlit_webrtc.component.get_this_session_info", lambda: None)
    shutil.copytree(emotion_checkpoint, tmp_path / "runs" / "fer-small")
    app.run()
    app.switch_page("pages/webcam.py")
    app.run()
    assert not app.exception, app.exception
    assert any("fer-small" in o for o in app.selectbox[0].options)
    assert any("Press START" in i.value for i in app.info)
