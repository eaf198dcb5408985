#!/bin/sh
# The one command that starts the app: `make run` and the container both call it (tests/test_deploy.py checks).
# PYTHON: the interpreter with the requirements (make run: .venv/bin/python); PORT: the port (8501).
# Extra arguments go to `streamlit run` (the container adds --server.address 0.0.0.0).
set -e
cd "$(dirname "$0")/.."
exec "${PYTHON:-python}" -m streamlit run streamlit_app.py --server.port "${PORT:-8501}" "$@"
