"""The app, rendered headless with Streamlit's AppTest: every page, its main widgets, no exceptions."""

import time
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
    # local folders are offered by their resolved path (the data roots are resolved; ../shared may be a link)
    value = str(Path(source).resolve()) if Path(str(source)).exists() else str(source)
    app.selectbox(key="notmnist_source").set_value(value)
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
    assert labels == [
        "CNN: original → permuted pixels",
        "MLP: original → permuted pixels",
        "Webcam emotion model: agrees with people (test)",
    ]
    assert "mean of 3 seeds" in app.metric[0].delta
    # the webcam default, trained on the FER+ votes, by its agreement with the ten annotators
    from core.runs.index import webcam_default

    default = webcam_default(ROOT / "checkpoints")
    assert default is not None and default.config.labels == "ferplus-votes"
    assert app.metric[2].value == f"{default.test.ferplus['majority_accuracy']:.1%}"
    assert "vs FER-2013-label training" in app.metric[2].delta


def test_samples_page_shows_original_and_permuted(app, notmnist_dir):
    open_page(app, "app_pages/samples.py", notmnist_dir)
    assert [s.value for s in app.subheader] == ["Original", "Permuted (seed 0)"]
    app.multiselect(key="samples_letters").set_value(["A", "J"])
    app.slider(key="samples_per_letter").set_value(3)
    app.number_input(key="samples_seed").set_value(42)
    app.run()
    assert not app.exception
    assert app.subheader[1].value == "Permuted (seed 42)"
    assert "6 images" in app.caption[1].value


def test_samples_page_falls_back_to_the_bundled_sample(app, tmp_path):
    open_page(app, "app_pages/samples.py", "anubhavmaity/notMNIST")  # offline here: the hub does not answer
    assert app.warning and "bundled sample" in app.warning[0].value
    assert app.subheader[0].value == "Original"


def test_train_page_form_starts_a_background_run(app, notmnist_dir, tmp_path):
    open_page(app, "app_pages/train.py", notmnist_dir)
    app.selectbox(key="letters_model").set_value("mlp")
    app.number_input(key="letters_epochs").set_value(1)
    app.number_input(key="letters_limit").set_value(1000)
    app.button(key="letters_start").click()
    app.run()
    assert not app.exception
    from core.jobs import cancel_job, list_jobs

    jobs = list_jobs(tmp_path / "runs" / ".jobs")
    assert len(jobs) == 1 and "mlp-original" in jobs[0].name
    cancel_job(jobs[0])


def test_train_page_loads_a_shipped_model(app, notmnist_dir):
    open_page(app, "app_pages/train.py", notmnist_dir)
    models = app.selectbox(key="predict_model")
    assert any("cnn-original" in o for o in models.options)
    models.set_value(next(o for o in models.options if "mlp-permuted" in o))
    app.radio(key="predict_input").set_value("Upload an image")
    app.run()
    assert not app.exception
    assert "MLP on permuted" in " ".join(c.value for c in app.caption)


def test_the_model_just_trained_is_the_default_and_named_as_yours(app, notmnist_dir, small_checkpoint, tmp_path):
    import shutil

    shutil.copytree(small_checkpoint[0], tmp_path / "runs" / "my-cnn")  # a run the app trained (STUDY_RUNS_DIR)
    open_page(app, "app_pages/train.py", notmnist_dir)
    models = app.selectbox(key="predict_model")
    assert models.value.startswith("your runs/my-cnn") and str(tmp_path) not in " ".join(models.options)
    assert any(o.startswith("notmnist/") for o in models.options)  # the shipped runs after it


def test_results_page_offers_no_folder_without_the_studys_runs(app, notmnist_dir, tmp_path):
    import shutil

    shutil.copytree(ROOT / "checkpoints" / "beyond" / "notmnist", tmp_path / "runs" / "deep")  # beyond-only runs
    open_page(app, "app_pages/notmnist_results.py", notmnist_dir)
    folders = app.selectbox(key="results_folder").options
    assert not any("beyond" in f or "deep" in f for f in folders) and not app.exception


