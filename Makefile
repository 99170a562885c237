# The same commands locally and in CI (.ci/run calls `make test`).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint typecheck unit bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[pipeline,dev]'
	$(BIN)/llmpulse kafka fetch
	touch $@

## The main job: the demo pipeline on embedded defaults.
demo: setup
	$(BIN)/llmpulse demo

## Throughput, freshness, exporter overhead, accuracy and memory figures.
bench: setup
	$(BIN)/llmpulse bench

## Lint, type-check and the whole test suite (unit, integration, end to end).
test: setup lint typecheck
	$(BIN)/python -m pytest -q -ra

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy llmpulse collectors stream_jobs schemas

unit: setup
	$(BIN)/python -m pytest -q -m "not integration"

clean:
	rm -rf $(VENV) demo-output .llmpulse .pytest_cache .ruff_cache .mypy_cache
