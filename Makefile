# Lethe: `make demo` and `make test` bootstrap everything they need on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export LETHE_HOME ?= $(CURDIR)/.lethe
export PATH := $(CURDIR)/$(BIN):$(PATH)
DEMO_SUBJECTS ?= 1500
BENCH_SUBJECTS ?= 200000
# pytest-xdist workers for `make test` (tests/conftest.py groups the tests and schedules the groups). Three on two
# cores were slower than two (2026-12-07: 86% of the suite after 37 min, against all of it in 36 min with two)
TEST_WORKERS ?= 2

.PHONY: help venv chromium demo test test-fast lint bench airflow clean

help:
	@echo "make demo   - generate data, run the pipeline through Airflow, serve the dashboard"
	@echo "make test   - lint and run the whole test suite (real Airflow, dbt, browser, Spark)"
	@echo "make bench  - measure at --subjects $(BENCH_SUBJECTS) and write BENCHMARKS.md"
	@echo "make airflow - airflow standalone with the DAGs and pool"

venv: $(STAMP)

# --compile-bytecode: where PYTHONDONTWRITEBYTECODE is set, as on this project's machines, nothing else ever
# writes the .pyc files, and every process (each lethe command, Airflow task, test worker) would compile every
# module it imports: 3.8 s against 1.5 s to import Airflow and the pipeline's steps (docs/benchmark-notes.md)
$(STAMP): pyproject.toml requirements/constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements/constraints.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $@

# Debian's chromium for the real-browser tests (Playwright cannot download browsers here).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

lint: venv
	$(BIN)/ruff check src tests dags dashboards scripts

test: venv chromium lint
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=15 -n $(TEST_WORKERS) --dist loadscope tests

test-fast: venv
	$(BIN)/python -m pytest -q -m "not slow" tests

demo: venv
	$(BIN)/python scripts/demo.py --subjects $(DEMO_SUBJECTS)

bench: venv
	$(BIN)/python scripts/bench.py --subjects $(BENCH_SUBJECTS)

airflow: venv
	$(BIN)/python scripts/airflow_standalone.py

clean:
	rm -rf .lethe .airflow .bench dbt_project/target dbt_project/logs