def test_results_page_names_runs_of_another_setting(app, notmnist_dir, small_checkpoint, tmp_path):
    import json
    import shutil

    for name, limit in (("a", 3000), ("b", 1000)):
        shutil.copytree(small_checkpoint[0], tmp_path / "runs" / name)
        meta = tmp_path / "runs" / name / "meta.json"
        record = json.loads(meta.read_text())
        record["config"]["train_limit"] = limit
        record["created"] = f"2026-01-0{1 + (name == 'b')}T00:00:00"
        meta.write_text(json.dumps(record))
    open_page(app, "app_pages/notmnist_results.py", notmnist_dir)
    app.selectbox(key="results_folder").set_value(next(f for f in app.selectbox(key="results_folder").options
                                                       if "runs" in str(f))).run()  # fmt: skip
    assert not app.exception
    warning = next(w.value for w in app.warning if "not averaged in" in w.value)
    assert "`a`: train_limit 3000 (not 1000)" in warning


def test_results_page_shows_the_two_by_two(app, notmnist_dir):
    open_page(app, "app_pages/notmnist_results.py", notmnist_dir)
    labels = [m.label for m in app.metric]
    assert labels[:4] == ["CNN, original", "CNN, permuted", "MLP, original", "MLP, permuted"]
    # and the model beyond the study, beside them, with its own figure (not one of the 2x2's seeds)
    from core.runs.record import read_record

    beyond = read_record(ROOT / "checkpoints" / "beyond" / "notmnist" / "deep_cnn-original-s0")
    assert labels[4:] == ["Deep CNN (beyond the study)"]
    assert app.metric[4].value == f"{beyond.test.accuracy:.1%}" and "vs the study's CNN" in app.metric[4].delta
    # the shipped study: every seed of every configuration, summarised as mean ± std
    from core.study.notmnist_summary import collect_runs

    runs = collect_runs(ROOT / "checkpoints" / "notmnist")
    assert all(" ± " in m.value for m in app.metric[:4])
    assert len(app.dataframe[1].value) == sum(len(r) for r in runs.values()) >= 12
    app.toggle(key="results_every_seed").set_value(True)
    app.radio(key="results_curve").set_value("eval_loss")
    app.run()
    assert not app.exception


@pytest.mark.slow
def test_freeze_comparison_page_on_a_small_sweep(app, tmp_path, fer_data, fer_dir, imagenet_mobilenet):
    from core.config import Experiment
    from core.study.sweep import run_sweep
    from tests.conftest import slices

    base = Experiment(task="fer", model="mobilenet_v2", img_size=32, epochs=1, data=str(fer_dir))
    run_sweep(
        base, tmp_path / "runs" / "sweep-small", rows=["scratch", "layer2", "all"], data=slices(fer_data, 200, 64)
    )
    app.run()
    app.switch_page("app_pages/freeze_comparison.py")
    app.run()
    assert not app.exception, app.exception
    sweep_box = app.selectbox(key="sweep_folder")
    sweep_box.set_value(next(o for o in sweep_box.options if "sweep-small" in str(o))).run()
    assert not app.exception
    assert "3 of 6 rows finished" in app.warning[0].value  # a partial sweep: missing rows shown as missing
    table = app.dataframe[0].value
    assert list(table["status"]) == ["complete", "missing", "missing", "complete", "missing", "complete"]
    assert "test =" in app.markdown[0].value
    app.radio(key="sweep_bars").set_value("validation").run()
    app.multiselect(key="sweep_confusion_rows").set_value(["from scratch", "freeze all conv"]).run()
    assert not app.exception
    assert any("Hardest emotions" in m.value for m in app.markdown)


