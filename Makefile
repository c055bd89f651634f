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

.PHONY: run system chromium services install dev corpus ingest serve test lint bench bench-scale lock clean eval eval-gate

run: system install corpus ingest serve ## set up, fetch and index the default corpus, serve on :8000

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

system: ## Debian tools for uploaded documents: OCR of scans (French), legacy Word .doc
	@command -v tesseract >/dev/null && tesseract --list-langs 2>/dev/null | grep -qx fra \
	  && command -v antiword >/dev/null \
	  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	       --no-install-recommends tesseract-ocr tesseract-ocr-fra antiword >/dev/null; }

chromium: ## Debian's Chromium, driven by Playwright in the widget's browser tests (never `playwright install`)
	@command -v chromium >/dev/null \
	  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	       --no-install-recommends chromium >/dev/null; }

services: ## PostgreSQL and Redis (records and rate-limit tests on both backends): installed, started
	@command -v pg_ctlcluster >/dev/null && command -v redis-server >/dev/null \
	  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	       --no-install-recommends postgresql redis-server >/dev/null; }
	@pg_isready -q -h 127.0.0.1 -p 5432 \
	  || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | tail -1) main start
	@redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || redis-server --daemonize yes --bind 127.0.0.1 --save "" --appendonly no >/dev/null

install: $(UV) ## runtime dependencies, exactly as locked
	$(UV) sync --frozen --inexact --no-dev --compile-bytecode --quiet

dev: $(UV) ## runtime + test and lint tools
	$(UV) sync --frozen --inexact --compile-bytecode --quiet

corpus: ## fetch the pinned packages (integrity checked)
	$(PLUME) corpus fetch

SHARED_AIDES := ../shared/data/aides_territoires

ingest: ## index the default corpora (fiches, codes, grants) when not yet indexed
	$(PLUME) ingest service-public --if-empty || [ $$? -eq 3 ]
	$(PLUME) ingest legi --if-empty || [ $$? -eq 3 ]
	$(PLUME) ingest programmes || [ $$? -eq 3 ]
	@# grants: the aides-territoires API with a token; else the real export and the lists of
	@# funded projects of ../shared/data, read in place, when they are beside the project
	@if [ -n "$$PLUME_AIDES_TERRITOIRES_TOKEN" ]; then \
	  $(PLUME) ingest aides-territoires || [ $$? -eq 3 ]; \
	elif [ -d $(SHARED_AIDES) ]; then \
	  $(PLUME) ingest aides-territoires --if-empty --path $(SHARED_AIDES)/aides-territoires_periurbain.csv || [ $$? -eq 3 ]; \
	  $(PLUME) ingest precedents --if-empty --path $(SHARED_AIDES)/detr_dsil_validated_projects_yvelines_78.csv || [ $$? -eq 3 ]; \
	  $(PLUME) ingest precedents --path $(SHARED_AIDES)/fonds-vert-2023-export.csv || [ $$? -eq 3 ]; \
	else \
	  echo "aides-territoires : ni jeton (PLUME_AIDES_TERRITOIRES_TOKEN) ni export local, seules les aides nationales sont indexées"; \
	fi

serve: ## serve on http://127.0.0.1:8000 (another port: make run PORT=8080)
	$(PLUME) serve $(if $(PORT),--port $(PORT))

test: system chromium services dev ## the whole suite, offline (pytest-socket: loopback only), then the release gate
	$(PLUME) corpus fetch
	$(VENV)/bin/pytest
	$(MAKE) --no-print-directory eval-gate

EVAL_SETS := dev dev2 heldout heldout2 heldout3

eval: dev ## every evaluation set, BM25 + e5 (the first run computes the e5 vectors: ~1.5 h)
	$(PLUME) corpus fetch
	@for set in $(EVAL_SETS); do $(PLUME) eval --dataset eval/datasets/$$set.jsonl || exit 1; done
	$(PLUME) eval attaques

eval-gate: dev ## offline release gate (BM25): thresholds of eval/gate.toml on the dev and blind sets
	$(PLUME) corpus fetch
	@if [ -d ../shared/data ]; then $(PLUME) eval gate; else \
	  echo "eval-gate sauté : ../shared/data absent (codes de 2015, export d'aides du jeu de développement)"; fi

lint: dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: system dev ## the README's « Measured here » figures, regenerated (machine and commit printed)
	@$(VENV)/bin/python -m bench.readme --header
	$(VENV)/bin/python -m bench.run
	@# search against the raw store query on a copy of the product index, when there is one
	@if [ -d .plume/store ]; then d=$$(mktemp -d) && cp -r .plume/store $$d/store \
	  && ln -s $(CURDIR)/.plume/packages $$d/packages \
	  && PLUME_DATA_DIR=$$d $(VENV)/bin/python -m bench.pipeline --out pipeline_latest; s=$$?; rm -rf $$d; exit $$s; fi
	$(VENV)/bin/python -m bench.workers
	@# the communes' real documents (text PDFs, scans through OCR), when ../shared/data is there
	if [ -d ../shared/data/municipal_documents ]; then $(VENV)/bin/python -m bench.documents; fi
	$(VENV)/bin/python -m bench.readme

bench-scale: dev ## the scaling curve: 70k, 300k, 1M passages (disk, RSS, open time, p50/p95; slow)
	$(VENV)/bin/python -m bench.scale

lock: $(UV) ## re-resolve dependencies after editing pyproject.toml
	$(UV) lock

clean:
	rm -rf $(VENV) .plume
