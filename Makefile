# Every target sets up what it needs: a fresh Debian machine runs `make demo` or `make test` as is.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
IMAGE ?= webapp:local
# make check: the inventory, and its vault password file (else the inventory's own vault-password file,
# else ansible-vault asks)
INVENTORY ?= inventory/local
VAULT_PASSWORD_FILE ?= $(wildcard $(INVENTORY)/vault-password)
VAULT_ARGS = $(if $(VAULT_PASSWORD_FILE),--vault-password-file $(VAULT_PASSWORD_FILE),--ask-vault-pass)
export PATH := $(abspath $(BIN)):$(PATH)
export ANSIBLE_CONFIG := $(abspath ansible.cfg)

.PHONY: help venv engine image demo demo-down run check lint test test-fast test-py test-molecule bench bench-fleet demo-scale clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-15s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt app/requirements.txt app/requirements-postgres.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	touch $@

venv: $(VENV)/.installed ## Create .venv with the pinned controller and test packages

engine: ## Start a Docker engine and build the local base images (cached by tag)
	scripts/base-images.sh

image: venv engine ## Build the app image ($(IMAGE)) and the reverse proxy image
	scripts/build-image.sh $(IMAGE)
	scripts/build-proxy-image.sh

demo: image ## Rehearse site.yml locally: moto as AWS, a systemd container as the instance
	scripts/rehearsal.sh up

demo-scale: venv engine ## The rehearsal with 2 hosts behind a load balancer on PostgreSQL (app image with psycopg)
	WITH_POSTGRES=true scripts/build-image.sh webapp:postgres
	scripts/build-proxy-image.sh
	scripts/build-postgres-image.sh
	REHEARSAL_IMAGE=webapp:postgres scripts/rehearsal.sh up --scale 2

demo-down: ## Tear the rehearsal down (instance, host container, emulator)
	scripts/rehearsal.sh down

run: image ## Only the app container on SQLite at http://127.0.0.1:8000 (no Ansible)
	scripts/demo.sh $(IMAGE)

# Order-only on the venv: an installed venv is used as it is (no pip, no network).
check: | $(VENV)/.installed ## Check an inventory, touching nothing (INVENTORY=inventory/production [VAULT_PASSWORD_FILE=...])
	$(BIN)/ansible-playbook -i $(INVENTORY) $(VAULT_ARGS) playbooks/check.yml

lint: venv ## ruff, yamllint, ansible-lint (production profile)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/yamllint -s .
	$(BIN)/ansible-lint -q

# Order-only on the venv, as check: the unit tests need no engine, image, emulator or host.
test-fast: | $(VENV)/.installed ## Unit tests only (tests/unit: filters, callback, app in-process, webappctl logic), under 2 min
	$(BIN)/pytest -q -ra -n 3 --dist loadfile tests/unit

test-py: venv engine image ## pytest: tests/unit and tests/integration (image, roles, hosts, AWS emulator)
	$(BIN)/pytest -q -ra -n 3 --dist loadfile --durations=30 tests

test-molecule: venv engine image ## molecule scenarios on systemd container hosts
	$(BIN)/molecule test --all

test: lint test-py test-molecule ## Everything CI runs

bench: venv engine image ## Benchmarks (ratios measured side by side)
	$(PY) bench/run.py

bench-fleet: venv engine ## Throughput through a load balancer, 1 host and 2 hosts on PostgreSQL side by side
	WITH_POSTGRES=true scripts/build-image.sh webapp:postgres
	scripts/build-proxy-image.sh
	scripts/build-postgres-image.sh
	$(PY) bench/fleet_bench.py --image webapp:postgres

clean: ## Remove caches and build outputs (not the venv or images)
	rm -rf build .pytest_cache .ruff_cache .hypothesis .wheels
