# Arena: `make help` lists the targets. Slow installs are cached outside the clone (ARENA_CACHE).
SHELL := /bin/bash
.DEFAULT_GOAL := help

ARENA_CACHE ?= $(HOME)/.cache/arena
VENV ?= $(ARENA_CACHE)/venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.arena-stamp
# Reinstall when the dependencies change (pyproject.toml or the lock) or when another clone
# owns the editable install.
WANT_STAMP := $(shell cat pyproject.toml requirements.lock 2>/dev/null | sha256sum | cut -c1-16)-$(CURDIR)
# requirements.lock: every runtime and dev dependency pinned with its hashes (this venv);
# requirements-runtime.lock: the runtime ones only, at the same pins (the Docker image). Both
# are resolved by uv for the Python and platform of the Dockerfile and of CI (`make lock`).
UV_VERSION := 0.13.8
UV_VENV := $(ARENA_CACHE)/uv-$(UV_VERSION)
UV_COMPILE = UV_CACHE_DIR=$(ARENA_CACHE)/uv-cache $(UV_VENV)/bin/uv pip compile pyproject.toml \
  --generate-hashes --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
  --custom-compile-command 'make lock' --quiet
ARENA := $(VENV)/bin/arena
PYTEST_INTEGRATION_ARGS ?=

export ARENA_STACK_CACHE_DIR ?= $(ARENA_CACHE)
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONUNBUFFERED := 1

.PHONY: help venv lock browser stack-up stack-down stack-status db-upgrade demo test test-unit test-integration \
        bench bench-smoke learn-bench learn-bench-smoke lint fmt clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

venv: ## Create or update the cached virtualenv (python >= 3.11): requirements.lock, then arena
	@if [ "$$(cat $(STAMP) 2>/dev/null)" != "$(WANT_STAMP)" ]; then \
	  set -e; \
	  command -v python3 >/dev/null || { echo "error: python3 (>= 3.11) is required" >&2; exit 2; }; \
	  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "error: python3 must be >= 3.11" >&2; exit 2; }; \
	  [ -x $(PY) ] || python3 -m venv $(VENV); \
	  start=$$(date +%s); \
	  $(PY) -m pip install -q --upgrade pip; \
	  $(PY) -m pip install -q --require-hashes -r requirements.lock; \
	  $(PY) -m pip install -q --no-deps --no-build-isolation -e .; \
	  echo "$(WANT_STAMP)" > $(STAMP); \
	  echo "virtualenv ready in $$(( $$(date +%s) - start )) s: $(VENV)"; \
	fi

lock: ## Re-resolve the hashed lock files from pyproject.toml (keeps the pins they have; UPGRADE=1: the newest)
	@[ -x $(UV_VENV)/bin/uv ] || { python3 -m venv $(UV_VENV) && $(UV_VENV)/bin/pip install -q uv==$(UV_VERSION); }
	$(UV_COMPILE) --extra dev $(if $(UPGRADE),--upgrade) -o requirements.lock
	$(UV_COMPILE) -c requirements.lock -o requirements-runtime.lock

stack-up: venv ## Start Kafka (KRaft), PostgreSQL and MinIO natively, installing them on first use
	$(ARENA) stack up

stack-down: venv ## Stop the native stack
	$(ARENA) stack down

stack-status: venv ## Show what runs where
	$(ARENA) stack status

db-upgrade: stack-up ## Apply the registry migrations
	$(ARENA) db upgrade

demo: db-upgrade ## The main job: the drift demo on real MNIST images (writes out/demo/)
	$(ARENA) demo

test: venv ## Lint, unit tests, integration tests against the real stack, reduced chaos scenarios, learn-bench smoke
	$(MAKE) lint
	$(MAKE) test-unit
	$(MAKE) test-integration
	$(MAKE) chaos-reduced
	$(MAKE) learn-bench-smoke

test-unit: venv ## Fast tests, no network
	$(PY) -m pytest tests/unit -q

browser: ## Debian's chromium for the dashboard's browser test (apt-get, as root, when missing)
	@[ -x /usr/bin/chromium ] || { [ "$$(id -u)" = 0 ] || { echo "error: run as root: apt-get install -y chromium" >&2; exit 2; }; \
	  apt-get update -q && apt-get install -y -q chromium; }

test-integration: stack-up browser ## Tests against real Kafka, PostgreSQL and MinIO
	$(ARENA) db upgrade
	$(PY) -m pytest tests/integration -q $(PYTEST_INTEGRATION_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "no integration tests collected"; rc=0; fi; exit $$rc

bench: db-upgrade ## Measure everything in one run: bench/results.json and docs/BENCHMARKS.md
	$(PY) -m bench.run

bench-smoke: db-upgrade ## A tiny run of the benchmark harness (proves it works; not a timing)
	$(PY) -m bench.run --smoke

learn-bench: db-upgrade ## Drift recovery over 5 drifts x 3 seeds and an A/A run: bench/learning.json, docs/LEARNING.md
	$(PY) -m bench.learning

learn-bench-smoke: db-upgrade ## A tiny run of the learning benchmark (proves it works; not a measurement)
	$(PY) -m bench.learning --smoke

.PHONY: chaos chaos-reduced
chaos: venv ## Fault-injection scenarios on a stack of their own: out/chaos/report.json, docs/RELIABILITY.md
	$(PY) -m pytest tests/chaos -q --chaos $(PYTEST_CHAOS_ARGS)

chaos-reduced: venv ## The reduced chaos scenarios 1, 2 and 6 for CI (fewer events and faults; recovery-time limits doubled)
	$(PY) -m pytest tests/chaos -q --chaos-reduced $(PYTEST_CHAOS_ARGS)

lint: venv ## ruff, mypy (strict) and the layering check (kernel <- storage <- services <- entry points)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy arena scorer trainer evaluator storage bench
	$(PY) -m pytest -q -p no:cacheprovider tests/unit/test_layers.py

fmt: venv ## Format the code
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean: ## Remove build output (not the cache, not the stack's data)
	rm -rf build *.egg-info .pytest_cache .mypy_cache .ruff_cache out
