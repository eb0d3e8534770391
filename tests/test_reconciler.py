"""Every requested object version ends with a receipt: failed ingestion runs are retried one object
per run by ``receipt_reconciler``, and after SHUZHONG_MAX_INGEST_ATTEMPTS get a ``failed`` receipt.

Failures are real runs failing on a real Dagster instance: ``SHUZHONG_FAIL_AT=download``
(pipelines/faults.py) makes the download raise, as an S3 outage or a poison file would."""

from __future__ import annotations

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter, build_sensor_context

from pipelines import ingest
from pipelines.definitions import defs
from pipelines.defs.ingestion import sensors
from tests.helpers import csv_bytes, submit, ticket


def _execute(instance: DagsterInstance, requests) -> list[bool]:
    """Run each request as Dagster would (same job, config and tags), on ``instance``."""
    return [
        defs.resolve_job_def(r.job_name)
        .execute_in_process(run_config=r.run_config, instance=instance, tags=r.tags, raise_on_error=False)
        .success
        for r in requests
    ]


def _mine(requests, unique: str) -> list:
    return [
        r
        for r in requests
        if any(unique in o["key"] for o in next(iter(r.run_config["ops"].values()))["config"]["objects"])
    ]


def _reconcile(instance: DagsterInstance, cursor: str | None):
    result = sensors.receipt_reconciler(build_sensor_context(instance=instance, cursor=cursor))
    return list(result.run_requests or []), result.cursor


def test_failed_batch_is_retried_one_object_per_run_and_then_lands(lake_root, unique, monkeypatch):
    keys = [f"hotline/tickets/2026-03-05/{unique}-{n}.csv" for n in range(2)]
    versions = {k: submit(k, csv_bytes([ticket(n + 1)])).etag for n, k in enumerate(keys)}
    instance = DagsterInstance.ephemeral()
    planned = _mine(sensors.landing_sensor(build_sensor_context(instance=instance)).run_requests, unique)
    assert len(planned) == 1  # one batch of both objects
    monkeypatch.setenv("SHUZHONG_FAIL_AT", "download")  # an outage for the run
    assert _execute(instance, planned) == [False]
    monkeypatch.delenv("SHUZHONG_FAIL_AT")
    assert all(ingest.read_receipt(k) is None for k in keys)  # before: silence

    retries, cursor = _reconcile(instance, None)
    retries = _mine(retries, unique)
    assert len(retries) == 2 and all(r.tags[sensors.ATTEMPT_TAG] == "2" for r in retries)
    assert sorted(r.tags["shuzhong/first_key"] for r in retries) == keys
    assert len({r.run_key for r in retries}) == 2 and all(":retry2:" in r.run_key for r in retries)
    assert _execute(instance, retries) == [True, True]
    assert {k: ingest.read_receipt(k)["etag"] for k in keys} == versions
    assert {ingest.read_receipt(k)["status"] for k in keys} == {"accepted"}
    again, _ = _reconcile(instance, cursor)
    assert _mine(again, unique) == []  # settled: nothing more to retry


def test_after_max_attempts_a_failed_receipt_is_written(lake_root, unique, monkeypatch):
    monkeypatch.setenv("SHUZHONG_MAX_INGEST_ATTEMPTS", "3")
    key = f"hotline/tickets/2026-03-05/{unique}-poison.csv"
    etag = submit(key, csv_bytes([ticket(1, 联系电话="13800001234")])).etag
    instance = DagsterInstance.ephemeral()
    requests = _mine(sensors.landing_sensor(build_sensor_context(instance=instance)).run_requests, unique)
    cursor = None
    for attempt in (1, 2, 3):
        assert len(requests) == 1
        assert requests[0].tags.get(sensors.ATTEMPT_TAG, "1") == str(attempt)
        monkeypatch.setenv("SHUZHONG_FAIL_AT", "download")
        assert _execute(instance, requests) == [False]
        monkeypatch.delenv("SHUZHONG_FAIL_AT")
        requests, cursor = _reconcile(instance, cursor)
        requests = _mine(requests, unique)
    assert requests == []
    receipt = ingest.read_receipt(key)
    assert receipt["status"] == "failed" and receipt["etag"] == etag
    assert "处理失败" in receipt["reason"] and "13800001234" not in str(receipt)
    failed = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.FAILURE]))
    assert len([r for r in failed if any(o["key"] == key for o in sensors._run_objects(r)[1])]) == 3
    later, _ = _reconcile(instance, None)  # rereading every failed run: the receipt settles it
    assert _mine(later, unique) == []


def test_objects_of_a_canceled_run_are_retried(lake_root, unique):
    """A run canceled (by hand, or by run monitoring past its max run time) leaves its objects
    without receipts: the reconciler re-requests them like those of a failed run."""
    key = f"hotline/tickets/2026-03-05/{unique}-canceled.csv"
    submit(key, csv_bytes([ticket(1, 诉求内容=f"canceled {unique}")]))
    instance = DagsterInstance.ephemeral()
    (planned,) = _mine(sensors.landing_sensor(build_sensor_context(instance=instance)).run_requests, unique)
    job = defs.resolve_job_def(planned.job_name)
    run = instance.create_run_for_job(job, run_config=planned.run_config, tags={**job.tags, **planned.tags})
    instance.report_run_canceled(run)
    assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.CANCELED
    retries, _ = _reconcile(instance, None)
    (retry,) = _mine(retries, unique)
    assert retry.tags[sensors.ATTEMPT_TAG] == "2" and retry.tags["shuzhong/retry_of"] == run.run_id
    assert _execute(instance, [retry]) == [True]
    assert ingest.read_receipt(key)["status"] == "accepted"
