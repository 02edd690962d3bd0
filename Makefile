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

# Two phases, one target. First every test not marked `serial`, spread over $(PYTEST_WORKERS) pytest-xdist workers
# (`--dist loadgroup`: a module whose tests share a module-scoped server or sandbox stays on one worker, so that
# set-up is made once; see tests/conftest.py); then the `serial` ones, the wall-clock bars, in one process with the
# machine to themselves, instead of every worker idling while each of them runs. Both phases always run; the
# target fails if either did (exit 5, "nothing selected", is no failure: PYTEST_ARGS may pick no serial test).
# PYTEST_WORKERS=0 runs the first phase in one process too; PYTEST_ARGS goes to both (paths, -k, -x, ...).
PYTEST_WORKERS ?= 3
# Every Python the suite starts (each worker, each `sandbench` and `sandbench serve` process) would otherwise compile
# the project's modules and the rewritten test modules from source again: 7.8 -> 2.6 s of CPU to collect the suite.
unexport PYTHONDONTWRITEBYTECODE
PYTEST_ARGS ?=
pytest: system-deps $(STAMP_TEST)
	@rc=0; \
	$(BIN)/python -m pytest -q --durations=15 -m "not serial" -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS) \
		|| rc=$$?; \
	$(BIN)/python -m pytest -q --durations=5 -m serial -n 0 $(PYTEST_ARGS) || [ $$? -eq 5 ] || rc=1; \
	[ $$rc -eq 0 ] || [ $$rc -eq 5 ]

test: system-deps lint typecheck pytest

bench: $(STAMP_BENCH)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
