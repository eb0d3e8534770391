# Zaozhuang municipal data hub — every command a newcomer needs.
#   make demo   set everything up and run the main job on the embedded S3 server
#   make test   set everything up and run the test suite
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha1sum | cut -c1-12)
export DAGSTER_HOME ?= $(CURDIR)/.state/dagster
export PYTHONUNBUFFERED := 1

.PHONY: setup postgres-server redis-server browser web demo test test-fast ui s3-start s3-stop lint lint-sql dbt-debug generate docs clean bench

setup: $(STAMP) postgres-server redis-server browser  ## virtualenv from the lock file, PostgreSQL server, headless Chromium, generated files checked, dbt manifest parsed
	@$(PY) -m pipelines.tools.cli generate --check
	@$(PY) -c "from pipelines.defs.transform.dbt_assets import ensure_manifest; ensure_manifest()"

$(STAMP): requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	@rm -f $(VENV)/.installed-* && touch $@

# The PostgreSQL server binaries (Debian's postgresql package) for the tests' throwaway server
# (pipelines/tools/postgres.py, tests/test_postgres_storage.py). Installed with apt-get when missing
# (needs root, or sudo without a password); no package manager or no permission: a clear error.
PG_BINS = initdb pg_ctl postgres
PG_LIB ?= /usr/lib/postgresql
postgres-server:
	@have() { for d in $(PG_LIB)/*/bin; do \
	    ok=1; for b in $(PG_BINS); do test -x $$d/$$b || ok=; done; test -n "$$ok" && return 0; done; return 1; }; \
	have && exit 0; \
	echo "PostgreSQL server binaries missing: installing Debian's postgresql package"; \
	command -v apt-get >/dev/null || { echo "error: no apt-get here; install the PostgreSQL server (initdb, pg_ctl, postgres under /usr/lib/postgresql/<version>/bin) yourself" >&2; exit 1; }; \
	if [ "$$(id -u)" = 0 ]; then sudo=; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	else echo "error: installing postgresql needs root: run 'sudo apt-get install -y postgresql' and make again" >&2; exit 1; fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	$$sudo apt-get install -y -q --no-install-recommends postgresql >/dev/null 2>&1 || \
	  { $$sudo apt-get update -q >/dev/null && $$sudo apt-get install -y -q --no-install-recommends postgresql; } || \
	  { echo "error: apt-get install postgresql failed (see above)" >&2; exit 1; }; \
	have || { echo "error: postgresql installed but initdb/pg_ctl/postgres not found under $(PG_LIB)/*/bin" >&2; exit 1; }; \
	echo "PostgreSQL server installed"

# Redis (Debian's redis-server), the Celery broker of tests/test_celery_workers.py
# (pipelines/tools/redis_server.py starts a throwaway one on 127.0.0.1). Installed like PostgreSQL.
redis-server:
	@command -v redis-server >/dev/null && exit 0; \
	echo "redis-server missing: installing Debian's redis-server package"; \
	command -v apt-get >/dev/null || { echo "error: no apt-get here; install redis-server (Redis 7) yourself" >&2; exit 1; }; \
	if [ "$$(id -u)" = 0 ]; then sudo=; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	else echo "error: installing redis-server needs root: run 'sudo apt-get install -y redis-server' and make again" >&2; exit 1; fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	$$sudo apt-get install -y -q --no-install-recommends redis-server >/dev/null 2>&1 || \
	  { $$sudo apt-get update -q >/dev/null && $$sudo apt-get install -y -q --no-install-recommends redis-server; } || \
	  { echo "error: apt-get install redis-server failed (see above)" >&2; exit 1; }; \
	command -v redis-server >/dev/null || { echo "error: redis-server installed but not on PATH" >&2; exit 1; }; \
	echo "redis-server installed"

# Headless Chromium and CJK fonts (Debian's chromium, fonts-noto-cjk) for the browser tests of the
# web pages (tests/test_web.py: Playwright drives the system browser, it never downloads one).
# Installed with apt-get when missing (root, or sudo without a password); otherwise a clear error.
BROWSER_PKGS = chromium fonts-noto-cjk
browser:
	@have() { command -v chromium >/dev/null && fc-list 2>/dev/null | grep -qi 'Noto Sans CJK'; }; \
	have && exit 0; \
	echo "Chromium or the CJK fonts missing: installing Debian's $(BROWSER_PKGS)"; \
	command -v apt-get >/dev/null || { echo "error: no apt-get here; install Chromium (a 'chromium' on PATH) and Noto CJK fonts yourself" >&2; exit 1; }; \
	if [ "$$(id -u)" = 0 ]; then sudo=; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	else echo "error: installing $(BROWSER_PKGS) needs root: run 'sudo apt-get install -y $(BROWSER_PKGS)' and make again" >&2; exit 1; fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	$$sudo apt-get install -y -q --no-install-recommends $(BROWSER_PKGS) >/dev/null 2>&1 || \
	  { $$sudo apt-get update -q >/dev/null && $$sudo apt-get install -y -q --no-install-recommends $(BROWSER_PKGS); } || \
	  { echo "error: apt-get install $(BROWSER_PKGS) failed (see above)" >&2; exit 1; }; \
	have || { echo "error: $(BROWSER_PKGS) installed but chromium or the Noto CJK fonts not found" >&2; exit 1; }; \
	echo "Chromium and CJK fonts installed"

web: setup  ## the people's pages (portal, KPI cockpit, catalogue) on http://127.0.0.1:8000 (WEB_PORT=...)
	$(VENV)/bin/shuzhong web --port $(or $(WEB_PORT),8000)

demo: setup  ## generate exports, submit them as the bureau, run through Dagster, print KPIs
	$(VENV)/bin/shuzhong demo

test: setup  ## the test suite on real components (SeaweedFS, Delta, DuckDB, dbt, GX, Dagster), two workers
	$(VENV)/bin/pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=30

test-fast: setup  ## everyday tests without the S3 server, the daemon or dbt builds (contracts, parsing, GX rules, calendar, ...)
	$(VENV)/bin/pytest -q -m "not s3 and not dbt"

dbt-debug: setup  ## dbt debug with the hub's settings (creates the local env file first if missing)
	@test -f $(STATE)/shuzhong.env || $(VENV)/bin/shuzhong init
	$(VENV)/bin/shuzhong dbt debug

lint: $(STAMP)  ## ruff check + ruff format --check + sqlfluff (run by .ci/run before the tests)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@$(MAKE) --no-print-directory lint-sql

# SQLFluff with the dbt templater compiles every model: it needs the profile's environment but
# no warehouse, S3 or secret. The work DB is in memory; the lake URI points at an empty local
# directory (stg_meta__files then finds no registry; sources only render their delta_scan
# path); no S3 endpoint (no secret set up, even when .state/shuzhong.env has one); the PII key
# is a throwaway generated here (the plugin needs one to register its UDFs; nothing is hashed).
# DBT_PROJECT / SQL_PATHS let a test lint a copy of the project.
DBT_PROJECT ?= $(CURDIR)/dbt_project
SQL_PATHS ?= models
lint-sql:  ## sqlfluff lint of the dbt models (dbt templater, DuckDB dialect; config dbt_project/.sqlfluff)
	cd $(DBT_PROJECT) && \
	  SHUZHONG_WORK_DB=:memory: SHUZHONG_LAKE_URI=$(DBT_PROJECT)/target/lint-empty-lake SHUZHONG_S3_ENDPOINT= \
	  SHUZHONG_PII_KEY="lint-only-$$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" \
	  DBT_TARGET_PATH=target/sqlfluff DBT_LOG_PATH=target/sqlfluff/logs PYTHONPATH=$(CURDIR) \
	  $(CURDIR)/$(VENV)/bin/sqlfluff lint $(SQL_PATHS) --processes 2

ui: setup  ## the Dagster UI on http://127.0.0.1:3000 (same instance as the demo)
	@$(PY) -c 'import os, pathlib; from pipelines.tools import dagster_home; dagster_home.prepare(pathlib.Path(os.environ["DAGSTER_HOME"]))'  # + PostgreSQL storage if SHUZHONG_DAGSTER_PG_URL is set
	umask 077 && $(VENV)/bin/dagster dev -h 127.0.0.1 -p 3000  # [tool.dagster] in pyproject.toml: location zaozhuang_hub

s3-start: setup
	$(VENV)/bin/shuzhong s3 start
s3-stop:
	$(VENV)/bin/shuzhong s3 stop

generate: $(STAMP)  ## regenerate GX suites and dbt sources from data_contracts/
	$(VENV)/bin/shuzhong generate

# Parse only (no compile, empty catalog): compiling runs the project's S3 probes and the
# PII plugin, so the site must not need a built warehouse, S3 or SHUZHONG_PII_KEY. The lake
# URI only fills the sources' external_location, the same value the pipeline uses.
docs: $(STAMP)  ## the dbt docs site in dbt_project/target (index.html, static_index.html); no warehouse needed
	cd dbt_project && \
	  export SHUZHONG_LAKE_URI="$$(../$(PY) -c 'from pipelines import settings; print(settings.lake_uri())')" \
	    SHUZHONG_WORK_DB=:memory: && \
	  ../$(VENV)/bin/dbt parse --quiet --profiles-dir . && \
	  ../$(VENV)/bin/dbt docs generate --profiles-dir . --no-compile --empty-catalog --static
	@echo "docs: dbt_project/target/static_index.html (open directly) or \`dbt docs serve\` in dbt_project"

bench: setup  ## the pipeline vs an output-equal polars+DuckDB baseline at two scales, plus one more day
	$(PY) -m pipelines.tools.bench

clean:  ## stop the S3 server and remove local state (keeps the virtualenv)
	-$(VENV)/bin/shuzhong s3 stop
	rm -rf .state dbt_project/target dbt_project/logs
