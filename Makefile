# Thin on purpose: every target delegates to the CLI (`python -m loadtests`) or pytest.
# The first target that needs Python creates .venv and installs the project into it;
# it reinstalls whenever pyproject.toml changes.

PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
CLI     := $(PY) -m loadtests

PROFILE   ?= default
VARIANTS  ?=
VARIANT   ?= $(or $(SERVICE),flask)
VARIANTS_FILE ?=
PGBOUNCER ?= 0
RUN_ARGS  ?=
CLAIMS_ARGS ?=
SLO       ?= p99=250ms
SCENARIO  ?= select-update
CAPACITY_ARGS ?=
RUN       ?= latest
THRESHOLDS ?=
BASELINE  ?=

# Options built from the variables above (empty ones add nothing).
VARIANT_OPTS := $(if $(VARIANTS_FILE),--variants $(VARIANTS_FILE))

.DEFAULT_GOAL := help
.PHONY: help setup test test-fast lint load-test capacity check worker generator claims ui serve serve-flask serve-fastapi db-up db-down db-status seed reset clean distclean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "error: Python 3.11+ is needed, $(PYTHON) is " + sys.version.split()[0])'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[suite,dev]'
	@touch $(STAMP)

setup: $(STAMP)  ## create .venv and install the project (done automatically by the others)

# $(call pytest_halves,MARKERS): the tests MARKERS selects (empty: all of them) in two
# halves. Those that assert no measured figure or timing run TEST_WORKERS at a time
# (pytest-xdist, a module per worker so that a module's shared runs happen once); the
# `alone` ones, whose assertions a neighbour's load would bend, run afterwards one at a
# time. Both halves always run, so one failure does not hide another.
TEST_WORKERS ?= 3
PARALLEL := -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder
pytest_halves = status=0; \
	$(PY) -m pytest $(PARALLEL) -m "$(if $(1),$(1) and )not alone" || status=1; \
	$(PY) -m pytest -m "$(if $(1),$(1) and )alone" || status=1; \
	exit $$status

test: $(STAMP)  ## run the whole test suite against a real PostgreSQL (what CI runs)
	@$(call pytest_halves,)

test-fast: $(STAMP)  ## the inner loop: unit and contract tests, no load runs (about 2 minutes)
	@$(call pytest_halves,not slow)

lint: $(STAMP)  ## ruff, the type checker (mypy, strict) and the import layers (import-linter)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

load-test: $(STAMP)  ## start PostgreSQL, seed, run the variants under rising load, write reports/<run>/
	$(CLI) run --profile $(PROFILE) $(if $(VARIANTS),--services $(VARIANTS)) $(VARIANT_OPTS) $(if $(filter 1 yes true on,$(PGBOUNCER)),--pgbouncer) $(RUN_ARGS)

capacity: $(STAMP)  ## each variant's highest arrival rate within SLO (p99=250ms), with an interval (about 8 minutes)
	$(CLI) capacity --slo $(SLO) --scenario $(SCENARIO) $(if $(VARIANTS),--services $(VARIANTS)) $(VARIANT_OPTS) $(CAPACITY_ARGS)

check: $(STAMP)  ## gate RUN (default latest) on THRESHOLDS=file and/or BASELINE=run: exit 0 pass, 1 fail, 2 bad input
	$(CLI) check $(RUN) $(if $(THRESHOLDS),--thresholds $(THRESHOLDS)) $(if $(BASELINE),--baseline $(BASELINE))

worker: $(STAMP)  ## join a run's Locust master from this host (MASTER=HOST:PORT; the master: RUN_ARGS="--master-bind ...")
	@test -n "$(MASTER)" || { echo "error: give the master, e.g. make worker MASTER=10.0.0.5:5557" >&2; exit 2; }
	$(CLI) worker --master $(MASTER)

generator: $(STAMP)  ## the load generator's own ceiling: one Locust process against a master + workers (GENERATOR_ARGS=...)
	$(CLI) generator $(GENERATOR_ARGS)

claims: $(STAMP)  ## re-measure the articles' claims, a verdict each: reports/claims-<time>/ (CLAIMS_ARGS=--quick)
	$(CLI) claims $(CLAIMS_ARGS)

ui: $(STAMP)  ## Locust web UI on 127.0.0.1:8089 against VARIANT (default flask)
	$(CLI) ui $(VARIANT) $(VARIANT_OPTS)

serve: $(STAMP)  ## run VARIANT's service in the foreground (e.g. VARIANT=fastapi:raw)
	$(CLI) serve $(VARIANT) $(VARIANT_OPTS)

serve-flask: $(STAMP)  ## run the Flask service in the foreground
	$(CLI) serve flask

serve-fastapi: $(STAMP)  ## run the FastAPI service in the foreground
	$(CLI) serve fastapi

db-up: $(STAMP)  ## start the embedded PostgreSQL
	$(CLI) db up

db-down: $(STAMP)  ## stop the embedded PostgreSQL
	$(CLI) db down

db-status: $(STAMP)  ## is the database running, where, and is it seeded
	$(CLI) db status

seed: $(STAMP)  ## start the database if needed and load the seed data
	$(CLI) db up
	$(CLI) db seed

reset: $(STAMP)  ## reset the database to the seeded state
	$(CLI) db reset

clean:  ## stop the database, delete its data and caches (keeps .venv and reports)
	@if [ -x $(PY) ]; then $(CLI) db destroy; fi
	rm -rf .loadtests .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -prune -exec rm -rf {} +

distclean: clean  ## clean, and delete .venv too
	rm -rf $(VENV) *.egg-info
