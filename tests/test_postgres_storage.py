"""Dagster's instance storage on a real PostgreSQL server (SHUZHONG_DAGSTER_PG_URL).

A throwaway server (pipelines/tools/postgres.py: Debian's binaries, a free 127.0.0.1 port, its own
data directory, password auth) holds the run, event-log and schedule storage of an instance
prepared by ``dagster_home.prepare``. One hotline file goes through the landing sensor and
its ingestion run, then the transform sensor's request runs dbt and publishes; the runs and
materializations are read from PostgreSQL's tables directly and back through a new instance.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import psycopg2
import pytest
import yaml
from dagster import AssetKey, DagsterInstance, DagsterRunStatus, build_sensor_context

from pipelines import ingest, settings
from pipelines.contracts import all_contracts
from pipelines.defs.ingestion import sensors
from pipelines.defs.ingestion.assets import raw_asset_key
from pipelines.tools import dagster_home, postgres
from tests.helpers import csv_bytes, planned_objects, query, submit, ticket

CONTRACT = all_contracts()["hotline.tickets"]
PUBLISHED = AssetKey(["published_warehouse"])


@pytest.fixture
def pg_server():
    with postgres.running(database="dagster") as server:
        pid = server.pid()
        yield server
    assert pid and not postgres._alive(pid), "the postmaster was stopped"
    assert not server.root.exists(), "its data directory removed"


def test_sqlite_stays_the_default(tmp_path, monkeypatch):
    monkeypatch.delenv(dagster_home.PG_URL_VAR, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "unused"))
    home = dagster_home.prepare(tmp_path / "dagster")
    assert (home / "dagster.yaml").read_text() == (settings.REPO_ROOT / "dagster.yaml").read_text()
    assert "storage" not in yaml.safe_load((home / "dagster.yaml").read_text())


def test_pg_url_must_name_the_psycopg2_driver(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "unused"))
    monkeypatch.setenv(dagster_home.PG_URL_VAR, "sqlite:///x.db")
    with pytest.raises(ValueError, match=r"postgresql\+psycopg2://user:password@"):
        dagster_home.prepare(tmp_path / "dagster")
    monkeypatch.setenv(dagster_home.PG_URL_VAR, "postgresql://u:p@127.0.0.1:5432/d")  # would need psycopg 3
    with pytest.raises(ValueError, match="psycopg 3"):
        dagster_home.prepare(tmp_path / "dagster")
    assert not (tmp_path / "dagster" / "dagster.yaml").exists()


def _pg(server: postgres.Server, sql: str, *params) -> list[tuple]:
    con = psycopg2.connect(server.dsn)
    try:
        with con.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        con.close()


def test_ingestion_and_transform_on_postgres_storage(pg_server, lake_root, unique, tmp_path, monkeypatch):
    monkeypatch.setenv("SHUZHONG_SENSOR_PAGES", "1000")  # one tick sweeps the whole bucket
    from pipelines.definitions import defs

    started = time.monotonic()
    monkeypatch.setenv("SHUZHONG_WORK_DB", str(tmp_path / "work.duckdb"))
    monkeypatch.setenv("SHUZHONG_PUBLISHED_DB", str(tmp_path / "published" / "warehouse.duckdb"))
    monkeypatch.setenv("SHUZHONG_PUBLISHED_URI", f"s3://{settings.buckets().published}/t-{unique}")
    monkeypatch.setenv(dagster_home.PG_URL_VAR, pg_server.url)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "unused"))  # restored after the test
    home = dagster_home.prepare(tmp_path / "dagster")

    text = (home / "dagster.yaml").read_text()
    assert pg_server.password not in text and "127.0.0.1" not in text  # the URL stays in the environment
    config = yaml.safe_load(text)
    assert config["storage"] == {"postgres": {"postgres_url": {"env": dagster_home.PG_URL_VAR}}}
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"  # the rest of the repo's file

    instance = DagsterInstance.get()
    try:
        assert {
            type(s).__name__ for s in (instance.run_storage, instance.event_log_storage, instance.schedule_storage)
        } == {"PostgresRunStorage", "PostgresEventLogStorage", "PostgresScheduleStorage"}

        key = f"hotline/tickets/2026-03-05/{unique}.csv"
        submit(key, csv_bytes([ticket(1, 诉求内容=f"存储测试 {unique}"), ticket(2)]))  # bytes no other test sends
        (request,) = [
            r
            for r in sensors.landing_sensor(build_sensor_context(instance=instance)).run_requests
            if any(o["key"] == key for o in planned_objects(r))
        ]
        ingested = defs.resolve_job_def(request.job_name).execute_in_process(
            run_config=request.run_config, instance=instance, tags=request.tags
        )
        assert ingested.success
        assert ingest.read_receipt(key)["status"] == "accepted"

        # The transform sensor finds the new materialization in PostgreSQL and asks for a full build.
        asked = datetime.now(UTC)
        result = sensors.transform_sensor(build_sensor_context(instance=instance))
        (transform,) = result.run_requests
        visible_through = datetime.fromisoformat(transform.tags["shuzhong/visible_through"])
        assert asked <= visible_through <= datetime.now(UTC)
        transformed = defs.resolve_job_def(sensors.TRANSFORM_JOB).execute_in_process(
            instance=instance, tags=transform.tags, asset_selection=transform.asset_selection
        )
        assert transformed.success
        # dbt got it (SHUZHONG_VISIBLE_THROUGH): the incremental facts' build marks
        marks = query(tmp_path / "work.duckdb", "select model_name, visible_through from hub_build_marks")
        assert {m for m, _ in marks} >= {"fct_traffic_flow_5min", "fct_pipe_pressure_hourly"}
        assert {t for _, t in marks} == {visible_through}
    finally:
        instance.dispose()

    # In PostgreSQL's own tables, read without Dagster.
    runs = dict(_pg(pg_server, "SELECT run_id, status FROM runs"))
    assert runs == {ingested.run_id: "SUCCESS", transformed.run_id: "SUCCESS"}
    materialized = _pg(
        pg_server,
        "SELECT run_id, asset_key FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION' ORDER BY id",
    )
    by_run: dict[str, set[str]] = {}
    for run_id, asset_key in materialized:
        by_run.setdefault(run_id, set()).add(AssetKey.from_db_string(asset_key).to_user_string())
    assert by_run[ingested.run_id] == {"raw/hotline/tickets"}
    assert {"fct_hotline_tickets", "kpi_hotline_monthly", "published_warehouse"} <= by_run[transformed.run_id]
    assert _pg(pg_server, "SELECT count(*) FROM event_logs WHERE run_id = %s", transformed.run_id)[0][0] > 50
    tables = {t for (t,) in _pg(pg_server, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"runs", "event_logs", "asset_keys", "instigators", "job_ticks"} <= tables  # schedule storage too
    assert not list(home.rglob("*.db")), "no SQLite storage in DAGSTER_HOME"

    # A new instance from the same home reads them back.
    with DagsterInstance.get() as again:
        assert again.get_run_by_id(ingested.run_id).status == DagsterRunStatus.SUCCESS
        assert again.get_run_by_id(transformed.run_id).tags["shuzhong/kind"] == "transform"
        assert again.get_latest_materialization_event(raw_asset_key(CONTRACT)).run_id == ingested.run_id
        published = again.get_latest_materialization_event(PUBLISHED)
        assert published.run_id == transformed.run_id
        assert published.asset_materialization.metadata["tables"].data["fct_hotline_tickets"] >= 2
        # The sensors' view: nothing new since the transform once its cursor is past it.
        cursor = sensors.transform_sensor(build_sensor_context(instance=again)).cursor
        assert sensors.transform_sensor(build_sensor_context(instance=again, cursor=cursor)).skip_message
    print(f"ingestion + transform on PostgreSQL storage: {time.monotonic() - started:.0f} s")
