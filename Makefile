# Partnerflow: `make run` serves the app with demo data; `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
DATABASE_URL ?= sqlite:///$(CURDIR)/instance/partnerflow.db
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres

export PARTNERFLOW_DATABASE_URL ?= $(DATABASE_URL)

.PHONY: install run test test-sqlite test-postgres lint bench clean browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/partnerflow db upgrade
	$(BIN)/partnerflow deploy
	$(BIN)/partnerflow demo
	$(BIN)/partnerflow worker & WORKER=$$!; \
	trap "kill $$WORKER 2>/dev/null" EXIT INT TERM; \
	$(BIN)/partnerflow run --host 127.0.0.1 --port 5000

lint: install
	$(BIN)/ruff check engine web tests bench
	$(BIN)/lint-imports

test: install browser lint test-sqlite test-postgres

# Browser tests drive Debian's chromium through Playwright (no browser download).
browser:
	@test -x /usr/bin/chromium || { \
	  echo "installing chromium for the browser tests"; \
	  (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 || \
	  echo "chromium could not be installed; browser tests will be skipped"; }

test-sqlite: install
	$(BIN)/pytest -q -p no:cacheprovider

test-postgres: install
	$(BIN)/pytest -q -p no:cacheprovider --db=postgresql -m "not sqlite_only" tests/integration tests/scenarios

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) instance .pytest_cache
