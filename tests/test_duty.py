"""On duty: submission freshness checks on the working-day calendar, 催报 reminders into the bureau's
receipts prefix, e-mail through a real local SMTP server (aiosmtpd), run-failure e-mail and the daily
settlement schedule.

Deadlines by hand from the State Council's 2026 notice: 国庆节 10月1日至7日放假调休，9月20日（周日）、
10月10日（周六）上班; 劳动节 5月1日至5日放假调休，5月9日（周六）上班.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
import threading
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pyarrow as pa
import pytest
from botocore.exceptions import ClientError
from dagster import (
    AssetSelection,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    Definitions,
    RunRequest,
    RunStatusSensorContext,
    SensorResult,
    build_run_status_sensor_context,
    build_schedule_context,
    build_sensor_context,
    define_asset_job,
    job,
    op,
)

from pipelines import alerts, deadlines, lake, s3, settings
from pipelines.contracts import get_contract
from pipelines.defs.operations import duty, status
from tests.helpers import csv_bytes, submit, submit_and_ingest

SH = ZoneInfo("Asia/Shanghai")
HOTLINE = get_contract("hotline", "tickets")
AIR = get_contract("ecology", "air_quality_hourly")
GRIDS = get_contract("grid", "grids")
HEADER_ONLY = csv_bytes([], header=["工单编号", "受理时间", "事项分类", "所属区县", "诉求内容", "首接单位"])


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH)


def day(text: str) -> date:
    return date.fromisoformat(text)


def _rows(files: list[tuple[str, str, str]]) -> list[dict]:
    """Registry rows of (dataset key, business date, status), uploaded the day after, 08:00."""
    rows = []
    for i, (dataset, business_date, state) in enumerate(files):
        bureau, name = dataset.split(".")
        key = f"{bureau}/{name}/{business_date}/f{i}.csv"
        up = datetime.combine(day(business_date) + timedelta(days=1), datetime.min.time(), SH) + timedelta(hours=8)
        rows.append(
            {
                "source_key": key,
                "source_etag": f"e{i}",
                "file_sha256": hashlib.sha256(key.encode()).hexdigest(),
                "bureau": bureau,
                "dataset": name,
                "business_date": day(business_date),
                "status": state,
                "rows_received": 1,
                "rows_accepted": 1 if state == "accepted" else 0,
                "rows_quarantined": 0,
                "rows_superseded": 0,
                "raw_table_version": i,
                "contract_version": "1.0.0",
                "uploaded_at": up.astimezone(UTC),
                "processed_at": up.astimezone(UTC),
                "run_id": f"r{i}",
                "receipt_key": f"{key}.receipt.json",
                "reason": None,
            }
        )
    return rows


def registry(files: list[tuple[str, str, str]]) -> pl.DataFrame:
    return pl.from_arrow(pa.Table.from_pylist(_rows(files), schema=lake.REGISTRY_SCHEMA))


def dates(first: str, last: str) -> list[str]:
    start, end = day(first), day(last)
    return [str(start + timedelta(days=n)) for n in range((end - start).days + 1)]


# -- deadlines as the freshness check sees them (no S3) ---------------------------------------


def test_national_day_week_and_its_make_up_working_day():
    reg = registry([("hotline.tickets", "2026-09-28", "accepted"), ("hotline.tickets", "2026-09-29", "duplicate")])

    # In the holiday: 09-30 is due on the first working day after it, 10-08 09:00 — not late yet.
    t = deadlines.evaluate(HOTLINE, reg, at(2026, 10, 5, 12))
    result = duty.check_result(t)
    assert result.passed and t.missed == ()
    meta = {k: getattr(v, "value", v) for k, v in result.metadata.items()}
    assert meta["expected_business_date"] == "2026-09-29"  # the no-op identical file counts
    assert meta["expected_deadline"] == "2026-09-30 09:00"
    assert meta["expected_status"] == "on_time"
    assert (meta["next_business_date"], meta["next_deadline"]) == ("2026-09-30", "2026-10-08 09:00")
    assert meta["last_submission_business_date"] == "2026-09-29"
    assert meta["last_submission_uploaded_at"] == "2026-09-30 08:00"
    assert meta["calendar_starts"] == "2026-09-28" and meta["day_basis"] == "working"

    # 10-08 09:00 passes: 09-30 and every holiday date (all due 10-08 09:00) are late; nothing before
    # the first submission (09-28) ever is.
    t = deadlines.evaluate(HOTLINE, reg, at(2026, 10, 8, 9, 30))
    assert [str(d.business_date) for d in t.missed] == dates("2026-09-30", "2026-10-07")
    assert {d.deadline for d in t.missed} == {at(2026, 10, 8, 9)}
    result = duty.check_result(t)
    assert not result.passed and "8 business date(s)" in result.description
    assert deadlines.evaluate(HOTLINE, reg, at(2026, 10, 8, 8, 59)).missed == ()

    # Saturday 10-10 is a make-up working day: 10-09 is due that morning, not on Monday.
    reg = registry([("hotline.tickets", d, "accepted") for d in dates("2026-09-28", "2026-10-08")])
    t = deadlines.evaluate(HOTLINE, reg, at(2026, 10, 10, 8, 59))
    assert t.passed and str(t.expected.business_date) == "2026-10-08" and t.expected.deadline == at(2026, 10, 9, 9)
    assert t.next_due.deadline == at(2026, 10, 10, 9)
    t = deadlines.evaluate(HOTLINE, reg, at(2026, 10, 10, 9, 1))
    assert [(str(d.business_date), d.deadline) for d in t.missed] == [("2026-10-09", at(2026, 10, 10, 9))]
    # Sunday 10-11 is off: 10-10's deadline is Monday 10-12 09:00.
    t = deadlines.evaluate(HOTLINE, reg, at(2026, 10, 11, 23))
    assert [str(d.business_date) for d in t.missed] == ["2026-10-09"]
    assert t.status_of(day("2026-10-10")) == "not_due"


def test_a_deadline_that_crosses_a_month():
    reg = registry([("hotline.tickets", "2026-04-29", "accepted")])
    t = deadlines.evaluate(HOTLINE, reg, at(2026, 5, 5, 23))  # 劳动节: 04-30 is due Wed 05-06 09:00
    assert t.passed and t.next_due.business_date == day("2026-04-30") and t.next_due.deadline == at(2026, 5, 6, 9)
    t = deadlines.evaluate(HOTLINE, reg, at(2026, 5, 6, 9, 1))
    assert t.missed[0].business_date == day("2026-04-30") and t.missed[0].deadline == at(2026, 5, 6, 9)
    assert str(t.expected.business_date) == "2026-05-05"  # the holiday dates are due the same morning
    # Friday 01-30 → Monday 02-02.
    reg = registry([("hotline.tickets", "2026-01-29", "accepted")])
    assert deadlines.evaluate(HOTLINE, reg, at(2026, 2, 2, 8, 59)).passed
    t = deadlines.evaluate(HOTLINE, reg, at(2026, 2, 2, 9, 0))
    assert [d.business_date for d in t.missed] == [day("2026-01-30"), day("2026-01-31"), day("2026-02-01")]


def test_machine_feeds_keep_calendar_days_and_reference_data_has_no_deadline():
    reg = registry([("ecology.air_quality_hourly", "2026-09-29", "accepted"), ("grid.grids", "2026-09-01", "accepted")])
    t = deadlines.evaluate(AIR, reg, at(2026, 10, 1, 2, 30))  # a holiday: machine feeds are still due 02:00
    assert [(d.business_date, d.deadline) for d in t.missed] == [(day("2026-09-30"), at(2026, 10, 1, 2))]
    assert duty.check_metadata(t)["day_basis"] == "calendar"
    g = deadlines.evaluate(GRIDS, reg, at(2026, 10, 8, 12))
    result = duty.check_result(g)
    assert result.passed and "no deadline" in result.description and g.missed == ()
    # A dataset never submitted: its calendar has not started, nothing is late.
    never = deadlines.evaluate(get_contract("community", "service_requests"), reg, at(2026, 10, 8, 12))
    assert never.passed and "not submitted yet" in duty.describe(never)


def test_the_check_runs_in_dagster_on_the_registry(lake_root, monkeypatch):
    lake.append(
        lake.registry_uri(),
        pa.Table.from_pylist(_rows([("hotline.tickets", "2026-09-28", "accepted")]), schema=lake.REGISTRY_SCHEMA),
    )
    monkeypatch.setattr(duty, "now", lambda: at(2026, 10, 8, 9, 30))
    from pipelines.defs.ingestion.assets import ingest_assets, raw_asset_key

    check_job = define_asset_job("freshness_only", selection=AssetSelection.checks(duty.check_key(HOTLINE)))
    defs = Definitions(assets=list(ingest_assets()), asset_checks=[duty.submission_freshness_checks], jobs=[check_job])
    result = defs.resolve_job_def("freshness_only").execute_in_process(instance=DagsterInstance.ephemeral())
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.asset_key == raw_asset_key(HOTLINE) and evaluation.check_name == duty.CHECK_NAME
    assert not evaluation.passed
    assert evaluation.metadata["missed_count"].value == 9  # 09-29 … 10-07
    assert evaluation.metadata["expected_deadline"].value == "2026-10-08 09:00"


# -- a real SMTP server -------------------------------------------------------------------------


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.arrived = threading.Event()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append(email.message_from_bytes(envelope.original_content, policy=email.policy.default))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.arrived.set()
        return "250 Message accepted for delivery"


def _start_smtp(monkeypatch, **smtp_kwargs):
    from aiosmtpd.controller import Controller

    from pipelines.tools.s3server import free_port

    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **smtp_kwargs)
    controller.start()
    monkeypatch.setenv("SHUZHONG_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SHUZHONG_SMTP_PORT", str(port))
    monkeypatch.setenv("SHUZHONG_SMTP_FROM", "hub@datahub.zaozhuang.example")
    monkeypatch.setenv("SHUZHONG_SMTP_TO", "duty1@datahub.zaozhuang.example, duty2@datahub.zaozhuang.example")
    return controller, inbox


@pytest.fixture
def smtp(monkeypatch):
    controller, inbox = _start_smtp(monkeypatch)
    yield inbox
    controller.stop()


def _body(msg) -> str:
    return msg.get_body(preferencelist=("plain",)).get_content()


def test_without_smtp_host_an_alert_is_only_logged(monkeypatch):
    monkeypatch.delenv("SHUZHONG_SMTP_HOST", raising=False)
    logged = []
    assert alerts.send_email("测试", "正文", log=logged.append) is False
    assert "not sent (SHUZHONG_SMTP_HOST is not set)" in logged[0] and "测试" in logged[0]


def test_smtp_login(monkeypatch):
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"duty", b"s3cret")
        return AuthResult(success=ok)

    controller, inbox = _start_smtp(monkeypatch, authenticator=authenticate, auth_require_tls=False, auth_required=True)
    try:
        monkeypatch.setenv("SHUZHONG_SMTP_USER", "duty")
        monkeypatch.setenv("SHUZHONG_SMTP_PASSWORD", "wrong")
        with pytest.raises(alerts.AlertError):
            alerts.send_email("登录", "正文")
        monkeypatch.setenv("SHUZHONG_SMTP_PASSWORD", "s3cret")
        assert alerts.send_email("登录", "正文") is True
        assert inbox.arrived.wait(10) and inbox.messages[0]["Subject"].endswith("登录")
    finally:
        controller.stop()


# -- reminders and the deadline sensor (real S3) -----------------------------------------------


@pytest.fixture
def no_reminders(s3_env):
    """The receipts bucket lives for the whole session: remove reminders earlier tests wrote."""
    client = s3.client("pipeline")
    bucket = settings.buckets().receipts

    def clear() -> None:
        for bureau in settings.bureaus():
            for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=f"{bureau}/{alerts.REMINDER_DIR}/"
            ):
                for o in page.get("Contents", []):
                    client.delete_object(Bucket=bucket, Key=o["Key"])

    clear()
    yield
    clear()


def _reminder_keys() -> list[str]:
    client = s3.client("pipeline")
    page = client.list_objects_v2(Bucket=settings.buckets().receipts, Prefix=f"hotline/{alerts.REMINDER_DIR}/")
    return sorted(o["Key"] for o in page.get("Contents", []))


def test_deadline_sensor_reminds_the_late_bureau_once_and_emails_the_duty_engineers(
    lake_root, unique, no_reminders, smtp, monkeypatch
):
    # Header-only files: the first is accepted, the identical one the next day is a no-op duplicate.
    first = submit_and_ingest(f"hotline/tickets/2026-09-28/空表-{unique}.csv", HEADER_ONLY)
    second = submit_and_ingest(f"hotline/tickets/2026-09-29/空表-{unique}.csv", HEADER_ONLY)
    assert (first.status, second.status) == ("accepted", "duplicate")
    monkeypatch.setattr(duty, "now", lambda: at(2026, 10, 8, 10))
    instance = DagsterInstance.ephemeral()

    result = duty.deadline_sensor(build_sensor_context(instance=instance))
    assert isinstance(result, SensorResult) and not result.run_requests
    assert "8 business date(s) past deadline" in result.skip_reason.skip_message
    late = dates("2026-09-30", "2026-10-07")
    keys = _reminder_keys()
    assert keys == sorted([f"hotline/_reminders/tickets/{d}.{ext}" for d in late for ext in ("json", "txt")])

    # The bureau reads its reminder with its own identity; another bureau cannot.
    bucket = settings.buckets().receipts
    body = s3.client("hotline").get_object(Bucket=bucket, Key="hotline/_reminders/tickets/2026-09-30.json")
    reminder = json.loads(body["Body"].read())
    assert (reminder["kind"], reminder["dataset"], reminder["business_date"]) == ("reminder", "tickets", "2026-09-30")
    assert reminder["deadline"] == "2026-10-08T09:00:00+08:00" and reminder["deadline_provisional"] is False
    text = s3.client("hotline").get_object(Bucket=bucket, Key="hotline/_reminders/tickets/2026-09-30.txt")
    text = text["Body"].read().decode()
    assert "催报" in text and "业务日期：2026-09-30" in text and "2026-10-08 09:00" in text
    assert unique not in text and "空表" not in text  # never the bureau's object key
    with pytest.raises(ClientError):
        s3.client("ecology").get_object(Bucket=bucket, Key="hotline/_reminders/tickets/2026-09-30.txt")

    # The e-mail arrived at the SMTP server.
    assert smtp.arrived.wait(10)
    (msg,) = smtp.messages
    assert "催报" in msg["Subject"] and "hotline.tickets" in msg["Subject"] and "8 个业务日期" in msg["Subject"]
    assert msg["To"] == "duty1@datahub.zaozhuang.example, duty2@datahub.zaozhuang.example"
    assert smtp.envelopes[0][1] == ["duty1@datahub.zaozhuang.example", "duty2@datahub.zaozhuang.example"]
    mail = _body(msg)
    assert "12345政务服务便民热线工单" in mail and "业务日期 2026-09-30" in mail and "2026-10-08 09:00" in mail
    assert unique not in mail

    # The check results were handed to Dagster as run-less evaluations (the daemon records them).
    evaluations = {e.asset_key.path[-1]: e for e in result.asset_events}
    assert not evaluations["tickets"].passed and evaluations["tickets"].metadata["missed_count"].value == 8
    for e in result.asset_events:
        instance.report_runless_asset_event(e)

    # Next tick: nothing new — no second reminder, no second e-mail, no unchanged check recorded again.
    etag = s3.client("pipeline").head_object(Bucket=bucket, Key="hotline/_reminders/tickets/2026-09-30.json")["ETag"]
    again = duty.deadline_sensor(build_sensor_context(instance=instance, cursor=result.cursor))
    assert "0 new reminder(s)" in again.skip_reason.skip_message and again.asset_events == []
    assert _reminder_keys() == keys
    assert (
        s3.client("pipeline").head_object(Bucket=bucket, Key="hotline/_reminders/tickets/2026-09-30.json")["ETag"]
        == etag
    )
    assert alerts.write_reminders(alerts.reminders_for(deadlines.evaluate_all(duty.now()).values()), duty.now()) == []
    # Two writers racing past the listing: the conditional put lets only the first create the .json.
    assert alerts._put_once(s3.client("pipeline"), bucket, "hotline/_reminders/tickets/2026-09-30.json", b"{}") is False
    smtp.arrived.clear()
    assert not smtp.arrived.wait(1) and len(smtp.messages) == 1

    # `shuzhong status` shows the same lateness.
    report = status.lateness_report(at(2026, 10, 8, 10))
    assert any(
        line.startswith("LATE hotline.tickets: 8 business date(s)") and "2026-09-30 (due 2026-10-08 09:00)" in line
        for line in report
    )


def test_a_reminder_email_the_server_refused_is_sent_on_a_later_tick(lake_root, unique, no_reminders, monkeypatch):
    submit_and_ingest(f"hotline/tickets/2026-10-08/{unique}.csv", HEADER_ONLY)
    monkeypatch.setattr(duty, "now", lambda: at(2026, 10, 10, 9, 30))  # 10-09 due on make-up Saturday 09:00
    from pipelines.tools.s3server import free_port

    monkeypatch.setenv("SHUZHONG_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SHUZHONG_SMTP_PORT", str(free_port()))  # nothing listens
    monkeypatch.setenv("SHUZHONG_SMTP_FROM", "hub@datahub.zaozhuang.example")
    monkeypatch.setenv("SHUZHONG_SMTP_TO", "duty@datahub.zaozhuang.example")
    instance = DagsterInstance.ephemeral()
    failed = duty.deadline_sensor(build_sensor_context(instance=instance))
    assert "e-mail failed for 1 reminder(s)" in failed.skip_reason.skip_message
    assert json.loads(failed.cursor)["unsent"] == ["hotline/_reminders/tickets/2026-10-09.json"]

    controller, inbox = _start_smtp(monkeypatch)
    try:
        retried = duty.deadline_sensor(build_sensor_context(instance=instance, cursor=failed.cursor))
        assert json.loads(retried.cursor)["unsent"] == []
        assert inbox.arrived.wait(10) and "业务日期 2026-10-09" in _body(inbox.messages[0])
    finally:
        controller.stop()


# -- run failures ---------------------------------------------------------------------------------


@op
def explode():
    raise ValueError("row 7: 13800001234 is not a valid value")  # a message that must not be mailed


@job(tags={"shuzhong/kind": "ingest"})
def tiny_failing_job():
    explode()


def test_run_failure_email(smtp):
    instance = DagsterInstance.ephemeral()
    result = tiny_failing_job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    context = build_run_status_sensor_context(
        sensor_name="run_failure_alert",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
    )
    assert duty.run_failure_alert(context) is None
    assert smtp.arrived.wait(10)
    (msg,) = smtp.messages
    assert "tiny_failing_job" in msg["Subject"] and result.run_id[:8] in msg["Subject"]
    body = _body(msg)
    assert result.run_id in body and "STEP_FAILURE" in body
    assert "explode: DagsterExecutionStepExecutionError ← ValueError" in body
    assert "13800001234" not in body and "row 7" not in body


def test_a_run_dagster_will_retry_is_not_mailed(smtp):
    instance = DagsterInstance.ephemeral()
    result = tiny_failing_job.execute_in_process(
        instance=instance, raise_on_error=False, tags={"dagster/will_retry": "true"}
    )
    context = build_run_status_sensor_context(
        sensor_name="run_failure_alert",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
    )
    duty.run_failure_alert(context)
    assert not smtp.arrived.wait(1)


def _canceled(instance: DagsterInstance, canceling_message: str | None) -> RunStatusSensorContext:
    """A run of ``tiny_failing_job`` canceled the way Dagster cancels one (events in the instance)."""
    run = instance.create_run_for_job(
        job_def=tiny_failing_job, tags={"shuzhong/kind": "ingest", "dagster/max_runtime": "60"}
    )
    if canceling_message is not None:
        instance.report_run_canceling(run, message=canceling_message)
    instance.report_run_canceled(run)
    run = instance.get_run_by_id(run.run_id)
    assert run.status == DagsterRunStatus.CANCELED
    (record,) = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.RUN_CANCELED).records
    return build_run_status_sensor_context(
        sensor_name="run_canceled_alert",
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=record.event_log_entry.dagster_event,
    )


def test_a_run_canceled_past_its_max_runtime_is_mailed(smtp):
    instance = DagsterInstance.ephemeral()
    # the message Dagster's run monitoring reports (dagster/_daemon/monitoring/run_monitoring.py)
    context = _canceled(instance, "Canceling due to exceeding maximum runtime of 60 seconds.")
    assert duty.run_canceled_alert(context) is None
    assert smtp.arrived.wait(10)
    (msg,) = smtp.messages
    assert "run canceled" in msg["Subject"] and context.dagster_run.run_id[:8] in msg["Subject"]
    body = _body(msg)
    assert context.dagster_run.run_id in body and "tiny_failing_job" in body
    assert "exceeded its maximum run time (60 s)" in body and "re-requested" in body


def test_a_run_someone_canceled_is_mailed_as_such(smtp):
    instance = DagsterInstance.ephemeral()
    duty.run_canceled_alert(_canceled(instance, "Sending run termination request."))
    assert smtp.arrived.wait(10)
    body = _body(smtp.messages[0])
    assert "canceled by a user" in body and "maximum run time" not in body


def test_canceled_runs_have_their_own_sensor():
    from pipelines.definitions import defs

    sensor = defs.resolve_sensor_def("run_canceled_alert")
    assert sensor.default_status == DefaultSensorStatus.RUNNING


# -- the daily settlement -------------------------------------------------------------------------


def test_daily_settlement_settles_the_previous_day(lake_root, unique, no_reminders, smtp, monkeypatch):
    submit_and_ingest(f"hotline/tickets/2026-10-07/{unique}.csv", HEADER_ONLY)
    waiting = submit(f"hotline/tickets/2026-10-08/{unique}-未处理.csv", HEADER_ONLY)  # never ingested
    monkeypatch.setattr(duty, "RECEIPT_GRACE", timedelta(0))

    request = duty.daily_settlement(build_schedule_context(scheduled_execution_time=at(2026, 10, 9, 9, 30)))
    assert isinstance(request, RunRequest) and request.run_key == "settle-2026-10-08"
    assert request.run_config["ops"]["settle_business_day"]["config"] == {
        "business_date": "2026-10-08",
        "as_of": "2026-10-09T09:30:00+08:00",
    }
    assert duty.daily_settlement.execution_timezone == "Asia/Shanghai"
    assert duty.daily_settlement.cron_schedule == "30 9 * * *"

    instance = DagsterInstance.ephemeral()
    run = duty.settle_previous_business_day.execute_in_process(run_config=request.run_config, instance=instance)
    assert run.success
    logs = "\n".join(e.user_message for e in instance.all_logs(run.run_id))
    assert "hotline.tickets: 2026-10-08 missing; 1 date(s) past deadline without a file: 2026-10-08" in logs
    assert "objects of 2026-10-08 without a receipt: 1 (hotline.tickets 1)" in logs
    assert waiting.key not in logs  # keys may hold personal data: counts only
    assert _reminder_keys() == [
        "hotline/_reminders/tickets/2026-10-08.json",
        "hotline/_reminders/tickets/2026-10-08.txt",
    ]
    assert smtp.arrived.wait(10)
    (msg,) = smtp.messages
    assert "2026-10-08" in msg["Subject"] and "1 个对象无回执" in msg["Subject"]
    assert "业务日期 2026-10-08" in _body(msg) and waiting.key not in _body(msg)


# -- the code location --------------------------------------------------------------------------


def test_definitions_register_the_checks_sensors_and_schedule():
    from pipelines.contracts import all_contracts
    from pipelines.definitions import defs
    from pipelines.defs.ingestion.assets import raw_asset_key

    check_keys = set(defs.resolve_asset_graph().asset_check_keys)
    for contract in all_contracts().values():
        assert duty.check_key(contract) in check_keys
        assert duty.check_key(contract).asset_key == raw_asset_key(contract)
    assert {"deadline_sensor", "run_failure_alert"} <= {s.name for s in defs.sensors}
    schedule = defs.resolve_schedule_def("daily_settlement")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("30 9 * * *", "Asia/Shanghai")
    assert defs.resolve_job_def(duty.SETTLE_JOB).tags["shuzhong/kind"] == "duty"
    # An ingestion run evaluates its asset's freshness check right after landing the files.
    job = defs.resolve_job_def("ingest_hotline__tickets")
    assert sorted(n.name for n in job.graph.node_defs) == ["raw__hotline__tickets", "submission_freshness_checks"]
    deps = job.graph.dependency_structure  # the check runs after (depends on) the landing step
    assert "raw__hotline__tickets" in {
        o.node_name for i in deps.input_to_upstream_outputs_for_node("submission_freshness_checks").values() for o in i
    }


def test_deadline_sensor_and_schedule_skip_quietly_while_s3_is_down(monkeypatch):
    import socket

    from dagster import SkipReason

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("SHUZHONG_S3_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("SHUZHONG_PIPELINE_ACCESS_KEY", "k")
    monkeypatch.setenv("SHUZHONG_PIPELINE_SECRET_KEY", "s")
    result = duty.deadline_sensor(build_sensor_context(instance=DagsterInstance.ephemeral()))
    assert isinstance(result, SkipReason) and "not reachable" in result.skip_message
    skipped = duty.daily_settlement(build_schedule_context(scheduled_execution_time=at(2026, 10, 9, 9, 30)))
    assert isinstance(skipped, SkipReason) and "not reachable" in skipped.skip_message
