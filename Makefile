# TasteMatch Bench — every target carries a `## description`; `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Containers are reached through loopback only, and Ryuk's image cannot be pulled
# on hosts without a registry.
export TC_HOST ?= 127.0.0.1
export TESTCONTAINERS_RYUK_DISABLED ?= true

.PHONY: help setup engine browser images test test-fast bench oom capacity faults selftest report lint format clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@echo "==> creating virtualenv $(VENV) and installing the project"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

setup: $(STAMP) ## create the virtualenv and install the project with its tools

engine: ## make sure a Docker engine answers (installs and starts one on Debian/Ubuntu as root)
	bash containers/engine.sh

browser: ## make sure headless Chromium is there for the report tests (installs it on Debian/Ubuntu as root)
	bash reports/browser.sh

images: setup engine ## build the postgres, redis, service, pgbouncer and netfault images (only what changed)
	$(PY) -m containers images

test: setup engine images browser ## run every test (fast ones, those that start containers, the browser ones)
	$(PY) -m pytest
	@echo "==> the per-request allocation and leak budgets under pytest-memray"
	$(PY) -m pytest --memray tests/benchmarks/test_request_memory.py

test-fast: setup ## run the quick tests: no Docker engine, no browser, no load generator
	$(PY) -m pytest -m "not docker and not browser and not slow"

# Extra arguments for the gate, e.g. make bench BENCH_ARGS="--profile baseline".
# make bench BASE=<git ref> also judges the working tree against that ref's service.
BENCH_ARGS ?=
# Locust worker processes of the gate, e.g. make bench LOAD_WORKERS=2 (0: one Locust process).
LOAD_WORKERS ?=

bench: setup engine images ## run the gate: boot the capped stack, load it, check every budget (BASE=<git ref>: and against that revision)
	$(PY) -m benchmarks run $(if $(BASE),--base $(BASE)) $(if $(LOAD_WORKERS),--load-workers $(LOAD_WORKERS)) $(BENCH_ARGS)

selftest: setup engine images ## prove the gate fails on each of R1-R8 alone and on 9 mutants of HEAD, and passes the optimised service and A/A
	$(PY) -m benchmarks selftest

oom: setup engine images ## reproduce the OOM kill of the old service at 1 GiB, with memray's top allocations
	$(PY) -m benchmarks oom

capacity: setup engine images ## open-model ladders on both profiles and /health/live: the arrival rate each holds at 1 GiB
	$(PY) -m benchmarks capacity

# e.g. make faults FAULTS=redis-paused,service-killed (default: every fault; --list names them)
FAULTS ?=

faults: setup engine images ## inject each fault alone under load (Redis/Postgres down or stalled, lossy or slow network, killed service, exhausted pool); nothing acknowledged may be lost
	$(PY) -m benchmarks faults $(if $(FAULTS),--only $(FAULTS))

report: setup ## re-render the latest run's report (BASE=<run dir or result.json> adds deltas)
	$(PY) -m reports render reports/out/latest $(if $(BASE),--base $(BASE))

lint: setup ## ruff (lint + format check) and mypy --strict
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

format: setup ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean: ## remove the virtualenv, build output, caches and reports (not the images)
	rm -rf $(VENV) build dist .cache .mypy_cache .pytest_cache .ruff_cache .benchmarks reports/out
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
