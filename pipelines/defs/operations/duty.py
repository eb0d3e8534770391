"""On duty in Dagster: submission freshness checks, the deadline sensor, run-failure e-mail and the
daily settlement of the previous business day.

**Freshness.** Every raw asset has an asset check ``submission_freshness``. Dagster's built-in
``build_last_update_freshness_checks`` compares the last materialization with a cron deadline;
it cannot express "09:00 on the first working day after D" on the official holiday / 调休
calendar, and a materialization says nothing about *which* business date arrived (a late file
for last week also materializes the asset). So the check is our own ``@multi_asset_check``,
computed from the file registry by :mod:`pipelines.deadlines`: it fails (severity WARN) while a
business date since the dataset's first submission is past its deadline with no accepted or
no-op identical file, and its metadata shows the business date expected by now, its deadline,
the last submission and the dates missed. Dagster runs it after each ingestion of the asset
(asset jobs include the checks of their assets) and on demand from the UI; ``deadline_sensor``
re-evaluates all of them every 5 minutes and records the result (a run-less check evaluation)
whenever it changed, so a deadline passing shows without any run.

**Alerts.** ``deadline_sensor`` also writes a 催报 reminder into the late bureau's receipts prefix
for each missed (dataset, date), once, and e-mails the engineers on duty about the new ones
(:mod:`pipelines.alerts`); an e-mail the SMTP server refused is retried on later ticks (the
cursor keeps the reminders not yet mailed). ``run_failure_alert`` e-mails each failed run that
Dagster will not retry itself: job, run id, failed steps and their error classes (never an error
message, a row value or an object key: keys may hold personal data). ``run_canceled_alert``
e-mails each canceled run (Dagster never retries one): run monitoring cancels a run past its
``dagster/max_runtime``, and a run that reports its own interruption first ends canceled, not
failed; the e-mail says which of the two, or that someone canceled it.

**Settlement.** ``daily_settlement`` (09:30 Asia/Shanghai, every day: machine feeds are due every
day) launches ``settle_previous_business_day``, a one-op job, rather than doing the work in the
schedule's evaluation function: a schedule tick runs in the code server under a gRPC timeout and
should only decide *what* to run, while the settlement reads the registry, lists the landing
prefixes and reads receipts; as a run it gets logs, a max run time, a re-execute button and —
if it fails — a run-failure e-mail. The run key is the business date, so a day is settled once
per schedule tick.
"""

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    Config,
    DagsterEventType,
    DagsterRun,
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    MetadataValue,
    RunFailureSensorContext,
    RunRequest,
    RunStatusSensorContext,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    in_process_executor,
    job,
    multi_asset_check,
    op,
    run_failure_sensor,
    run_status_sensor,
    schedule,
    sensor,
)

from pipelines import alerts, deadlines, settings, workdays
from pipelines.contracts import Contract, all_contracts, get_contract
from pipelines.deadlines import Timeliness
from pipelines.defs.ingestion.assets import raw_asset_key

CHECK_NAME = "submission_freshness"
FINGERPRINT = "shuzhong/fingerprint"
MAX_UNSENT = 1000  # reminders whose e-mail failed, kept in the sensor cursor for the next tick
RECEIPT_GRACE = timedelta(minutes=15)  # an object this recent may still be in its ingestion run
SETTLE_JOB = "settle_previous_business_day"
WILL_RETRY_TAG = "dagster/will_retry"


def now() -> datetime:
    """The current time in Asia/Shanghai (tests replace it)."""
    return datetime.now(workdays.TZ)


# -- freshness checks ---------------------------------------------------------------------


def check_key(contract: Contract) -> AssetCheckKey:
    return AssetCheckKey(raw_asset_key(contract), CHECK_NAME)


def _spec(contract: Contract) -> AssetCheckSpec:
    if deadlines.deadline(contract, date(2026, 3, 4)) is None:
        what = "reference data: submitted when it changes, no deadline (shows the last submission)"
    else:
        basis = workdays.day_basis(contract.cadence, contract.deadline)
        offset = (contract.deadline or {}).get("day_offset", 1)
        at = (contract.deadline or {}).get("time") or workdays.DEFAULT_DEADLINES[contract.cadence][1]
        what = (
            f"business date D due {at} Asia/Shanghai on D+{offset} "
            + (
                "(first working day of the official calendar on or after it)"
                if basis == "working"
                else "(calendar days)"
            )
            + "; fails while a date since the first submission is past its deadline without a file"
        )
    return AssetCheckSpec(CHECK_NAME, asset=raw_asset_key(contract), description=f"报送时效 / {what}")


