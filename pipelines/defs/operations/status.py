"""What the pipeline has done so far: receipts, active runs, last publish (demo and tests)."""

from __future__ import annotations

from datetime import date, datetime

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from pipelines import ingest, workdays
from pipelines.contracts import all_contracts
from pipelines.defs.ingestion.assets import raw_asset_key
from pipelines.defs.ingestion.sensors import ACTIVE, TRANSFORM_JOB


def duty_warnings(today: date | None = None) -> list[str]:
    """What the engineers on duty must act on (intake goes on regardless): a missing calendar year."""
    message = workdays.missing_year_message(today)
    return [message] if message else []


def lateness_report(as_of: datetime | None = None) -> list[str]:
    """``LATE`` lines, one per dataset with business dates past their deadline without a file (as the
    freshness checks and reminders see them, pipelines.deadlines); or why lateness is unknown."""
    from pipelines import deadlines
    from pipelines.defs.ingestion.sensors import s3_not_ready

    if reason := s3_not_ready():
        return [f"lateness unknown: {reason}"]
    results = deadlines.evaluate_all(as_of or datetime.now(workdays.TZ))
    lines = [
        f"LATE {key}: {len(t.missed)} business date(s) past deadline without a file: "
        + ", ".join(f"{d.business_date} (due {d.deadline_text()})" for d in t.missed[:10])
        + (" …" if len(t.missed) > 10 else "")
        for key, t in results.items()
        if t.missed
    ]
    return lines or [
        f"nothing late: every business date due in the last {deadlines.lookback_days()} days "
        "has a file (since each dataset's first submission)"
    ]


def missing_receipts(keys_etags: dict[str, str]) -> list[str]:
    """Submitted keys whose receipt for this exact version (ETag) is not there yet."""
    missing = []
    for key, etag in keys_etags.items():
        receipt = ingest.read_receipt(key)
        if receipt is None or receipt.get("etag") != etag:
            missing.append(key)
    return missing


def latest_raw_storage_id(instance: DagsterInstance) -> int:
    latest = 0
    for contract in all_contracts().values():
        records = instance.fetch_materializations(raw_asset_key(contract), limit=1).records
        if records:
            latest = max(latest, records[0].storage_id)
    return latest


def active_runs(instance: DagsterInstance) -> int:
    return instance.get_runs_count(RunsFilter(statuses=ACTIVE))


def published_up_to_date(instance: DagsterInstance) -> bool:
    """A transform run covering the latest raw materialization has succeeded."""
    latest = latest_raw_storage_id(instance)
    runs = instance.get_runs(RunsFilter(job_name=TRANSFORM_JOB, statuses=[DagsterRunStatus.SUCCESS]), limit=5)
    return any(int(r.tags.get("shuzhong/raw_storage_id", 0)) >= latest for r in runs) and latest > 0


def failed_runs(instance: DagsterInstance) -> list[str]:
    return [f"{r.job_name} {r.run_id[:8]}" for r in instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.FAILURE]))]


def recorded_ledger_head(instance: DagsterInstance):
    """The newest ledger head recorded in Dagster metadata (outside the ledger), or None."""
    from dagster import AssetKey

    from pipelines.ledger import Head

    best = None
    keys = [raw_asset_key(c) for c in all_contracts().values()] + [AssetKey(["published_warehouse"])]
    for key in keys:
        for record in instance.fetch_materializations(key, limit=5).records:
            value = record.asset_materialization.metadata.get("ledger_head")
            text = getattr(value, "value", value)
            if isinstance(text, str) and ":" in text:
                head = Head.parse(text)
                if best is None or head.seq > best.seq:
                    best = head
    return best
