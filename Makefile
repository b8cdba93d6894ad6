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

DOCKER := $(PY) -m launcher.docker

.PHONY: help install up controller test lint bench reconcile project-list project-create project-delete project-restore project-purge workspace-init clean \
	stack stack-up stack-down stack-status docker-up docker-down docker-health docker-logs docker-restart docker-test

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

stack: $(STAMP) workspace-init ## the services of docker-compose.yml as local processes (Redis mode), in the foreground
	$(PY) -m launcher.stack run

stack-up: $(STAMP) workspace-init ## the same in the background; pid files and logs in .stack/
	@$(PY) -m launcher.stack up

stack-down: $(STAMP) ## stop what stack-up started
	@$(PY) -m launcher.stack down

stack-status: $(STAMP) ## pids of the services stack-up started
	@$(PY) -m launcher.stack status

docker-up: $(STAMP) ## build the image and start the stack with Docker (compose)
	@$(DOCKER) compose up -d --build

docker-down: $(STAMP) ## stop and remove the Docker stack (the workspace volume stays)
	@$(DOCKER) compose down

docker-health: $(STAMP) ## each service's health; prints "All services healthy" when they are
	@$(DOCKER) health

docker-logs: $(STAMP) ## follow the Docker stack's logs
	@$(DOCKER) compose logs -f --tail=200

docker-restart: $(STAMP) ## restart every service of the Docker stack
	@$(DOCKER) compose restart

docker-test: $(STAMP) ## the end-to-end tests against the Docker stack (docker-compose.test.yml)
	@$(DOCKER) compose --test up --build --abort-on-container-exit --exit-code-from e2e

test: $(STAMP) ## run the test suite
	$(BIN)/pytest -q

lint: $(STAMP) ## ruff, mypy (strict on auteur and controller) and import-linter
	$(BIN)/ruff check .
	$(BIN)/mypy auteur controller api worker web launcher
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
