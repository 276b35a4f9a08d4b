# logstep: `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
# Deploy settings: make deploy STAGE=prod REGION=eu-west-1 PROFILE=ops SET="StreamMode=ON_DEMAND"
STAGE ?= dev
AWS_ARGS = $(if $(REGION),--region $(REGION)) $(if $(PROFILE),--profile $(PROFILE))

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP) ## create .venv and install everything (the other targets do this first)

# The line writers compiled with mypyc (optional: without a C compiler logstep runs the
# same Python modules, ~20% slower; see docs/contributing.md, "Speed"). Rebuilt when their source changes.
COMPILED := build/.compiled-writers
$(COMPILED): $(STAMP) $(wildcard chalicelib/transform/*.py) chalicelib/envelope.py chalicelib/jsoncodec.py tools/compile_writers.py
	PYTHONWARNINGS=ignore $(BIN)/python tools/compile_writers.py
	@mkdir -p build && touch $@

compiled: $(STAMP) ## compile the line writers with mypyc now (make does it when they change)
	PYTHONWARNINGS=ignore $(BIN)/python tools/compile_writers.py --strict
	@mkdir -p build && touch $(COMPILED)

demo: $(STAMP) $(COMPILED) ## run the whole pipeline on the embedded sandbox (moto, no AWS account)
	$(BIN)/logstep demo

test: $(STAMP) $(COMPILED) ## run the tests
	$(BIN)/pytest

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP) ## mypy (strict on chalicelib/)
	$(BIN)/mypy

check: lint types test ## lint, types and tests

bench: $(STAMP) $(COMPILED) ## decode + transform + serialise: events/s, MB/s, 6 MB-batch memory, ratio to the seed
	@# Byte-compile the package as a pip install would: with PYTHONDONTWRITEBYTECODE set,
	@# every `logstep transform` process would otherwise recompile it (~20 ms of start-up).
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m compileall -q chalicelib logstep app.py > /dev/null
	$(BIN)/python bench/run.py

# The manual (docs/, mkdocs.yml). Material's end-of-life banner is noise in a build log.
MKDOCS := NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs
DOCS_PORT ?= 8008

docs: $(STAMP) ## build the manual strictly into build/site (a broken link or anchor fails)
	$(MKDOCS) build --strict --clean --site-dir build/site

docs-serve: $(STAMP) ## serve the manual on 127.0.0.1:8008 (DOCS_PORT=...), rebuilt on every change
	$(MKDOCS) serve --strict --dev-addr 127.0.0.1:$(DOCS_PORT)

state-machine-svg: $(STAMP) ## redraw docs/images/state-machine.svg from statemachines/pipeline.asl.json
	$(BIN)/python tools/render_state_machine.py

cli-docs: $(STAMP) ## regenerate docs/cli.md from the CLI's argparse parsers
	$(BIN)/python tools/render_cli_docs.py

# Cost charts: one full Kinesis batch (docs/cost.md: 205,538 events of the demo's
# mix, 91 bytes each) through each delivery on the sandbox, priced by logstep cost, charted.
COST_DIR := build/cost
COST_RUN = $(BIN)/logstep demo --quiet --input $(COST_DIR)/batch.json --source-shards 1 --destination-shards 4
cost-charts: $(STAMP) $(COMPILED) ## measure a full batch per delivery, chart dollars per GB by service (docs/images/cost-*.svg)
	@mkdir -p $(COST_DIR)
	$(BIN)/python -m logstep.sandbox.batchgen $(COST_DIR)/batch.json
	$(COST_RUN) --delivery kinesis --output-records single --summary-json $(COST_DIR)/single.json
	$(COST_RUN) --delivery kinesis --output-records aggregated --summary-json $(COST_DIR)/aggregated.json
	$(BIN)/logstep cost --format json $(COST_DIR)/single.json $(COST_DIR)/aggregated.json > $(COST_DIR)/kinesis-cost.json
	$(BIN)/python tools/render_cost_chart.py $(COST_DIR)/kinesis-cost.json --delivery kinesis
	$(COST_RUN) --delivery search --summary-json $(COST_DIR)/search.json
	$(BIN)/logstep cost --format json $(COST_DIR)/search.json > $(COST_DIR)/search-cost.json
	$(BIN)/python tools/render_cost_chart.py $(COST_DIR)/search-cost.json --delivery search

format: $(STAMP) ## apply ruff's formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

deploy: $(STAMP) $(COMPILED) ## deploy STAGE (dev) to your AWS account: stack, chalice deploy, mapping settings
	$(BIN)/logstep deploy --stage $(STAGE) $(AWS_ARGS) $(foreach s,$(SET),--set $(s))

destroy: $(STAMP) ## remove STAGE: subscription filters, Chalice resources, bucket, stack (YES=1: no prompt)
	$(BIN)/logstep destroy --stage $(STAGE) $(AWS_ARGS) $(if $(YES),--yes)

infra: $(STAMP) ## render the CloudFormation template into build/infra/logstep-STAGE.json
	$(BIN)/logstep infra --stage $(STAGE)

package: $(STAMP) $(COMPILED) ## chalice package STAGE into build/package/STAGE and print its size
	rm -rf build/package/$(STAGE)
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} $(BIN)/chalice package --stage $(STAGE) build/package/$(STAGE)
	@du -k build/package/$(STAGE)/deployment.zip | awk '{print "deployment.zip: " $$1 " KiB"}'

clean: ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build chalicelib/transform/_compiled_*

.PHONY: docs docs-serve state-machine-svg cli-docs cost-charts compiled help venv demo test lint types check bench format clean deploy destroy infra package
