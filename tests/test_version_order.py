"""Landing never replaces a newer version of a key with an older one.

v1 is planned by the sensor, v2 is uploaded and ingested, then the v1 run executes: raw holds v2's
rows and the key's receipt stays v2's (nothing claims that v1 replaced v2)."""

from __future__ import annotations

import time
from datetime import datetime

import polars as pl
import pytest
from dagster import DagsterInstance, build_sensor_context

from pipelines import ingest, lake
from pipelines.contracts import all_contracts
from pipelines.definitions import defs
from pipelines.defs.ingestion import sensors
from tests.helpers import csv_bytes, planned_objects, submit, ticket

CONTRACT = all_contracts()["hotline.tickets"]


@pytest.fixture(autouse=True)
def _whole_sweep(monkeypatch):
    monkeypatch.setenv("SHUZHONG_SENSOR_PAGES", "1000")  # one tick sweeps the whole bucket (other tests' keys)


def _planned(instance: DagsterInstance, key: str) -> tuple:
    (request,) = [
        r
        for r in sensors.landing_sensor(build_sensor_context(instance=instance)).run_requests
        if any(o["key"] == key for o in planned_objects(r))
    ]
    # Only this test's object (the request may also carry other tests' objects of the prefix).
    obj = next(o for o in planned_objects(request) if o["key"] == key)
    ((op, cfg),) = request.run_config["ops"].items()
    run_config = {"ops": {op: {"config": {**cfg["config"], "objects": [obj]}}}}
    return request, run_config, obj


def _raw_ids(key: str) -> list[str]:
    raw = lake.read_table(lake.raw_uri(CONTRACT))
    return sorted(raw.filter(pl.col("_source_key") == key)["ticket_id"].to_list())


def test_planned_old_version_run_after_newer_one_landed_changes_nothing(lake_root, unique):
    key = f"hotline/tickets/2026-03-05/{unique}.csv"
    v1 = submit(key, csv_bytes([ticket(1)]))
    instance = DagsterInstance.ephemeral()
    request, run_config, planned = _planned(instance, key)  # v1 planned, its run not yet started
    assert planned["etag"] == v1.etag
    time.sleep(1.1)  # S3 modified times have one-second resolution
    v2 = submit(key, csv_bytes([ticket(2), ticket(3)]))
    v2_receipt = ingest.process(v2, run_id="v2")  # v2 is ingested first
    assert v2_receipt.status == "accepted"

    result = defs.resolve_job_def(request.job_name).execute_in_process(
        run_config=run_config, instance=instance, tags=request.tags
    )  # now the v1 run
    assert result.success
    assert _raw_ids(key) == ["ZZ12345-20260305-000002", "ZZ12345-20260305-000003"]
    receipt = ingest.read_receipt(key)
    assert receipt["etag"] == v2.etag and receipt["run_id"] == "v2"
    logs = " ".join(str(e.user_message) for e in instance.all_logs(result.run_id))
    assert f"{key}@{v1.etag}: not landed" in logs


def test_old_version_read_before_newer_one_landed_is_not_committed(lake_root, unique):
    """The overlap inside a run: v1's bytes were read, then v2 landed; v1's commit must not replace v2."""
    key = f"hotline/tickets/2026-03-05/{unique}.csv"
    v1_bytes = csv_bytes([ticket(1)])
    v1 = submit(key, v1_bytes)
    head = ingest.LandingObject(
        v1.key,
        v1.etag,
        v1.size,
        datetime.fromisoformat(next(o for o in sensors.list_landing() if o["key"] == key)["last_modified"]),
    )
    time.sleep(1.1)
    v2 = submit(key, csv_bytes([ticket(2), ticket(3)]))
    assert ingest.process(v2, run_id="v2").status == "accepted"

    result = ingest.process_batch([head], "v1", data={key: v1_bytes})  # v1's bytes, already downloaded
    assert result.superseded == {key: v1.etag} and not result.receipts and not result.errors
    assert _raw_ids(key) == ["ZZ12345-20260305-000002", "ZZ12345-20260305-000003"]
    assert ingest.read_receipt(key)["etag"] == v2.etag
    registry = lake.registry().filter(pl.col("source_key") == key)
    assert registry["source_etag"].to_list() == [v2.etag]
