# Sparkroom: `make run` starts the app, `make test` runs every test. Both set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NPM_STAMP := frontend/node_modules/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/sparkroom
TEST_REDIS_URL ?= redis://127.0.0.1:6379/5
WEB_PROCESSES ?= $(shell nproc 2>/dev/null || echo 2)
WS_PROCESSES ?= 0

.PHONY: run serve-host test setup lock frontend migrate lint format bench worker clean

run: setup migrate
	bash scripts/ensure_bubblewrap.sh
	bash scripts/ensure_git.sh
	$(BIN)/python -m workspace.serve -b $(HOST) -p $(PORT)

# Production topology on one host (needs DATABASE_URL, REDIS_URL, SECRET_KEY): HAProxy on $(HOST):$(PORT) in front
# of WEB_PROCESSES web processes (Daphne), and a Celery worker; installs HAProxy if missing. Ctrl+C stops everything.
# WS_PROCESSES=N: /ws/yjs/ on N uvicorn processes instead (workspace.serve_ws; docs/benchmarks.md has the figures).
serve-host: setup
	$(BIN)/python -m workspace.host --web-processes $(WEB_PROCESSES) --ws-processes $(WS_PROCESSES) \
		--bind $(HOST) --port $(PORT)

setup: $(STAMP) frontend

# requirements.txt: the top-level pins, edited by hand. requirements.lock: every package, pinned with its hashes,
# compiled from it by `make lock` (with the uv pinned in requirements.txt); installs come from the lock.
$(STAMP): requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --require-hashes -r requirements.lock
	touch $@

# Keeps the lock's other pins where they are; `make lock LOCK_ARGS=--upgrade` moves them to the newest allowed.
lock:
	test -x $(BIN)/pip || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "$$(grep -E '^uv==' requirements.txt | cut -d' ' -f1)"
	$(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" $(LOCK_ARGS) requirements.txt -o requirements.lock

$(NPM_STAMP): frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund --loglevel=error
	touch $@

frontend: $(NPM_STAMP)
	cd frontend && node build.mjs

migrate: $(STAMP)
	$(BIN)/python manage.py migrate --noinput -v 0

worker: setup
	$(BIN)/celery -A tasks worker -l INFO

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

# Full suite against PostgreSQL + Redis (started if down), production mode with a SECRET_KEY made for this run,
# then the embedded-default subset (SQLite + in-memory channel layer; its key is the generated .data/secret_key).
test: setup
	bash scripts/ensure_services.sh
	bash scripts/ensure_chromium.sh
	bash scripts/ensure_bubblewrap.sh
	bash scripts/ensure_proxy.sh
	bash scripts/ensure_git.sh
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) SECRET_KEY=$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))') \
		$(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS)
	env -u DATABASE_URL -u REDIS_URL -u CELERY_BROKER_URL $(BIN)/pytest -q -p no:cacheprovider -m embedded $(PYTEST_ARGS)

# Benchmarks (not part of `make test`): each prints its figures beside a reference measured in the same run.
bench: setup migrate
	bash scripts/ensure_services.sh
	$(BIN)/python bench/collab.py
	$(BIN)/python bench/spark.py
	$(BIN)/python bench/import.py
	$(BIN)/python bench/jobs.py
	$(BIN)/python bench/pycrdt_append.py

clean:
	rm -rf $(VENV) frontend/node_modules frontend/static/dist staticfiles
