# margindesk: `make demo` runs the seeded desk, `make test` runs every check CI runs.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# Local defaults: DEBUG on for the demo and tests; production sets DJANGO_DEBUG=false.
export DJANGO_DEBUG ?= true

.PHONY: system system-test install db messages setup demo demo-desk demo-stop test lint fmt clean-venv

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

# Debian packages (gettext, Pango, CJK fonts; for the tests also poppler and Chromium), each
# installed only when missing.
system:
	bash tools/system_packages.sh

system-test:
	bash tools/system_packages.sh --test

db: install
	$(PY) manage.py ensure_database

messages: install
	$(PY) manage.py compilemessages --ignore=.venv --ignore=var -v 0

setup: db messages
	$(PY) manage.py migrate --noinput -v 1
	$(PY) manage.py collectstatic --noinput -v 0

# PostgreSQL and Redis: the configured ones when they answer, else private ones started from
# the installed binaries (tools/demo_services.py; `make demo-stop` stops those).
demo: system install
	@exports="$$($(PY) tools/demo_services.py up)" && eval "$$exports" && \
	$(MAKE) --no-print-directory demo-desk

demo-stop:
	$(PY) tools/demo_services.py down

demo-desk: setup
	$(PY) manage.py seed_demo
	@echo ""
	@echo "  Investor portal : http://127.0.0.1:8000/portal/"
	@echo "  Staff console   : http://127.0.0.1:8000/staff/"
	@echo "  Staff admin     : http://127.0.0.1:8000/admin/"
	@echo "  API docs        : http://127.0.0.1:8000/api/docs/"
	@echo "  FIX session     : order gateway -> simulated exchange on 127.0.0.1:9878 (FIX_* defaults under DEBUG)"
	@echo "  Web, Celery worker, beat, the simulated exchange and the order gateway run below;"
	@echo "  Ctrl-C stops all five."
	@echo ""
	$(BIN)/honcho -f Procfile start

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache --no-logo

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: system-test install messages lint
	$(PY) manage.py collectstatic --noinput -v 0
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run
	$(BIN)/pytest $(PYTEST_ARGS)
