# Auteur: `make up` runs the stack on the embedded default, `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
NAME ?=
QUALITY ?= standard

export AUTEUR_SPECS ?= $(CURDIR)/specs
export AUTEUR_WORKSPACE ?= $(CURDIR)/workspace

.PHONY: help install up controller test lint bench reconcile project-list project-create project-delete project-restore project-purge workspace-init clean

help:
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create the virtualenv and install Auteur

up: $(STAMP) workspace-init ## the whole stack in one process (embedded default): controller, API on :8000, jobs
	$(PY) -m launcher

controller: $(STAMP) workspace-init ## only the controller loop, in the foreground
	$(PY) -m controller run

test: $(STAMP) ## run the test suite
	$(BIN)/pytest -q

lint: $(STAMP) ## ruff, mypy (strict on auteur and controller) and import-linter
	$(BIN)/ruff check .
	$(BIN)/mypy auteur controller
	$(BIN)/lint-imports

bench: $(STAMP) ## run the benchmarks (prints numbers; see BENCHMARKS.md)
	$(PY) bench/run.py

reconcile: $(STAMP) ## one reconcile pass over every project (or NAME=...)
	$(PY) -m controller reconcile $(if $(NAME),"$(NAME)")

project-list: $(STAMP) ## table of projects and their status
	@$(PY) -m controller list

project-create: $(STAMP) ## create NAME=... [QUALITY=draft|standard|premium]
	@test -n "$(NAME)" || { echo "usage: make project-create NAME=<name> [QUALITY=standard]"; exit 2; }
	@$(PY) -m controller create "$(NAME)" --quality "$(QUALITY)"

project-delete: $(STAMP) ## move NAME=... to the trash
	@test -n "$(NAME)" || { echo "usage: make project-delete NAME=<name>"; exit 2; }
	@$(PY) -m controller delete "$(NAME)"

project-restore: $(STAMP) ## restore NAME=... from the trash
	@test -n "$(NAME)" || { echo "usage: make project-restore NAME=<name>"; exit 2; }
	@$(PY) -m controller restore "$(NAME)"

project-purge: $(STAMP) ## purge NAME=... from the trash for good
	@test -n "$(NAME)" || { echo "usage: make project-purge NAME=<name>"; exit 2; }
	@$(PY) -m controller purge "$(NAME)"

workspace-init: $(STAMP) ## create the workspace and specs folders
	@$(PY) -m controller init

clean: ## remove the virtualenv and caches (never the workspace)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
