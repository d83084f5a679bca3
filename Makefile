# The Case Portal. `make run` serves the demo; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
HOST ?= 127.0.0.1

.PHONY: run test test-pg lint format venv dev-venv migrate demo worker clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed
dev-venv: $(VENV)/.installed-dev

migrate: venv
	$(PY) manage.py migrate --no-input

demo: migrate
	$(PY) manage.py prepare_demo --host $(HOST) --port $(PORT)

## Serve the portal with the demo, a delivery worker (with beat) on the embedded broker, on $(HOST):$(PORT).
run: demo
	HOST=$(HOST) PORT=$(PORT) PY=$(PY) ./scripts/run.sh

# Installs redis-server, chromium and postgresql when missing. Where it could (Debian, root or
# sudo), the tests that drive them are required: missing, they fail rather than skip.
SYSTEM_PACKAGES = status=0; ./scripts/ensure-system-packages.sh || status=$$?; \
	if [ $$status -eq 0 ]; then export PORTAL_SYSTEM_PACKAGES=required; elif [ $$status -ne 3 ]; then exit $$status; fi

## Lint, then the whole suite on SQLite (browser, Redis and PostgreSQL parts start what they need).
test: dev-venv lint
	@$(SYSTEM_PACKAGES); $(VENV)/bin/pytest

## The whole suite again on a throwaway PostgreSQL server (Debian's PostgreSQL 15), with real Redis.
test-pg: dev-venv
	@$(SYSTEM_PACKAGES); ./scripts/with-postgres.sh $(VENV)/bin/pytest

lint: dev-venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run

format: dev-venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