def _fmt(ts: datetime | None) -> str:
    return ts.astimezone(workdays.TZ).strftime("%Y-%m-%d %H:%M") if ts else "-"


def fingerprint(t: Timeliness) -> str:
    """What the check result says, without the evaluation time: unchanged → not recorded again."""
    last = t.last_submission
    state = [
        t.passed,
        str(t.expected.business_date) if t.expected else None,
        [str(d.business_date) for d in t.missed],
        str(last[0]) if last else None,
        str(t.next_due.business_date) if t.next_due else None,
        t.first_date is not None,
    ]
    return hashlib.sha256(json.dumps(state).encode()).hexdigest()[:16]


def describe(t: Timeliness) -> str:
    if not t.has_deadline:
        last = t.last_submission
        return "reference data, no deadline; " + (f"last submission {last[0]}" if last else "not submitted yet")
    if t.first_date is None:
        return "not submitted yet: the timeliness calendar starts at the dataset's first submission"
    if t.missed:
        shown = ", ".join(str(d.business_date) for d in t.missed[:10])
        return f"{len(t.missed)} business date(s) past their deadline without a file: {shown}" + (
            " …" if len(t.missed) > 10 else ""
        )
    if t.expected is None:
        return "no business date due yet"
    return (
        f"up to date: {t.expected.business_date} (due {t.expected.deadline_text()}) "
        f"is {t.status_of(t.expected.business_date).replace('_', ' ')}"
    )


def check_metadata(t: Timeliness) -> dict:
    last = t.last_submission
    meta = {
        "cadence": t.contract.cadence,
        "day_basis": workdays.day_basis(t.contract.cadence, t.contract.deadline) if t.has_deadline else "none",
        "evaluated_as_of": _fmt(t.as_of),
        "calendar_starts": str(t.first_date) if t.first_date else "not submitted yet",
        "last_submission_business_date": str(last[0]) if last else "-",
        "last_submission_uploaded_at": _fmt(last[1]) if last else "-",
        FINGERPRINT: fingerprint(t),
    }
    if t.has_deadline:
        e, n = t.expected, t.next_due
        meta.update(
            {
                "expected_business_date": str(e.business_date) if e else "-",
                "expected_deadline": e.deadline_text() if e else "-",
                "expected_status": t.status_of(e.business_date) if e else "-",
                "next_business_date": str(n.business_date) if n else "-",
                "next_deadline": n.deadline_text() if n else "-",
                "missed_count": len(t.missed),
                "missed_business_dates": MetadataValue.json(
                    [{"business_date": str(d.business_date), "deadline": d.deadline_text()} for d in t.missed]
                ),
                "lookback_days": deadlines.lookback_days(),
            }
        )
    return meta


def check_result(t: Timeliness) -> AssetCheckResult:
    return AssetCheckResult(
        asset_key=raw_asset_key(t.contract),
        check_name=CHECK_NAME,
        passed=t.passed,
        severity=AssetCheckSeverity.WARN,
        description=describe(t),
        metadata=check_metadata(t),
    )


@multi_asset_check(
    name="submission_freshness_checks",
    specs=[_spec(c) for c in all_contracts().values()],
    can_subset=True,
    description="Timeliness of each raw dataset from the file registry and the working-day calendar.",
)
def submission_freshness_checks(context: AssetCheckExecutionContext) -> Iterator[AssetCheckResult]:
    results = deadlines.evaluate_all(now())
    for t in results.values():
        if check_key(t.contract) in context.selected_asset_check_keys:
            yield check_result(t)


def changed_evaluations(instance, results: dict[str, Timeliness]) -> list[AssetCheckEvaluation]:
    """Run-less evaluations of the checks whose result differs from the last one recorded."""
    keys = {key: check_key(t.contract) for key, t in results.items()}
    records = instance.event_log_storage.get_asset_check_summary_records(list(keys.values()))
    out = []
    for key, t in results.items():
        record = records.get(keys[key])
        last = record.last_completed_check_execution_record if record else None
        evaluation = last.event.asset_check_evaluation if last and last.event else None
        previous = evaluation.metadata.get(FINGERPRINT) if evaluation else None
        if getattr(previous, "value", previous) == fingerprint(t):
            continue
        r = check_result(t)
        out.append(
            AssetCheckEvaluation(
                asset_key=r.asset_key,
                check_name=CHECK_NAME,
                passed=r.passed,
                metadata=r.metadata,
                severity=r.severity,
                description=r.description,
            )
        )
    return out


