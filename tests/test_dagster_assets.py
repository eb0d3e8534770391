"""The ingestion asset in Dagster: GX rules as asset checks with row numbers, never values."""

from __future__ import annotations

import json

from dagster import DagsterInstance

from pipelines.definitions import defs
from tests.helpers import csv_bytes, submit, ticket

PHONE_BAD = "1390000"
PHONE_GOOD = "13912345678"


def test_asset_checks_report_rules_and_row_numbers_without_values(lake_root, unique):
    rows = [ticket(1, 联系电话=PHONE_GOOD), ticket(2, 联系电话=PHONE_BAD), ticket(3, 所属区县="123456")]
    obj = submit(f"hotline/tickets/2026-03-05/{unique}.csv", csv_bytes(rows, "gbk"))
    instance = DagsterInstance.ephemeral()
    result = defs.resolve_job_def("ingest_hotline__tickets").execute_in_process(
        run_config={"ops": {"raw__hotline__tickets": {"config": {"objects": [{"key": obj.key, "etag": obj.etag}]}}}},
        instance=instance,
    )
    assert result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks["caller_phone__phone"].passed
    meta = checks["caller_phone__phone"].metadata
    assert meta["failing_count"].value == 1
    assert meta["failing_row_numbers"].value == {obj.key: [3]}
    assert checks["district_code__enum"].metadata["failing_row_numbers"].value == {obj.key: [4]}
    assert checks["ticket_id__pattern"].passed and checks["file__readable"].passed
    (mat,) = result.asset_materializations_for_node("raw__hotline__tickets")
    assert mat.metadata["rows_accepted"].value == 1 and mat.metadata["rows_quarantined"].value == 2

    # Nothing in the run's event log (logs, metadata, check results) shows a phone number.
    events = instance.all_logs(result.run_id)
    dump = json.dumps([str(e) for e in events], ensure_ascii=False)
    assert PHONE_BAD not in dump and PHONE_GOOD not in dump


def test_an_ingestion_run_logs_each_file_in_few_events(lake_root, unique):
    objs = [
        submit(f"hotline/tickets/2026-03-05/{unique}-{i}.csv", csv_bytes([ticket(i, 联系电话=PHONE_GOOD)], "gbk"))
        for i in range(1, 9)
    ]
    instance = DagsterInstance.ephemeral()
    config = {"objects": [{"key": o.key, "etag": o.etag} for o in objs]}
    result = defs.resolve_job_def("ingest_hotline__tickets").execute_in_process(
        run_config={"ops": {"raw__hotline__tickets": {"config": config}}}, instance=instance
    )
    assert result.success
    messages = [e.user_message for e in instance.all_logs(result.run_id) if e.user_message]
    mentioning = [m for m in messages if any(o.key in m for o in objs)]
    for o in objs:  # every file's progress line and receipt line are in the run's log ...
        assert any(f"{o.key}: read, 1 rows" in m for m in mentioning), o.key
        assert any(f"{o.key}: accepted, received 1, accepted 1" in m for m in mentioning), o.key
    assert len(mentioning) <= 4  # ... in a few events (one per 2 s at most), not two per file (16)


def test_batched_log_flushes_by_lines_by_time_and_at_the_end():
    from pipelines.defs.ingestion.assets import BatchedLog

    sent: list[str] = []
    log = BatchedLog(sent.append, seconds=3600, max_lines=3)
    for i in range(7):
        log(f"line {i}")
    assert sent == ["line 0\nline 1\nline 2", "line 3\nline 4\nline 5"]
    log.flush()
    assert sent[-1] == "line 6" and len(sent) == 3
    log.flush()  # nothing pending: no empty event
    assert len(sent) == 3
    timed = BatchedLog(sent.append, seconds=0.0, max_lines=1000)
    timed("now")
    assert sent[-1] == "now"


def test_the_transform_waits_for_reprocess_runs_too():
    """visible_through holds only while no run that writes raw rows is active: reprocess runs too."""
    from dagster import AssetMaterialization, DagsterInstance, DagsterRunStatus, build_sensor_context, job, op

    from pipelines.contracts import all_contracts
    from pipelines.defs.ingestion import sensors
    from pipelines.defs.ingestion.assets import raw_asset_key

    @op
    def noop():
        return None

    @job(tags={"shuzhong/kind": "reprocess"})
    def reprocess_like():
        noop()

    instance = DagsterInstance.ephemeral()
    instance.report_runless_asset_event(AssetMaterialization(raw_asset_key(all_contracts()["hotline.tickets"])))
    run = instance.create_run_for_job(
        job_def=reprocess_like, status=DagsterRunStatus.STARTED, tags={"shuzhong/kind": "reprocess"}
    )
    skipped = sensors.transform_sensor(build_sensor_context(instance=instance))
    assert "waiting for 1 ingestion or reprocess run(s)" in skipped.skip_message
    instance.report_run_failed(run)
    (request,) = sensors.transform_sensor(build_sensor_context(instance=instance)).run_requests
    assert "shuzhong/visible_through" in request.tags