def test_freeze_comparison_opens_on_the_shipped_study_and_says_how_to_fill_missing_rows(app):
    app.run()
    app.switch_page("app_pages/freeze_comparison.py")
    app.run()
    assert not app.exception, app.exception
    sweep_box = app.selectbox(key="sweep_folder")
    assert "sweep-mobilenet_v2-96px-10ep" in str(sweep_box.value)  # the shipped, complete study by default
    table = app.dataframe[0].value
    assert list(table["status"]) == ["complete"] * 6
    assert table["study (test)"][1] == "—" and table["test [95% CI]"][1] == "69.3% [67.6, 70.9]"  # missing: "—"
    consensus = table["FER+ majority (test)"]
    assert consensus[1].startswith("67.3 %") and consensus[0] == "not recomputed"
    assert (
        table["test, unseen in train"][1].startswith("67.5 %") and table["test, unseen in train"][0] == "not recomputed"
    )
    # the model beyond the study beside the rows: its one-crop test accuracy, and its augmented figures on hover
    from core.runs.record import read_record

    beyond = read_record(ROOT / "checkpoints" / "beyond" / "fer" / "mobilenet_v2-tuned-96px-s0")
    labels = ["one crop (test)", "flip-averaged", "ten-crop", "as the app"]
    from ui.runs import beyond_runs

    shown = [r.name for r in beyond_runs("fer")]  # the FER-2013-label model, then the FER+ vote models
    assert len(shown) >= 2 and [m.label for m in app.metric] == labels * len(shown)
    assert app.metric[0].value == f"{beyond.test.accuracy:.1%}" and "vs the best row" in app.metric[0].delta
    ten_crop = beyond.test_time_augmentation["test"]["ten-crop"]["accuracy"]
    assert app.metric[2].value == f"{ten_crop:.1%}" and not app.metric[2].delta
    # the vote model on its own terms: FER+ majority accuracy, against the rows' best FER+ majority
    votes = read_record(ROOT / "checkpoints" / "beyond" / "fer" / "mobilenet_v2-tuned-ferplus-votes-96px-s0")
    assert app.metric[4].value == f"{votes.test.ferplus['majority_accuracy']:.1%}"
    assert "vs the best row" in app.metric[4].delta and app.metric[4].delta.startswith("+")
    sweep_box.set_value(next(o for o in sweep_box.options if "sweep-resnet18" in str(o))).run()
    assert not app.exception
    assert any("no ImageNet weights" in i.value for i in app.info)
    assert any("python -m core sweep fer --arch resnet18" in c.value for c in app.code)


@pytest.mark.slow
def test_train_page_fer_form_estimates_epoch_time_and_starts_a_run(app, fer_dir, tmp_path, monkeypatch):
    from core.config import Experiment
    from core.engine.probe import cached_training_probe
    from core.jobs import cancel_job, list_jobs

    monkeypatch.setenv("STUDY_CACHE_DIR", str(tmp_path / "cache"))  # no probe cached yet
    monkeypatch.setenv("FER_DATA", str(fer_dir))
    open_page(app, "app_pages/train.py", "bundled")
    app.radio(key="train_task").set_value("FER-2013 emotions").run()
    assert not app.exception
    app.selectbox(key="fer_arch").set_value("mobilenet_v2")
    app.select_slider(key="fer_img_size").set_value(48)
    app.number_input(key="fer_limit").set_value(500)
    app.number_input(key="fer_epochs").set_value(1)
    app.run()
    # The first time a setting is seen, its speed is measured in a background process (the page never waits).
    assert any("Measuring the training speed" in c.value for c in app.caption)
    deadline = time.time() + 300  # a shared, busy machine: the probe waits its turn
    while cached_training_probe(Experiment(task="fer", model="mobilenet_v2", img_size=48)) is None:
        assert time.time() < deadline, "the background probe did not finish"
        time.sleep(1)
    app.run()
    estimate = next(c.value for c in app.caption if "per epoch" in c.value)
    assert "1 epoch(s) on 500 images" in estimate and "from Start to results" in estimate
    app.button(key="fer_start").click().run()
    assert not app.exception
    jobs = list_jobs(tmp_path / "runs" / ".jobs")
    assert len(jobs) == 1 and jobs[0].info["config"]["model"] == "mobilenet_v2"
    assert jobs[0].info["config"]["train_limit"] == 500 and jobs[0].info["config"]["img_size"] == 48
    cancel_job(jobs[0])