# -- deadline sensor --------------------------------------------------------------------------


def _reminder_from_key(key: str) -> alerts.Reminder | None:
    bureau, _, dataset, name = key.split("/", 3)
    contract = get_contract(bureau, dataset)
    due = deadlines.deadline(contract, date.fromisoformat(name.removesuffix(".json"))) if contract else None
    if due is None:
        return None
    return alerts.Reminder(bureau, dataset, contract.business_name, due, contract.version)


def notify_reminders(reminders: list[alerts.Reminder], as_of: datetime, log) -> bool:
    """E-mail the engineers on duty about ``reminders``; False when it failed (logged)."""
    if not reminders:
        return True
    subject, body = alerts.reminder_email(reminders, as_of)
    try:
        alerts.send_email(subject, body, log=log.info)
    except alerts.AlertError as exc:
        log.error(f"reminder e-mail for {len(reminders)} date(s) not sent, will retry: {exc}")
        return False
    return True


@sensor(
    name="deadline_sensor",
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.RUNNING,
    description="Every 5 minutes: records each raw asset's submission_freshness check when it changed, "
    "writes a 催报 reminder into the late bureau's receipts prefix once per missed (dataset, business date) "
    "and e-mails the engineers on duty (SHUZHONG_SMTP_*; only logged when unset).",
)
def deadline_sensor(context: SensorEvaluationContext):
    from pipelines.defs.ingestion.sensors import s3_not_ready

    if reason := s3_not_ready():
        return SkipReason(reason)
    state = json.loads(context.cursor) if context.cursor else {}
    as_of = now()
    results = deadlines.evaluate_all(as_of)
    events = changed_evaluations(context.instance, results)
    created = alerts.write_reminders(alerts.reminders_for(results.values()), as_of)
    for r in created:
        context.log.warning(f"reminder written: receipts/{r.text_key} (due {r.due.deadline_text()})")
    unsent = [r for r in (_reminder_from_key(k) for k in state.get("unsent", [])) if r]
    pending = unsent + [r for r in created if r.key not in {u.key for u in unsent}]
    sent = notify_reminders(pending, as_of, context.log)
    late = sum(len(t.missed) for t in results.values())
    message = (
        f"{late} business date(s) past deadline without a file, {len(created)} new reminder(s), "
        f"{len(events)} check result(s) changed"
        + ("" if sent else f"; e-mail failed for {len(pending)} reminder(s), retrying next tick")
    )
    cursor = json.dumps({"unsent": [] if sent else [r.key for r in pending][-MAX_UNSENT:]})
    return SensorResult(asset_events=events, cursor=cursor, skip_reason=SkipReason(message))


# -- run failures -----------------------------------------------------------------------------


def _error_classes(error) -> str:
    """``Outer ← Cause ← …`` class names of an error chain (no messages: they may quote values)."""
    names = []
    while error is not None and len(names) < 5:
        names.append(error.cls_name or "?")
        error = error.cause
    return " ← ".join(names) or "-"


def failure_email(context: RunFailureSensorContext) -> tuple[str, str]:
    run = context.dagster_run
    failure = context.failure_event.event_specific_data
    reason = getattr(getattr(failure, "failure_reason", None), "value", None) or "-"
    steps = [
        (e.step_key, _error_classes(getattr(e.event_specific_data, "error", None)))
        for e in context.get_step_failure_events()
    ]
    subject = f"运行失败 / run failed: {run.job_name} ({run.run_id[:8]})"
    lines = _run_lines(run, f"失败原因 / failure reason: {reason}")
    if steps:
        lines.append("失败步骤 / failed steps:")
        lines += [f"  - {step}: {classes}" for step, classes in steps]
    elif getattr(failure, "error", None) is not None:
        lines.append(f"错误类型 / error class: {_error_classes(failure.error)}")
    return subject, "\n".join(lines + MAIL_FOOTER) + "\n"


MAIL_FOOTER = [
    "",
    "详情见 Dagster 界面 Runs → 该运行 ID 的事件日志；重新运行见 README「On duty」。",
    "(Error messages, row values and object keys are not included: read them in the Dagster UI.)",
]


