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

.PHONY: setup demo test ui s3-start s3-stop lint generate docs clean bench

setup: $(STAMP)  ## virtualenv from the lock file, generated files checked, dbt manifest parsed
	@$(PY) -m pipelines.cli generate --check
	@$(PY) -c "from pipelines.dbt_assets import ensure_manifest; ensure_manifest()"

$(STAMP): requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	@rm -f $(VENV)/.installed-* && touch $@

demo: setup  ## generate exports, submit them as the bureau, run through Dagster, print KPIs
	$(VENV)/bin/shuzhong demo

test: setup  ## the test suite on real components (SeaweedFS, Delta, DuckDB, dbt, GX, Dagster)
	$(VENV)/bin/pytest -q

ui: setup  ## the Dagster UI on http://127.0.0.1:3000 (same instance as the demo)
	@mkdir -p $(DAGSTER_HOME) && cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	$(VENV)/bin/dagster dev -h 127.0.0.1 -p 3000 -m pipelines.definitions

s3-start: setup
	$(VENV)/bin/shuzhong s3 start
s3-stop:
	$(VENV)/bin/shuzhong s3 stop

generate: $(STAMP)  ## regenerate GX suites and dbt sources from data_contracts/
	$(VENV)/bin/shuzhong generate

docs: setup  ## the dbt docs site in dbt_project/target
	cd dbt_project && SHUZHONG_WORK_DB=$${SHUZHONG_WORK_DB:-$(CURDIR)/.state/warehouse/work.duckdb} \
	  ../$(VENV)/bin/dbt docs generate --profiles-dir . --empty-catalog

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:  ## stop the S3 server and remove local state (keeps the virtualenv)
	-$(VENV)/bin/shuzhong s3 stop
	rm -rf .state dbt_project/target dbt_project/logs