@pytest.mark.slow
def test_webcam_page_renders_with_a_model(app, tmp_path, emotion_checkpoint, monkeypatch):
    import shutil

    # AppTest has no real session for the WebRTC component (Mock has no _session_mgr); render without one.
    monkeypatch.setattr("streamlit_webrtc.component.get_this_session_info", lambda: None)
    shutil.copytree(emotion_checkpoint, tmp_path / "runs" / "fer-small")
    app.run()
    app.switch_page("app_pages/webcam.py")
    app.session_state["webcam_where"] = SERVER_MODE
    app.run()
    assert not app.exception, app.exception
    assert any("fer-small" in o for o in app.selectbox(key="webcam_model_choice").options)
    assert any("Press START" in i.value for i in app.info)
    # Results a stopped stream left in the queue are dropped, so the next START cannot show them as its faces.
    session = app.session_state["webcam_live"]  # the page's state in one object (ui.webcam_video.LiveSession)
    session.results.put({"time": 0.0, "fps": 9.0, "ms": 5.0, "faces": []})
    session.last = {"time": 0.0}
    app.run()
    assert session.results.empty() and session.last is None


SERVER_MODE = "On the server (WebRTC)"


def test_the_live_page_reads_on_the_device_by_default_and_on_the_server_where_it_cannot(app, tmp_path, monkeypatch):
    """On this device is the default where the component is built; a browser without WebAssembly (the component
    says so) and a server without the build (no Node) get the server's WebRTC mode, with the reason in one line."""
    import ui.webcam_on_device

    monkeypatch.setattr("streamlit_webrtc.component.get_this_session_info", lambda: None)
    built = (ui.webcam_on_device.DIST / "bundle.js").is_file()
    app.run()
    app.switch_page("app_pages/webcam.py")
    app.run()
    assert not app.exception, app.exception
    where = app.radio(key="webcam_where")
    if built:
        assert where.value == "On this device" and list(where.options) == ["On this device", SERVER_MODE]
        assert not any("Press START" in i.value for i in app.info)  # no WebRTC component
    # the component reported a browser without WebAssembly: the server mode, and why
    app.session_state["webcam_on_device_unsupported"] = "This browser cannot run WebAssembly."
    app.run()
    assert not app.exception and app.radio(key="webcam_where").value == SERVER_MODE
    assert list(app.radio(key="webcam_where").options) == [SERVER_MODE]
    assert any("cannot run WebAssembly" in c.value for c in app.caption)
    # a server where the component is not built
    del app.session_state["webcam_on_device_unsupported"]
    monkeypatch.setattr(ui.webcam_on_device, "DIST", tmp_path / "not-built")
    app.run()
    assert not app.exception and list(app.radio(key="webcam_where").options) == [SERVER_MODE]
    assert any("not built on this server" in c.value for c in app.caption)


def _stop_race() -> None:
    """streamlit-webrtc 0.72.0's own SessionShutdownObserver.stop(), its thread cleared by another stop() while
    it joins: the AttributeError the Live page saw under load."""
    import threading

    from streamlit_webrtc.shutdown import SessionShutdownObserver

    observer = SessionShutdownObserver(lambda: None)

    class ClearedWhileJoined(threading.Thread):
        def join(self, timeout=None):
            observer._polling_thread = None

    observer._polling_thread = ClearedWhileJoined()
    observer.stop()


