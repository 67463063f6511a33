# Connector CRM — developer commands. The two that matter:
#   make run    set up (virtualenv, packages, database, demo data) and start on http://127.0.0.1:8000
#   make test   set up and run the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
TEST_WORKERS ?= 2

.PHONY: run setup install system-deps browser-deps clients migrate demo test fuzz lint format check clean faults

run: setup
	@echo "Connector CRM on http://$(HOST):$(PORT)/  (back office: /admin/, API docs: /api/docs/)"
	$(BIN)/python -m crm.server -b $(HOST) -p $(PORT) crm.asgi:application

setup: install migrate demo
	$(BIN)/python manage.py collectstatic --noinput -v0

install: system-deps $(VENV)/.installed

# Debian packages the Python packages need: libmagic (python-magic types uploads by content).
system-deps:
	@$(PYTHON) -c "import ctypes.util, sys; sys.exit(not ctypes.util.find_library('magic'))" || { \
	  echo "Installing libmagic1 (file type detection)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libmagic1; }

# Debian's Chromium for the browser tests (Playwright drives it; it downloads no browser).
browser-deps:
	@command -v chromium >/dev/null || { \
	  echo "Installing chromium (browser tests)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

# The real npm clients the tests drive (socket.io-client 4, ws), as the lock file pins them.
clients: clients/node_modules/.installed

clients/node_modules/.installed: clients/package.json clients/package-lock.json
	cd clients && npm ci --silent --no-audit --no-fund
	touch $@

migrate: install
	$(BIN)/python manage.py migrate --noinput

demo: install
	$(BIN)/python manage.py seed_demo

test: install browser-deps clients
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# Schemathesis against every operation of /api/schema/ (as an admin and a customer of a tenant
# of its own): no 5xx, every response as the schema says. FUZZ_EXAMPLES per operation and role.
FUZZ_EXAMPLES ?= 10
fuzz: install
	LOG_LEVEL=ERROR FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -q -s $(PYTEST_ARGS) crm/tests/fuzz_api.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

check: install
	$(BIN)/python manage.py makemigrations --check --dry-run
	DJANGO_ENV=production SECRET_KEY=$$(head -c 48 /dev/urandom | base64) \
	  ALLOWED_HOSTS=crm.example.com $(BIN)/python manage.py check --deploy --fail-level WARNING

clean:
	rm -rf $(VENV) staticfiles db.sqlite3 db.sqlite3-wal db.sqlite3-shm var clients/node_modules

# Faults under load on a private stack (PostgreSQL database, redis-server, moto S3): Redis
# stopped, PostgreSQL cut, a worker killed mid-upload, each web process restarted. At most 10 min.
faults: install
	$(BIN)/python faults/run.py $(FAULTS_ARGS)
