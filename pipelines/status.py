"""What the pipeline has done so far: receipts, active runs, last publish (demo and tests)."""

from __future__ import annotations

from datetime import date

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from pipelines import ingest, workdays
from pipelines.contracts import all_contracts
from pipelines.ingestion_assets import raw_asset_key
from pipelines.sensors import ACTIVE, TRANSFORM_JOB


def duty_warnings(today: date | None = None) -> list[str]:
    """What the engineers on duty must act on (intake goes on regardless): a missing calendar year."""
    message = workdays.missing_year_message(today)
    return [message] if message else []


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
    runs = instance.get_runs(
        RunsFilter(job_name=TRANSFORM_JOB, statuses=[DagsterRunStatus.SUCCESS]), limit=5
    )
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
