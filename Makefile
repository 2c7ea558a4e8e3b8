# Patient-safety data platform — `make help` lists the targets.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PSIRF_HOME ?= $(CURDIR)/var
export AIRFLOW_HOME ?= $(PSIRF_HOME)/airflow

TYPED := psirf connectors transforms expectations warehouse reports dags demo

.PHONY: help venv run ui distributed test lint typecheck demo-feeds lock clean bench bench-peers lock-peers

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): requirements.lock requirements-overrides.txt pyproject.toml
	@command -v $(PY) >/dev/null || { echo "Python 3.11 is required ($(PY) not found)"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.lock --override requirements-overrides.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

venv: $(STAMP) ## Create the virtual environment from the pinned lock file

run: $(STAMP) ## Generate demo feeds, migrate, run psirf_nightly through Airflow into var/warehouse.duckdb
	bash scripts/run_demo.sh

ui: $(STAMP) ## The Airflow UI on the demo's Airflow home (runs and task logs of make run); prints URL and login
	bash scripts/run_ui.sh

distributed: $(STAMP) ## psirf_nightly on Airflow's CeleryExecutor: Redis broker, PostgreSQL metadata DB + warehouse, 2 workers
	bash scripts/run_distributed.sh

test: $(STAMP) ## ruff, mypy, then the test suite (DuckDB and PostgreSQL; headless Chromium for report screenshots)
	bash scripts/ensure_postgres.sh
	bash scripts/ensure_chromium.sh
	$(BIN)/ruff check .
	$(BIN)/mypy $(TYPED)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup

lint: $(STAMP) ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/mypy $(TYPED)

TEST_WORKERS ?= 2
BENCH_ROWS ?= 100000
BENCH_ROUNDS ?= 3
bench: $(STAMP) ## Benchmark the pipeline stage by stage on DuckDB and PostgreSQL -> docs/benchmarks.md (BENCH_ROWS=1000000 BENCH_ROUNDS=1)
	bash scripts/ensure_postgres.sh
	$(BIN)/python -m bench.run --rows $(BENCH_ROWS) --rounds $(BENCH_ROUNDS)

PEERS_VENV := .venv-peers
PEERS_STAMP := $(PEERS_VENV)/.installed
$(PEERS_STAMP): bench/peers/requirements.txt $(STAMP)
	test -x $(PEERS_VENV)/bin/python || $(PY) -m venv $(PEERS_VENV)
	$(BIN)/uv pip install --quiet --python $(PEERS_VENV)/bin/python -r bench/peers/requirements.txt
	touch $(PEERS_STAMP)

bench-peers: $(PEERS_STAMP) ## The pipeline against dlt, pandas to_sql and raw bulk loads, interleaved, both engines -> docs/benchmarks.md (BENCH_ROWS=20000)
	bash scripts/ensure_postgres.sh
	$(BIN)/python -m bench.peers.run --rows $(BENCH_ROWS) --peers-python $(PEERS_VENV)/bin/python

lock-peers: $(STAMP) ## Re-resolve bench/peers/requirements.txt (dlt 1.31 and the peers, constrained to requirements.lock)
	$(BIN)/uv pip compile --python-version 3.11 bench/peers/requirements.in -c requirements.lock --override requirements-overrides.txt -o bench/peers/requirements.txt --no-header

lock: ## Re-resolve requirements.lock (with the dev extra) and requirements-runtime.lock (the product alone) from pyproject.toml
	$(BIN)/uv pip compile --python-version 3.11 pyproject.toml --extra dev --override requirements-overrides.txt -o requirements.lock --no-header
	$(BIN)/uv pip compile --python-version 3.11 pyproject.toml -c requirements.lock --override requirements-overrides.txt -o requirements-runtime.lock --no-header

clean: ## Remove generated data (var/) — the warehouse included
	rm -rf var
