# Kasagi: `make run` starts a node on http://localhost:8080/, `make test` runs every test.
# Both create the virtualenv from requirements.lock first if it is missing or stale.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8080
DATA_DIR ?= data
# Interface of `make run` (empty: 127.0.0.1 in dev mode, every interface with KASAGI_SECRET).
HOST ?=
PYTEST_ARGS ?=

.PHONY: run test test-fast test-overload test-heavy test-js lint typecheck venv js chromium clean soak

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24" "setuptools>=70.1" wheel
	$(PY) -m pip install --quiet -r requirements.lock
	# bjdata (UBJSON) must be built against the NumPy 2 of this venv, or it fails to import.
	$(PY) -m pip install --quiet --no-cache-dir --force-reinstall --no-deps --no-build-isolation bjdata==0.6.6
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

# The browser SDK's npm packages (package-lock.json); the page's copies go to web/vendor/.
js: web/vendor/autobahn.min.js web/vendor/sha256.min.js

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

web/vendor/autobahn.min.js: node_modules/.installed
	mkdir -p web/vendor
	cp node_modules/autobahn-browser/autobahn.min.js $@

web/vendor/sha256.min.js: node_modules/.installed
	mkdir -p web/vendor
	cp node_modules/js-sha256/build/sha256.min.js $@

# Debian's Chromium for the browser tests (Playwright's own browser download is not used).
chromium: /usr/bin/chromium

/usr/bin/chromium:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium

run: venv js
	$(VENV)/bin/kasagi up --port $(PORT) --data-dir $(DATA_DIR) $(if $(HOST),--host $(HOST))

test: venv js chromium lint test-js
	$(PY) -m pytest $(PYTEST_ARGS)

test-js: js
	node --test tests/js/

test-fast: venv
	$(PY) -m pytest tests/unit tests/glue $(PYTEST_ARGS)

test-overload: venv
	$(PY) -m pytest -m overload tests/overload $(PYTEST_ARGS)

test-heavy: venv
	$(PY) -m pytest -m heavy --run-heavy $(PYTEST_ARGS)

# Load A for SOAK_MINUTES (default 10) against one node, RSS every 10 s; fails if it keeps growing.
SOAK_MINUTES ?= 10
soak: venv
	$(PY) -m kasagi.bench.soak --minutes $(SOAK_MINUTES)

lint: venv
	$(VENV)/bin/ruff check src components router tests examples
	$(VENV)/bin/ruff format --check src components router tests examples
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) $(DATA_DIR) .pytest_cache .mypy_cache .ruff_cache node_modules web/vendor
