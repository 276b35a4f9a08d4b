# logstep: `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP) ## create .venv and install everything (the other targets do this first)

demo: $(STAMP) ## run the whole pipeline on the embedded sandbox (moto, no AWS account)
	$(BIN)/logstep demo

test: $(STAMP) ## run the tests
	$(BIN)/pytest

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP) ## mypy (strict on chalicelib/)
	$(BIN)/mypy

check: lint types test ## lint, types and tests

bench: $(STAMP) ## decode + transform + serialise: events/s, MB/s, 6 MB-batch memory, ratio to the seed
	$(BIN)/python bench/run.py

format: $(STAMP) ## apply ruff's formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean: ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

.PHONY: help venv demo test lint types check bench format clean
