"""Per-object size cap (checked from the listing size, before download) and the run time limit tag."""

from __future__ import annotations

from dagster import DagsterInstance, build_sensor_context

from pipelines import ingest
from pipelines.definitions import defs
from pipelines.defs.ingestion import sensors
from tests.helpers import csv_bytes, planned_objects, submit, ticket


def test_oversize_object_is_rejected_from_its_listing_size_through_the_real_run(lake_root, unique, monkeypatch):
    monkeypatch.setenv("SHUZHONG_MAX_OBJECT_MB", "1")
    monkeypatch.setenv("SHUZHONG_SENSOR_PAGES", "1000")  # one tick sweeps the whole bucket (other tests' keys)
    key = f"hotline/tickets/2026-03-05/{unique}-big.csv"
    small = f"hotline/tickets/2026-03-05/{unique}-small.csv"
    submit(key, csv_bytes([ticket(n) for n in range(1, 15000)]))  # > 1 MB
    submit(small, csv_bytes([ticket(1 + int(unique[:5], 16) % 999_000)]))  # bytes no other test sent (no duplicate)
    instance = DagsterInstance.ephemeral()
    requests = [
        r
        for r in sensors.landing_sensor(build_sensor_context(instance=instance)).run_requests
        if any(unique in o["key"] for o in planned_objects(r))
    ]
    (request,) = requests
    assert request.tags["dagster/max_runtime"] == "1800"  # SHUZHONG_MAX_RUN_SECONDS, enforced by run monitoring
    result = defs.resolve_job_def(request.job_name).execute_in_process(
        run_config=request.run_config, instance=instance, tags=request.tags
    )
    assert result.success
    big = ingest.read_receipt(key)
    assert big["status"] == "rejected" and "超过上限" in big["reason"] and big["rows_received"] == 0
    assert str(2**20) in big["reason"]
    assert ingest.read_receipt(small)["status"] == "accepted"
    run = instance.get_run_by_id(result.run_id)
    assert run.tags["dagster/max_runtime"] == "1800"  # the job's run time limit (SHUZHONG_MAX_RUN_SECONDS)
