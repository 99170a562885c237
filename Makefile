# The same commands locally and in CI (.ci/run calls `make test`).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# cargo builds the worker's compiled hot path (stream_jobs/native) during the install.
export PATH := $(HOME)/.cargo/bin:$(PATH)
NATIVE := stream_jobs/native/Cargo.toml stream_jobs/native/Cargo.lock $(wildcard stream_jobs/native/src/*.rs)

.PHONY: setup demo test lint typecheck unit bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml $(NATIVE)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[pipeline,dev]'
	$(BIN)/llmpulse kafka fetch
	$(BIN)/llmpulse collector fetch
	touch $@

## The main job: the demo pipeline on embedded defaults.
demo: setup
	$(BIN)/llmpulse demo

## Throughput, freshness, exporter overhead, accuracy and memory figures.
bench: setup
	$(BIN)/llmpulse bench

## Lint, type-check, the crate's own tests and the whole test suite (unit, integration, end to end).
test: setup lint typecheck native-test
	$(BIN)/python -m pytest -q -ra

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	cargo fmt --check --manifest-path stream_jobs/native/Cargo.toml
	cargo clippy --quiet --release --manifest-path stream_jobs/native/Cargo.toml -- -D warnings

## mypy on the installed names (llmpulse.*), through a link tree it can follow.
typecheck: setup
	$(BIN)/python scripts/typecheck.py

unit: setup
	$(BIN)/python -m pytest -q -m "not integration"

## The compiled hot path's own unit tests: the protobuf wire reader, the block layout.
.PHONY: native-test
native-test:
	cargo test --manifest-path stream_jobs/native/Cargo.toml

clean:
	rm -rf $(VENV) stream_jobs/native/target stream_jobs/_native*.so demo-output .llmpulse .pytest_cache .ruff_cache .mypy_cache
