# sandbench: `make run` opens the app, `make test` checks everything, `make bench` measures.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test
STAMP_BENCH := $(VENV)/.installed-bench

.PHONY: run test system-deps lint typecheck pytest bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(STAMP_RUN)

$(STAMP_BENCH): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test,bench]'
	touch $@ $(STAMP_TEST) $(STAMP_RUN)

run: $(STAMP_RUN)
	$(BIN)/sandbench

lint: $(STAMP_TEST)
	$(BIN)/ruff check services tui widgets tests bench scripts
	$(BIN)/ruff format --check services tui widgets tests bench scripts
	$(BIN)/lint-imports --no-logo

typecheck: $(STAMP_TEST)
	$(BIN)/mypy

# The programs the tests drive (tmux, vim, htop, ...): installed as root, else the one command to run is printed.
system-deps:
	@PY=$(PY) bash scripts/system-deps.sh

# Three workers by default (pytest-xdist; tests marked `serial`, the wall-clock bars, still run alone): most tests
# wait on subprocesses, PTYs and servers, so a third worker keeps the 2-core machine busy — 1,700 tests in about
# 10 minutes this way. PYTEST_ARGS="-n 0" runs it in one process.
PYTEST_ARGS ?= -n 3
pytest: system-deps $(STAMP_TEST)
	$(BIN)/python -m pytest -q --durations=15 $(PYTEST_ARGS)

test: system-deps lint typecheck pytest

bench: $(STAMP_BENCH)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
