# Masterclass Hub: one line per target; `make` alone lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/pip
PYTEST := $(BIN)/pytest

.PHONY: help install test test-fast lint format bench data clean

help: ## List the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.installed: masterclass/pyproject.toml requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c requirements-dev.txt -e 'masterclass[dev]'
	touch $@

install: $(VENV)/.installed ## Create .venv with the package and everything the tests need.

test: install ## Run the whole suite (unit and integration tiers).
	$(PYTEST) tests

test-fast: install ## Run only the fast tier (no Docker).
	$(PYTEST) -m "not docker and not slow" tests

lint: install ## Check style with ruff.
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install ## Let ruff fix style.
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install ## Benchmark the student solution path (5 seeds, fresh process each).
	$(BIN)/python benchmarks/student_flow.py

data: install ## Fetch and prepare the OPAL event store into ./data/ (or MASTERCLASS_DATA_DIR).
	$(BIN)/masterclass data fetch --dest data/raw
	$(BIN)/masterclass data prepare data/raw --out data/store

clean: ## Remove the virtualenv and caches (keeps Docker state).
	rm -rf $(VENV) .pytest_cache .ruff_cache data
