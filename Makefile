# The README's commands. `make run` sets everything up and starts OutageCast on the embedded
# defaults; `make test` runs the whole test suite. Both install from requirements.lock.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UV_VERSION := 0.13.9

.PHONY: install run serve test test-fast lint format bench system-deps clean

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(BIN)/uv pip install --python $(BIN)/python --quiet -r requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python --quiet --no-deps -e .
	@touch $(STAMP)

install: $(STAMP) ## Create .venv with the locked versions and the package

run: install ## Start OutageCast (API + web app) on the embedded defaults
	$(BIN)/outagecast up

serve: install ## Start only the API
	$(BIN)/outagecast serve

system-deps: ## What the tests need from the system: a running PostgreSQL and Debian's chromium
	bash scripts/system-deps.sh

test: install system-deps ## The whole test suite (SQLite, PostgreSQL, browser)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install ## Tests not marked slow
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests bench dags
	$(BIN)/ruff format --check src tests bench dags

format: install
	$(BIN)/ruff format src tests bench dags
	$(BIN)/ruff check --fix src tests bench dags

bench: install system-deps ## Benchmarks against the original design, each in one process
	$(BIN)/python -m bench
	$(BIN)/python -m bench.ingest

lock: ## Re-resolve requirements.lock from pyproject.toml
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --no-header -o requirements.lock

clean:
	rm -rf var test-output .pytest_cache
