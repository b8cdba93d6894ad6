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
# Project commands go into this checkout's compose stack when it runs, else run here.
CLI := $(DOCKER) cli

.PHONY: help install up controller test lint format bench reconcile project-list project-create project-suspend project-resume project-delete project-restore project-purge user-add token-create workspace-init clean \
	stack stack-up stack-down stack-status docker-up docker-down docker-health docker-logs docker-restart docker-test \
	swarm-up swarm-down swarm-status swarm-scale

help:
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,docker]'
	touch $(STAMP)

install: $(STAMP) ## create the virtualenv and install Auteur

up: $(STAMP) workspace-init ## the whole stack in one process (embedded default): controller, API on :8000, jobs
	$(PY) -m launcher

controller: $(STAMP) workspace-init ## only the controller loop, in the foreground
	$(PY) -m controller run

stack: docker-up ## the compose stack on Docker (Redis mode): same as docker-up

stack-up: docker-up ## same as docker-up

stack-down: docker-down ## same as docker-down

stack-status: docker-health ## same as docker-health

swarm-up: $(STAMP) ## the stack on Docker Swarm (a one-node swarm if none): 2 backends, 2 workers, 2 controllers behind a proxy on 8000/3000
	@scripts/host.sh packages-docker
	@scripts/host.sh dockerd >/dev/null
	@$(PY) -m launcher.swarm up

swarm-down: $(STAMP) ## remove the Swarm stack (the workspace volume stays)
	@$(PY) -m launcher.swarm down

swarm-status: $(STAMP) ## each Swarm service's replicas and the API's health through the proxy (exit 1 unless all converged)
	@$(PY) -m launcher.swarm status

swarm-scale: $(STAMP) ## scale Swarm services, e.g. make swarm-scale SCALE="backend=3 worker=3"
	@$(PY) -m launcher.swarm scale $(SCALE)

docker-up: $(STAMP) ## build the images (no registry needed) and start the compose stack; waits until healthy
	@scripts/host.sh packages-docker
	@scripts/host.sh dockerd >/dev/null
	@$(DOCKER) up

docker-down: $(STAMP) ## stop and remove the compose stack (the workspace volume stays)
	@$(DOCKER) down

docker-health: $(STAMP) ## each service's health; prints "All services healthy" when they are (exit 1 otherwise)
	@$(DOCKER) health

docker-logs: $(STAMP) ## the stack's logs (followed on a terminal)
	@$(DOCKER) logs

docker-restart: $(STAMP) ## restart every service of the stack
	@$(DOCKER) restart

docker-test: $(STAMP) ## the end-to-end tests from a test-runner container (docker-compose.test.yml)
	@scripts/host.sh packages-docker
	@scripts/host.sh dockerd >/dev/null
	@$(DOCKER) test

test: $(STAMP) ## run the test suite (installs missing Debian packages and starts dockerd if none runs)
	@scripts/host.sh packages
	@started=$$(scripts/host.sh dockerd) || exit 1; status=0; \
	$(BIN)/pytest -q || status=$$?; \
	if [ -n "$$started" ]; then scripts/host.sh dockerd-stop "$$started"; fi; \
	exit $$status

lint: $(STAMP) ## ruff (lint and format check), mypy (strict on auteur, redisbackend and controller) and import-linter
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy auteur redisbackend controller api worker web launcher
	$(BIN)/lint-imports

format: $(STAMP) ## format the code (ruff format) and sort imports
	$(BIN)/ruff check --select I --fix -q .
	$(BIN)/ruff format .

bench: $(STAMP) ## run the benchmarks (prints numbers; see BENCHMARKS.md)
	$(PY) bench/run.py

reconcile: $(STAMP) ## one reconcile pass over every project (or NAME=...); DRY_RUN=1: print the plan, change nothing
	$(CLI) $(if $(filter 1 yes true,$(DRY_RUN)),diff,reconcile $(if $(WAIT),--wait)) $(if $(NAME),"$(NAME)")

project-list: $(STAMP) ## table of projects and their status
	@$(CLI) list

project-create: $(STAMP) ## create NAME=... [QUALITY=draft|standard|premium]
	@test -n "$(NAME)" || { echo "usage: make project-create NAME=<name> [QUALITY=standard]"; exit 2; }
	@$(CLI) create "$(NAME)" --quality "$(QUALITY)"

project-suspend: $(STAMP) ## leave NAME=... alone (suspend: true in its spec): no snapshots, no repairs
	@test -n "$(NAME)" || { echo "usage: make project-suspend NAME=<name>"; exit 2; }
	@$(CLI) suspend "$(NAME)"

project-resume: $(STAMP) ## converge a suspended NAME=... again
	@test -n "$(NAME)" || { echo "usage: make project-resume NAME=<name>"; exit 2; }
	@$(CLI) resume "$(NAME)"

project-delete: $(STAMP) ## move NAME=... to the trash
	@test -n "$(NAME)" || { echo "usage: make project-delete NAME=<name>"; exit 2; }
	@$(CLI) delete "$(NAME)"

project-restore: $(STAMP) ## restore NAME=... from the trash
	@test -n "$(NAME)" || { echo "usage: make project-restore NAME=<name>"; exit 2; }
	@$(CLI) restore "$(NAME)"

project-purge: $(STAMP) ## purge NAME=... from the trash for good
	@test -n "$(NAME)" || { echo "usage: make project-purge NAME=<name>"; exit 2; }
	@$(CLI) purge "$(NAME)"

user-add: $(STAMP) ## add a user who signs in: NAME=... ROLE=viewer|editor|admin [EMAIL=...] (asks the password)
	@test -n "$(NAME)" -a -n "$(ROLE)" || { echo "usage: make user-add NAME=<name> ROLE=viewer|editor|admin [EMAIL=<email>]"; exit 2; }
	@$(CLI) user add "$(NAME)" --role "$(ROLE)" $(if $(EMAIL),--email "$(EMAIL)")

token-create: $(STAMP) ## create a bearer token acting as NAME=... with ROLE=viewer|editor|admin (printed once)
	@test -n "$(NAME)" -a -n "$(ROLE)" || { echo "usage: make token-create NAME=<name> ROLE=viewer|editor|admin"; exit 2; }
	@$(CLI) token create "$(NAME)" --role "$(ROLE)"

workspace-init: $(STAMP) ## create the workspace and specs folders
	@$(PY) -m controller init

clean: ## remove the virtualenv and caches (never the workspace)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
