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

.PHONY: run setup install system-deps browser-deps clients messages messages-update messages-check migrate demo test fuzz lint format check clean faults

run: setup
	@echo "Connector CRM on http://$(HOST):$(PORT)/  (back office: /admin/, API docs: /api/docs/)"
	$(BIN)/python -m crm.server -b $(HOST) -p $(PORT) crm.asgi:application

setup: install migrate demo
	$(BIN)/python manage.py collectstatic --noinput -v0

install: system-deps $(VENV)/.installed messages

# Debian packages the Python packages need: libmagic (python-magic types uploads by content),
# gettext (msgfmt compiles the translation catalogs).
system-deps:
	@$(PYTHON) -c "import ctypes.util, sys; sys.exit(not ctypes.util.find_library('magic'))" || { \
	  echo "Installing libmagic1 (file type detection)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libmagic1; }
	@command -v msgfmt >/dev/null || { \
	  echo "Installing gettext (translation catalogs)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gettext; }

# The translation catalogs (locale/*/LC_MESSAGES/*.po) compiled to .mo files, which are not
# committed. After changing texts: `make messages-update`, translate the new entries, commit.
I18N_IGNORE := --ignore=.venv --ignore=staticfiles --ignore=node_modules --ignore=var
messages: $(VENV)/.installed
	$(BIN)/python manage.py compilemessages $(I18N_IGNORE) -v0

messages-update: $(VENV)/.installed
	$(BIN)/python manage.py makemessages -l ru --no-location --no-obsolete $(I18N_IGNORE) \
	  --ignore='*/tests/*' --ignore=benchmarks --ignore=faults --ignore=conftest.py \
	  --ignore='*/conftest.py' --ignore='*/standins/*'
	$(BIN)/python manage.py makemessages -d djangojs -l ru --no-location --no-obsolete \
	  $(I18N_IGNORE) --ignore='*/tests/*' --ignore=benchmarks

# Fails when a catalog has an untranslated or fuzzy entry.
messages-check:
	@for po in locale/*/LC_MESSAGES/*.po; do \
	  stats=$$(msgfmt --check --statistics -o /dev/null "$$po" 2>&1) || { echo "$$po: $$stats"; exit 1; }; \
	  echo "$$po: $$stats"; \
	  case "$$stats" in *untranslated*|*fuzzy*) exit 1;; esac; \
	done

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

check: install messages-check
	$(BIN)/python manage.py makemigrations --check --dry-run
	DJANGO_ENV=production SECRET_KEY=$$(head -c 48 /dev/urandom | base64) \
	  ALLOWED_HOSTS=crm.example.com $(BIN)/python manage.py check --deploy --fail-level WARNING

clean:
	rm -rf $(VENV) staticfiles db.sqlite3 db.sqlite3-wal db.sqlite3-shm var clients/node_modules

# Faults under load on a private stack (PostgreSQL database, redis-server, moto S3): Redis
# stopped, PostgreSQL cut, a worker killed mid-upload, each web process restarted. At most 10 min.
faults: install
	$(BIN)/python faults/run.py $(FAULTS_ARGS)
