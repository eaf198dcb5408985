# `make run` sets up .venv and starts the app; `make test` sets up .venv and runs the tests.
# `make lint`: ruff (lint, import order, format) and mypy on core/; `make test-fast`: the inner loop (< 60 s).
SHELL := bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt pyproject.toml | sha1sum | cut -c1-12)
PORT ?= 8501

# The Live page's on-device component (JavaScript from npm, exact versions in its lockfile), built when missing or
# stale; without Node the page offers the server mode only.
FRONTEND := ui/live_device/frontend
FRONTEND_STAMP := $(FRONTEND)/dist/.built-$(shell cat $(FRONTEND)/package-lock.json $(FRONTEND)/build.mjs $(FRONTEND)/src/* 2>/dev/null | sha1sum | cut -c1-12)

.PHONY: setup run test test-fast lint format clean-cache frontend

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@echo "installing requirements into $(VENV) (first time: a few minutes)…"
	@set -o pipefail; $(VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt 2>&1 \
		| { grep -v "is ignored: it is neither a file nor a directory" || true; }
	@$(VENV)/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . --config-settings editable_mode=compat
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

setup: $(STAMP)

frontend: $(FRONTEND_STAMP)

$(FRONTEND_STAMP):
	@if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then \
		echo "building the on-device component ($(FRONTEND))…"; \
		cd $(FRONTEND) && npm ci --no-audit --no-fund --loglevel=error && node build.mjs && touch $(notdir $@) && mv $(notdir $@) dist/; \
	else echo "Node is not installed: the Live page offers the server (WebRTC) mode only"; fi

run: $(STAMP) $(FRONTEND_STAMP)
	PYTHON=$(VENV)/bin/python PORT=$(PORT) deploy/serve.sh

test: $(STAMP) $(FRONTEND_STAMP)
	$(VENV)/bin/python -m pytest -n 2 --dist loadgroup

test-fast: $(STAMP)
	$(VENV)/bin/python -m pytest -m "not slow and not e2e" -q

lint: $(STAMP)
	$(VENV)/bin/python -m ruff check .
	$(VENV)/bin/python -m ruff format --check .
	$(VENV)/bin/python -m mypy

format: $(STAMP)
	$(VENV)/bin/python -m ruff check --fix .
	$(VENV)/bin/python -m ruff format .

clean-cache:
	rm -rf $${STUDY_CACHE_DIR:-$${XDG_CACHE_HOME:-$$HOME/.cache}/dl-study}