def _run_lines(run: DagsterRun, reason: str) -> list[str]:
    """The e-mail lines that name a run: job, run id, the reason line, kind, dataset, attempt."""
    return [
        f"作业 / job: {run.job_name}",
        f"运行 / run id: {run.run_id}",
        reason,
        f"类型 / kind: {run.tags.get('shuzhong/kind', '-')}    "
        f"数据集 / dataset: {run.tags.get('shuzhong/dataset', '-')}    "
        f"尝试 / attempt: {run.tags.get('shuzhong/attempt', run.tags.get('dagster/retry_number', '1'))}",
    ]


def cancel_reason(instance, run: DagsterRun) -> str:
    """Why a run was canceled, from its RUN_CANCELING event (Dagster's own words are not quoted)."""
    records = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.RUN_CANCELING).records
    messages = [r.event_log_entry.dagster_event.message or "" for r in records if r.event_log_entry.dagster_event]
    if any("maximum runtime" in m for m in messages):
        limit = run.tags.get("dagster/max_runtime", "?")
        return f"超过最长运行时间 {limit} 秒，由运行监控终止 / exceeded its maximum run time ({limit} s)"
    if messages:
        return "由用户或运维取消 / canceled by a user (Dagster UI or CLI)"
    return "运行自行中断 / the run reported its own interruption"


def canceled_email(instance, run: DagsterRun) -> tuple[str, str]:
    subject = f"运行已取消 / run canceled: {run.job_name} ({run.run_id[:8]})"
    lines = _run_lines(run, f"取消原因 / reason: {cancel_reason(instance, run)}")
    if run.tags.get("shuzhong/kind") == "ingest":
        lines.append("未出回执的文件由 receipt_reconciler 重新请求 / files without a receipt are re-requested")
    return subject, "\n".join(lines + MAIL_FOOTER) + "\n"


@run_failure_sensor(
    name="run_failure_alert",
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="E-mails the engineers on duty about each failed run that Dagster will not retry "
    "(job, run id, failed steps and error classes; SHUZHONG_SMTP_*, only logged when unset).",
)
def run_failure_alert(context: RunFailureSensorContext) -> None:
    run = context.dagster_run
    if run.tags.get(WILL_RETRY_TAG) == "true":
        context.log.info(f"run {run.run_id[:8]} of {run.job_name} failed and will be retried by Dagster: no e-mail")
        return None
    subject, body = failure_email(context)
    alerts.send_email(subject, body, log=context.log.info)  # AlertError → the tick shows the error
    return None  # None: the sensor goes on with the next failed run in the same tick


@run_status_sensor(
    name="run_canceled_alert",
    run_status=DagsterRunStatus.CANCELED,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    monitor_all_code_locations=False,
    description="E-mails the engineers on duty about each canceled run (past its max run time, "
    "interrupted, or canceled by someone): Dagster never retries a canceled run.",
)
def run_canceled_alert(context: RunStatusSensorContext) -> None:
    subject, body = canceled_email(context.instance, context.dagster_run)
    alerts.send_email(subject, body, log=context.log.info)
    return None


# -- daily settlement ---------------------------------------------------------------------------


@dataclass
class Settlement:
    business_date: date
    as_of: datetime
    status: dict[str, str] = field(default_factory=dict)  # dataset → status_of(business_date)
    late: dict[str, list[str]] = field(default_factory=dict)  # dataset → missed dates in the window
    new_reminders: list[str] = field(default_factory=list)  # reminder keys this settlement wrote
    without_receipt: dict[str, int] = field(default_factory=dict)  # dataset → objects of D with no receipt
    in_flight: int = 0  # objects of D uploaded within RECEIPT_GRACE of now (not counted as missing)

    def lines(self) -> list[str]:
        out = [f"settlement of business date {self.business_date} as of {_fmt(self.as_of)} Asia/Shanghai"]
        for key, st in sorted(self.status.items()):
            late = self.late.get(key, [])
            out.append(
                f"  {key}: {self.business_date} {st}"
                + (f"; {len(late)} date(s) past deadline without a file: {', '.join(late[:10])}" if late else "")
            )
        out.append(f"  reminders written now: {len(self.new_reminders)}")
        missing = sum(self.without_receipt.values())
        out.append(
            f"  objects of {self.business_date} without a receipt: {missing}"
            + (f" ({', '.join(f'{k} {n}' for k, n in sorted(self.without_receipt.items()))})" if missing else "")
            + (
                f"; {self.in_flight} more uploaded in the last {RECEIPT_GRACE.seconds // 60} min"
                if self.in_flight
                else ""
            )
        )
        return out


