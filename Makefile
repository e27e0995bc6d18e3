# LeadTrail: `make run` serves the product on SQLite with a demo site; `make test` runs
# every check. Both set up what they need first (virtualenv, packages, Chromium).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell md5sum pyproject.toml | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: install run test lint unit chromium redis pg-hll segment-js axe bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium for the browser tests (Playwright cannot download its own here).
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

# Redis for the fleet-mode sign-in throttling tests (LEADTRAIL_TEST_REDIS_URL overrides).
redis:
	@command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; }
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null

# PostgreSQL's hll extension (Debian's postgresql-NN-hll) on the local server, for the
# approximate unique-visitor tests (tests/api/test_visitor_sketches.py).
pg-hll:
	@ls /usr/share/postgresql/*/extension/hll.control >/dev/null 2>&1 || ! test -d /etc/postgresql || { apt-get update -qq && apt-get install -y -qq $$(ls /etc/postgresql | sed 's/^/postgresql-/; s/$$/-hll/') >/dev/null; }

# Segment's analytics.js (@segment/analytics-next from npm, pinned by the lock file) bundled
# locally for the browser contract test: the test page never loads Segment's CDN.
SEGMENT_JS_DIR := tests/e2e/segment_js
SEGMENT_JS := build/segment/analytics-next.js
$(SEGMENT_JS): $(SEGMENT_JS_DIR)/package.json $(SEGMENT_JS_DIR)/package-lock.json $(SEGMENT_JS_DIR)/entry.js
	@command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; }
	cd $(SEGMENT_JS_DIR) && npm ci --no-audit --no-fund --loglevel=error
	$(SEGMENT_JS_DIR)/node_modules/.bin/esbuild $(SEGMENT_JS_DIR)/entry.js --bundle --format=iife --log-level=warning --outfile=$@

segment-js: $(SEGMENT_JS)

# axe-core (npm, pinned by the lock file) for the dashboard's accessibility test; injected
# into Chromium by the test, never served by LeadTrail.
AXE_DIR := tests/e2e/axe
AXE_JS := $(AXE_DIR)/node_modules/axe-core/axe.min.js
$(AXE_JS): $(AXE_DIR)/package.json $(AXE_DIR)/package-lock.json
	@command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; }
	cd $(AXE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

axe: $(AXE_JS)

run: install
	$(BIN)/leadtrail db upgrade
	$(BIN)/leadtrail sites demo
	$(BIN)/leadtrail demo
	LEADTRAIL_DEMO=1 $(BIN)/leadtrail serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy tracker attribution crm_sync

test: install chromium redis pg-hll segment-js axe lint
	mkdir -p build
	$(BIN)/pytest -n 2 --junitxml=build/junit.xml $(PYTEST_ARGS)

unit: install
	$(BIN)/pytest tests/unit -q

bench: install
	$(BIN)/python bench/collector.py
	$(BIN)/python bench/attribution.py
	$(BIN)/python bench/reports.py
	$(BIN)/python bench/settings.py

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache leadtrail.db leadtrail.db-* leadtrail.db.secret-key
