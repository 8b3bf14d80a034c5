# FaceCurator: `make demo` runs the app with a demo data set; `make test` runs every test.
# Both do all the set-up on a fresh machine (virtual environment, packages, front-end build).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-12)
HOST ?= 127.0.0.1
PORT ?= 8000
# Images per identity the demo imports (all: DEMO_PER_IDENTITY=0); keeps a CPU-only first start to minutes.
DEMO_PER_IDENTITY ?= 40

# Tests run against the machine's real PostgreSQL and Redis.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/facecurator
TEST_BROKER_URL ?= redis://127.0.0.1:6379/15
TEST_ENV := DJANGO_DEBUG=1 DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) \
	CELERY_BROKER_KEYPREFIX=facecurator-test-$$$$:

.PHONY: help venv lint frontend frontend-test tools services migrate backup restore demo test test-python test-sqlite tree-unchanged screenshots bench bench-quick clean

help:
	@echo "make demo    - set up, import the demo data and serve the app on http://$(HOST):$(PORT)/"
	@echo "make test    - set up and run every test (PostgreSQL, Redis, browser, front end)"
	@echo "make lint    - ruff (lint + format check) over the Python code, mypy over ml/ (strict), webapp/ and bench/, eslint over frontend/"
	@echo "make screenshots - retake the README screenshots (docs/screenshots/) with the browser tests"
	@echo "make bench   - run the benchmarks (results in bench/results/)"
	@echo "make backup [BACKUP_DIR=...]   - back up the database and media (default var/backups/<UTC time>)"
	@echo "make restore FROM=DIR [FORCE=1] - restore a backup (FORCE=1 replaces existing data)"

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --disable-pip-version-check -q -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

frontend:
	@if [ -f frontend/package.json ]; then \
		cd frontend && npm ci --no-audit --no-fund --loglevel=error && npm run build; \
	else echo "no frontend/ package yet"; fi

# Static checks, also run by `make test` (so CI runs them). Configuration: ruff.toml, mypy.ini,
# frontend/eslint.config.js. eslint needs the front end's packages (`make frontend`, which `make test` runs first).
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DJANGO_DEBUG=1 $(VENV)/bin/mypy
	@if [ -f frontend/package.json ]; then \
		test -d frontend/node_modules || { echo "frontend/node_modules is missing: run make frontend"; exit 1; }; \
		cd frontend && npm run --silent lint; fi

frontend-test:
	@if [ -f frontend/package.json ]; then cd frontend && npm test; fi

# Debian's chromium for the Playwright browser tests (never a downloaded browser), and
# docker-compose to check the production stack file.
tools:
	@missing=""; command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v docker-compose >/dev/null 2>&1 || missing="$$missing docker-compose"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; \
		else echo "missing:$$missing (sudo apt-get install$$missing); their tests will be skipped"; fi; fi

services:
	@bash .ci/services-up

migrate: venv
	DJANGO_DEBUG=1 $(PY) manage.py migrate --noinput -v0

# Backups (README, "Backups"): the environment's DATABASE_URL / MEDIA_ROOT / MEDIA_STORAGE decide what
# is backed up and where it is restored to; DJANGO_DEBUG defaults to 1 as for `make demo`.
BACKUP_DIR ?= var/backups/$(shell date -u +%Y%m%dT%H%M%SZ)

backup: venv
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(PY) manage.py backup $(BACKUP_DIR)

restore: venv
	@test -n "$(FROM)" || { echo "usage: make restore FROM=<backup folder> [FORCE=1]"; exit 2; }
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(PY) manage.py migrate --noinput -v0
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(PY) manage.py restore $(FROM) $(if $(FORCE),--force)

demo: venv frontend migrate
	DJANGO_DEBUG=1 $(PY) manage.py bootstrap_users
	DJANGO_DEBUG=1 $(PY) manage.py import_demo --per-identity $(DEMO_PER_IDENTITY)
	@echo "Serving on http://$(HOST):$(PORT)/ with a Celery worker (and beat: job reaper, media sweep); Ctrl-C stops both."
	@DJANGO_DEBUG=1 $(VENV)/bin/celery -A webapp worker -B -Q default,gpu --pool solo -l WARNING & \
		worker=$$!; trap "kill $$worker 2>/dev/null" EXIT INT TERM; \
		DJANGO_DEBUG=1 $(PY) manage.py runserver --noreload $(HOST):$(PORT)

# Tests never write into the repository: the suite runs between two snapshots of the working tree
# (tracked files' contents and untracked, not ignored files) and fails when they differ.
TREE_STATE = { git diff HEAD --binary; git status --porcelain; } | sha256sum

test: venv frontend tools services
	@before="$$($(TREE_STATE))"; \
	$(MAKE) --no-print-directory lint test-python test-sqlite frontend-test && \
	after="$$($(TREE_STATE))" && if [ "$$before" != "$$after" ]; then \
		echo "The tests changed files in the repository (tests must write only to temporary folders):"; \
		git status --porcelain; exit 1; fi

# The README screenshots: the browser tests marked `screenshots`, saving into docs/screenshots/.
screenshots: venv frontend tools services
	FACECURATOR_SCREENSHOTS=$(CURDIR)/docs/screenshots $(TEST_ENV) $(PY) -m pytest -q -m screenshots tests/browser

test-python: venv
	$(TEST_ENV) $(PY) -m pytest -q

# The embedded defaults (SQLite file, filesystem broker) keep working: the Django tests again on them.
test-sqlite: venv
	DJANGO_DEBUG=1 $(PY) -m pytest -q tests/webapp -m "not browser and not slow" -p no:cacheprovider \
		|| [ $$? -eq 5 ]  # 5 = nothing selected by the markers: not a failure of this subset

bench: venv services
	$(TEST_ENV) $(PY) bench/run_all.py

bench-quick: venv services
	$(TEST_ENV) $(PY) bench/run_all.py --quick

clean:
	rm -rf $(VENV) frontend/node_modules frontend/dist staticfiles