def _objects_without_receipt(contract: Contract, day: date, wall_now: datetime) -> tuple[int, int]:
    """(objects of ``day`` without a receipt for their ETag, recent ones still in flight)."""
    from pipelines import s3
    from pipelines.defs.ingestion.sensors import list_page
    from pipelines.defs.operations import status

    client = s3.client("pipeline")
    prefix = f"{contract.bureau}/{contract.dataset}/{day.isoformat()}/"
    objects, after = [], ""
    while True:
        page, more = list_page(client, prefix=prefix, start_after=after)
        objects += page
        if not (page and more):
            break
        after = page[-1]["key"]
    recent = {o["key"] for o in objects if datetime.fromisoformat(o["last_modified"]) > wall_now - RECEIPT_GRACE}
    missing = status.missing_receipts({o["key"]: o["etag"] for o in objects if o["key"] not in recent})
    return len(missing), len(recent)


def settle(business_date: date, as_of: datetime, log) -> Settlement:
    """Settle ``business_date``: every dataset's status for it, lateness and reminders over the
    lookback window, and the objects of the date still without a receipt."""
    results = deadlines.evaluate_all(as_of)
    out = Settlement(business_date, as_of)
    for key, t in results.items():
        out.status[key] = t.status_of(business_date)
        if t.missed:
            out.late[key] = [str(d.business_date) for d in t.missed]
    created = alerts.write_reminders(alerts.reminders_for(results.values()), as_of)
    out.new_reminders = [r.key for r in created]
    wall_now = datetime.now(workdays.TZ)
    for key, contract in sorted(all_contracts().items()):
        missing, recent = _objects_without_receipt(contract, business_date, wall_now)
        out.in_flight += recent
        if missing:
            out.without_receipt[key] = missing
    for line in out.lines():
        log.info(line)
    problems = []
    if created:
        subject, body = alerts.reminder_email(created, as_of)
        problems.append(body)
    if out.without_receipt:
        problems.append(
            f"{sum(out.without_receipt.values())} 个对象尚无回执 / object(s) without a receipt: "
            + ", ".join(f"{k} {n}" for k, n in sorted(out.without_receipt.items()))
            + "（见 README「On duty」：receipt_reconciler 与重新运行）"
        )
    if problems:
        alerts.send_email(
            f"日结 / settlement {business_date}: {len(created)} 个新催报, "
            f"{sum(out.without_receipt.values())} 个对象无回执",
            "\n".join(out.lines()) + "\n\n" + "\n\n".join(problems),
            log=log.info,
        )
    return out


class SettleConfig(Config):
    business_date: str = ""  # YYYY-MM-DD; empty: yesterday (Asia/Shanghai)
    as_of: str = ""  # ISO timestamp with offset (the schedule's tick time); empty: now


@op(name="settle_business_day", description="Lateness, reminders and objects without a receipt of one business date.")
def settle_business_day(context, config: SettleConfig) -> None:
    as_of = datetime.fromisoformat(config.as_of) if config.as_of else now()
    day = date.fromisoformat(config.business_date) if config.business_date else as_of.date() - timedelta(days=1)
    settle(day, as_of, context.log)


@job(
    name=SETTLE_JOB,
    executor_def=in_process_executor,
    tags={"shuzhong/kind": "duty", "dagster/max_runtime": str(settings.max_run_seconds())},
    description="Settles one business date (launched daily by daily_settlement; launch it by hand with an "
    "empty config for yesterday, or give business_date).",
)
def settle_previous_business_day():
    settle_business_day()


@schedule(
    name="daily_settlement",
    cron_schedule="30 9 * * *",
    execution_timezone="Asia/Shanghai",
    job=settle_previous_business_day,
    default_status=DefaultScheduleStatus.RUNNING,
    description="09:30 Asia/Shanghai every day: settles the previous day's business date (lateness, "
    "reminders, objects without a receipt) in one run.",
)
def daily_settlement(context: ScheduleEvaluationContext):
    from pipelines.defs.ingestion.sensors import s3_not_ready

    if reason := s3_not_ready():
        return SkipReason(reason)
    tick = context.scheduled_execution_time.astimezone(workdays.TZ)
    day = tick.date() - timedelta(days=1)
    return RunRequest(
        run_key=f"settle-{day.isoformat()}",
        run_config={
            "ops": {"settle_business_day": {"config": {"business_date": day.isoformat(), "as_of": tick.isoformat()}}}
        },
        tags={"shuzhong/business_date": day.isoformat()},
    )
