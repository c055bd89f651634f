# Plume — two commands: `make run` and `make test`. Everything they need is installed here.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
UV := $(VENV)/bin/uv
PLUME := $(VENV)/bin/plume
UV_VERSION := 0.13.9

# uv must copy files: nltk (under llama-index) refuses hard-linked data files.
export UV_LINK_MODE := copy
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
export DO_NOT_TRACK := true

.PHONY: run install dev corpus ingest serve test lint bench lock clean

run: install corpus ingest serve ## set up, fetch and index the default corpus, serve on :8000

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

install: $(UV) ## runtime dependencies, exactly as locked
	$(UV) sync --frozen --inexact --no-dev --compile-bytecode --quiet

dev: $(UV) ## runtime + test and lint tools
	$(UV) sync --frozen --inexact --compile-bytecode --quiet

corpus: ## fetch the pinned packages (integrity checked)
	$(PLUME) corpus fetch

ingest: ## index the default corpora (fiches, then the four codes) when not yet indexed
	$(PLUME) ingest service-public --if-empty || [ $$? -eq 3 ]
	$(PLUME) ingest legi --if-empty || [ $$? -eq 3 ]

serve:
	$(PLUME) serve

test: dev ## the whole suite, offline (pytest-socket: loopback only)
	$(PLUME) corpus fetch
	$(VENV)/bin/pytest

lint: dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: dev ## ingestion, search latency, restart time (figures in bench/results/)
	$(VENV)/bin/python -m bench.run

lock: $(UV) ## re-resolve dependencies after editing pyproject.toml
	$(UV) lock

clean:
	rm -rf $(VENV) .plume
