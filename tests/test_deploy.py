"""The deployment kit (deploy/): what can be checked without building an image (no base images can be pulled
here): the files parse, the container starts the app with the same command as `make run`, the TURN settings of
the compose file reach the Live page's ICE configuration, and a malformed ICE setting is one line."""

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.browser import free_port

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
ENV = {"DOMAIN": "faces.example.org", "TURN_USER": "faces", "TURN_PASSWORD": "s3cret"}


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ${VAR} and ${VAR:-default} (nested defaults too), as `docker compose config` expands them."""
    pattern = re.compile(r"\$\{(\w+)(?::-([^${}]*))?\}")
    while pattern.search(text):
        text = pattern.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), text)
    return text


def compose() -> dict:
    return yaml.safe_load(interpolate((DEPLOY / "compose.yaml").read_text(), ENV))


def test_the_compose_file_parses_and_wires_the_app_the_proxy_and_turn():
    services = compose()["services"]
    assert set(services) == {"app", "proxy", "turn"}
    assert services["app"]["build"]["dockerfile"] == "deploy/Dockerfile"
    turn = services["turn"]["command"]
    assert "--user=faces:s3cret" in turn and "--realm=faces.example.org" in turn
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in services["proxy"]["volumes"]
    assert "reverse_proxy app:8501" in (DEPLOY / "Caddyfile").read_text()


def test_the_container_and_make_run_start_the_app_with_one_command():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    command = json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1))
    assert command[0] == "deploy/serve.sh"
    assert re.search(r"^run:.*\n\t.*deploy/serve\.sh$", (ROOT / "Makefile").read_text(), re.M)
    assert "_stcore/health" in dockerfile and re.search(r"^USER app$", dockerfile, re.M)
    # and the script does start the app
    port = free_port()
    env = {**os.environ, "PYTHON": sys.executable, "PORT": str(port), "STUDY_RUNS_DIR": "/nonexistent-runs"}
    proc = subprocess.Popen([str(DEPLOY / "serve.sh"), "--server.headless", "true", "--server.address", "127.0.0.1"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline, healthy = time.time() + 60, False
        while time.time() < deadline and not healthy:
            try:
                healthy = urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read() == b"ok"
            except OSError:
                time.sleep(0.5)
        assert healthy, "deploy/serve.sh did not start the app"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_the_space_card_is_a_docker_space_on_the_apps_port():
    from huggingface_hub import SpaceCard

    card = SpaceCard((DEPLOY / "space.md").read_text())
    assert card.data.sdk == "docker" and card.data.app_port == 8501
    assert "PORT:-8501" in (DEPLOY / "serve.sh").read_text()


def test_the_compose_turn_settings_reach_the_live_pages_ice_configuration(monkeypatch, tmp_path):
    import streamlit_webrtc
    from streamlit.testing.v1 import AppTest

    ice = compose()["services"]["app"]["environment"]["WEBRTC_ICE_SERVERS"]
    monkeypatch.setenv("WEBRTC_ICE_SERVERS", ice)
    monkeypatch.setenv("STUDY_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setattr("streamlit_webrtc.component.get_this_session_info", lambda: None)
    seen = []
    real = streamlit_webrtc.webrtc_streamer

    def streamer(*args, **kwargs):
        seen.append(kwargs.get("rtc_configuration"))
        return real(*args, **kwargs)

    monkeypatch.setattr(streamlit_webrtc, "webrtc_streamer", streamer)
    app = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    app.run()
    app.switch_page("app_pages/webcam.py")
    app.session_state["webcam_where"] = "On the server (WebRTC)"
    app.run()
    assert not app.exception, app.exception
    expected = [{"urls": ["turn:faces.example.org:3478"], "username": "faces", "credential": "s3cret"}]
    assert seen and seen[-1] == {"iceServers": expected}


@pytest.mark.parametrize("setting", ['{"urls": ["turn:a:3478"]}', '[{"username": "u"}]', '[{"urls": []}]', "[3]"])
def test_a_malformed_ice_setting_is_one_warning_and_no_servers(setting, monkeypatch, caplog):
    from ui.webcam_video import rtc_configuration

    monkeypatch.setenv("WEBRTC_ICE_SERVERS", setting)
    assert rtc_configuration() == {"iceServers": []}
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and r.name == "ui.webcam_video"]
    assert len(warnings) == 1 and "\n" not in warnings[0]
