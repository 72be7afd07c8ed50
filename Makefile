# Partnerflow: `make run` serves the app with demo data; `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
DATABASE_URL ?= sqlite:///$(CURDIR)/instance/partnerflow.db
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres

export PARTNERFLOW_DATABASE_URL ?= $(DATABASE_URL)


.PHONY: assets install run test test-sqlite test-postgres lint bench clean browser mutation wrk

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

# Front-end bundles (bpmn-js, dmn-js): rebuilt when the lockfile, sources or build script change.
ASSETS_STAMP := web/static/dist/.stamp
ASSETS_INPUTS := web/assets/package-lock.json web/assets/build.mjs $(wildcard web/assets/src/*.js)

$(ASSETS_STAMP): $(ASSETS_INPUTS)
	cd web/assets && npm ci --no-audit --no-fund --loglevel=error && node build.mjs

assets: $(ASSETS_STAMP)

install: $(STAMP) $(ASSETS_STAMP)

# The session signing key: random, written once to instance/secret_key (mode 0600), reused.
SECRET_KEY_FILE ?= $(CURDIR)/instance/secret_key

run: install
	$(BIN)/partnerflow secret-key $(SECRET_KEY_FILE)
	$(BIN)/partnerflow db upgrade
	$(BIN)/partnerflow deploy
	$(BIN)/partnerflow demo
	$(BIN)/partnerflow worker & WORKER=$$!; \
	trap "kill $$WORKER 2>/dev/null" EXIT INT TERM; \
	PARTNERFLOW_SECRET_KEY_FILE=$(SECRET_KEY_FILE) $(BIN)/partnerflow run --host 127.0.0.1 --port 5000

lint: install
	$(BIN)/ruff check engine web tests bench
	$(BIN)/lint-imports

test: install browser lint test-sqlite test-postgres

# Browser tests drive Debian's chromium through Playwright (no browser download); the PDF
# tests turn pages into PNG and text with poppler-utils.
browser:
	@{ test -x /usr/bin/chromium && command -v pdftoppm >/dev/null; } || { \
	  echo "installing chromium and poppler-utils for the browser and PDF tests"; \
	  (apt-get update -qq && apt-get install -y -qq chromium poppler-utils) >/dev/null 2>&1 || \
	  { echo "chromium or poppler-utils could not be installed (apt-get as root)"; exit 1; }; }

# Two pytest workers (pytest-xdist), one per core: every test builds its own database (a
# SQLite file, or a PostgreSQL database named after a UUID) and serves on its own port.
TEST_WORKERS ?= 2

test-sqlite: install
	$(BIN)/pytest -q -p no:cacheprovider -n $(TEST_WORKERS)

test-postgres: install
	$(BIN)/pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --db=postgresql -m "not sqlite_only" tests/integration tests/scenarios

# The HTTP pass drives gunicorn with wrk (a C client that leaves the cores to the server):
# installed from Debian like chromium for the browser tests.
bench: install wrk
	$(BIN)/python -m bench

wrk:
	@command -v wrk >/dev/null || { \
	  echo "installing wrk for the HTTP pass of the benchmarks"; \
	  (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null 2>&1 || \
	  { echo "wrk could not be installed (apt-get as root): the HTTP pass will say it did not run"; }; }

# Extract the French msgids (web/, templates, forms/*.json), merge them into each catalog, compile.
# New strings arrive untranslated: translate them in web/translations/<lang>/LC_MESSAGES/messages.po
# (tests/unit/test_translations.py fails until they are), then run `make translations` again.
translations: install
	$(BIN)/pybabel extract -F babel.cfg --sort-by-file --no-wrap -c TRANSLATORS: \
		--project Partnerflow --copyright-holder "Partnerflow" -o web/translations/messages.pot .
	$(BIN)/pybabel update -i web/translations/messages.pot -d web/translations --no-wrap --no-fuzzy-matching --ignore-obsolete
	$(BIN)/pybabel compile -d web/translations --statistics

clean:
	rm -rf $(VENV) instance .pytest_cache

# Reliability (soak) suite on PostgreSQL: 32 concurrent completions, 2 workers x 1 000 timers,
# the web server killed with SIGKILL during 200 completions, the form fuzzer. A few minutes.
.PHONY: soak
soak: install
	$(BIN)/pytest -q -s -p no:cacheprovider --db=postgresql -m reliability tests/reliability

# Mutation testing (cosmic-ray), outside `make test`: each module of mutation/*.toml against its
# own tests; prints the score and the surviving mutants (docs/testing.md). Tens of minutes;
# MUTATION_SAMPLE=N keeps a seeded sample of N mutants per module, MODULES="forms" one module.
MODULES ?=
mutation: install
	$(BIN)/python mutation/run.py $(MODULES)