def test_the_webcam_page_runs_again_when_streamlit_webrtc_stop_races_itself(app, tmp_path, emotion_checkpoint,
                                                                           monkeypatch):  # fmt: skip
    import shutil

    import streamlit_webrtc

    monkeypatch.setattr("streamlit_webrtc.component.get_this_session_info", lambda: None)
    monkeypatch.setattr("streamlit_webrtc.shutdown.get_this_session_info", lambda: None)
    real, calls = streamlit_webrtc.webrtc_streamer, []

    def racing(times):
        def streamer(*args, **kwargs):
            calls.append(1)
            if len(calls) <= times:
                _stop_race()
            return real(*args, **kwargs)

        return streamer

    monkeypatch.setattr(streamlit_webrtc, "webrtc_streamer", racing(1))
    shutil.copytree(emotion_checkpoint, tmp_path / "runs" / "fer-small")
    app.run()
    app.switch_page("app_pages/webcam.py")
    app.session_state["webcam_where"] = SERVER_MODE
    app.run()
    assert not app.exception, app.exception
    assert len(calls) == 2 and any("Press START" in i.value for i in app.info) and not app.error
    # a race on every run: two more tries, then one line, not a page rerunning for ever
    calls.clear()
    monkeypatch.setattr(streamlit_webrtc, "webrtc_streamer", racing(100))
    app.run()
    assert not app.exception and len(calls) == 3
    assert [e.value for e in app.error] == [
        "The video connection could not be closed cleanly; reload the page to start again."
    ]
    # any other AttributeError is a bug, and shows as one
    monkeypatch.setattr(streamlit_webrtc, "webrtc_streamer", lambda *a, **k: None.playing)
    app.run()
    assert app.exception


@pytest.mark.parametrize("page", ["app_pages/train.py", "app_pages/notmnist_results.py", "app_pages/webcam.py"])
def test_a_malformed_run_in_the_runs_folder_breaks_no_page(app, tmp_path, page, monkeypatch):
    import json
    import shutil

    monkeypatch.setattr("streamlit_webrtc.component.get_this_session_info", lambda: None)
    folder = tmp_path / "runs" / "bad"
    shutil.copytree(ROOT / "checkpoints" / "notmnist" / "cnn-original-s1", folder)  # one with weights
    meta = json.loads((folder / "meta.json").read_text())
    meta["preprocessing"] = "not an object"
    (folder / "meta.json").write_text(json.dumps(meta))
    app.run()
    app.switch_page(page)
    app.run()
    assert not app.exception, app.exception
    assert any("Skipped" in w.value and "'preprocessing'" in w.value for w in app.warning), [
        w.value for w in app.warning
    ]


def test_train_form_values_survive_a_reload_and_a_bad_address_value_is_refused(app):
    app.query_params.update({"train_task": "FER-2013 emotions", "fer_epochs": "5", "fer_img_size": "48"})
    open_page(app, "app_pages/train.py", "bundled")
    assert app.radio(key="train_task").value == "FER-2013 emotions"
    assert app.number_input(key="fer_epochs").value == 5 and app.select_slider(key="fer_img_size").value == 48
    app.number_input(key="fer_epochs").set_value(7).run()
    assert app.query_params["fer_epochs"] in ("7", ["7"])  # a reload opens this address, so the form comes back
    app.select_slider(key="fer_img_size").set_value(96).run()  # back to the default: out of the address
    assert "fer_img_size" not in app.query_params

    fresh = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    fresh.query_params.update({"train_task": "FER-2013 emotions", "fer_epochs": "many", "fer_batch": "3"})
    open_page(fresh, "app_pages/train.py", "bundled")
    refused = [w.value for w in fresh.warning if "Ignored from the address" in w.value]
    assert refused == ["Ignored from the address (not an allowed value): `fer_epochs=many`, `fer_batch=3`."]
    assert fresh.number_input(key="fer_epochs").value == 10 and fresh.select_slider(key="fer_batch").value == 64
