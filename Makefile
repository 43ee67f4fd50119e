# One entry point. `make test` bootstraps its own virtual environment on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCENARIO ?= trader-kill9
VENUE ?= binance

.PHONY: help venv lint typecheck contracts unit test demo bench clean

help:
	@echo "make demo [SCENARIO=...] [VENUE=binance|bybit|okx]  start sim, watchdog and trader; trip the kill switch; prove it at the venue"
	@echo "make test                 lint, format check, mypy --strict, import contracts, full test suite"
	@echo "make bench [QUICK=1]      every benchmark, JSON + Markdown report under bench-results/"

$(STAMP): pyproject.toml client/pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ required, found " + sys.version'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# The client is its own distribution (client/): installed from this checkout, with the suite.
	$(BIN)/python -m pip install --quiet -e ./client -e '.[test,bench]'
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

contracts: $(STAMP)
	$(BIN)/lint-imports
	@# An unrelated PyPI package is also called `watchdog`: make sure ours is the one imported.
	$(BIN)/python -c 'import watchdog, pathlib, sys; p = pathlib.Path(watchdog.__file__).resolve().parent; sys.exit(0 if (p / "daemon").is_dir() else "`watchdog` imports " + str(p) + ", not this project: install the suite in its own virtual environment")'

unit: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck contracts unit

demo: $(STAMP)
	$(BIN)/python -m demo --scenario $(SCENARIO) --venue $(VENUE)

bench: $(STAMP)
	$(BIN)/python -m bench.run_all $(if $(QUICK),--quick)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis bench-results
