"""The reprocess job: re-validate archived files against the current contract (issue 15.3).

``reprocess_archive`` is a Dagster job partitioned by business date
(``DailyPartitionsDefinition``, timezone Asia/Shanghai, the time zone of business dates), not a
job with a date-range config, because:

- a date range is a backfill: the UI (Jobs → reprocess_archive → Partitions → Backfill) and the
  CLI launch one run per business date, with no range parsing of our own;
- each date is its own run: one failing date (a missing archive copy) fails that run only, is
  retried alone, and the partition view shows which dates have been reprocessed, when and how;
- one run holds one date's files, so memory and the commit chunks stay bounded like ingestion.

Run config (``ops.reprocess_archived_files.config``): ``datasets`` (``<bureau>.<dataset>``;
empty: every dataset) and ``reason`` (written into every receipt and ledger entry). The logic is
Dagster-free in :mod:`pipelines.ingest.reprocess`. Each dataset with reprocessed files reports a
materialization of its raw asset, so the transform sensor rebuilds what depends on it.
"""

from datetime import date

from dagster import (
    AssetMaterialization,
    Config,
    DailyPartitionsDefinition,
    Failure,
    MetadataValue,
    in_process_executor,
    job,
    op,
)

from pipelines import ledger, settings
from pipelines.contracts import all_contracts, get_contract
from pipelines.defs.ingestion.assets import raw_asset_key
from pipelines.ingest.keys import log_safe
from pipelines.ingest.reprocess import DEFAULT_REASON, reprocess_date

REPROCESS_JOB = "reprocess_archive"
BUSINESS_DATES = DailyPartitionsDefinition(start_date="2025-01-01", timezone="Asia/Shanghai", end_offset=1)


class ReprocessConfig(Config):
    datasets: list[str] = []  # "<bureau>.<dataset>"; empty: every dataset with a contract
    reason: str = DEFAULT_REASON


@op(
    name="reprocess_archived_files",
    out={},
    description="Re-validates the archived files of one business date against the current contracts.",
)
def reprocess_archived_files(context, config: ReprocessConfig):
    business_date = date.fromisoformat(context.partition_key)
    datasets = config.datasets or sorted(all_contracts())
    unknown = [d for d in datasets if get_contract(*d.partition(".")[::2]) is None]
    if unknown:
        raise Failure(f"no contract for dataset(s) {unknown}")
    failed: dict[str, Exception] = {}
    for dataset in datasets:
        result = reprocess_date(dataset, business_date, context.run_id, config.reason, log=context.log.info)
        context.log.info(result.message)
        for r in result.receipts:
            context.log.info(
                f"{log_safe(r.object_key)}: reprocessed against {r.contract_version}: received "
                f"{r.rows_received}, accepted {r.rows_accepted}, quarantined {r.rows_quarantined}, "
                f"superseded {r.rows_superseded} (before: {r.reprocess_of})"
            )
        for r in result.kept:
            context.log.warning(
                f"{log_safe(r.object_key)}: unreadable under the current contract, rows kept: {r.rule}: {r.reason}"
            )
        for key, exc in result.errors.items():
            context.log.error(f"{log_safe(key)}: {type(exc).__name__}: {exc}")
        failed.update(result.errors)
        if result.receipts:
            contract = get_contract(*dataset.partition(".")[::2])
            yield AssetMaterialization(
                asset_key=raw_asset_key(contract),
                metadata={
                    "reprocessed_business_date": str(business_date),
                    "files_reprocessed": len(result.receipts),
                    "rows_accepted": sum(r.rows_accepted for r in result.receipts),
                    "rows_quarantined": sum(r.rows_quarantined for r in result.receipts),
                    "contract_version": contract.version,
                    "ledger_head": str(ledger.head() or "empty"),
                    "receipts": MetadataValue.json(
                        [
                            {"key": r.object_key, "accepted": r.rows_accepted, "quarantined": r.rows_quarantined}
                            for r in result.receipts
                        ]
                    ),
                },
            )
    if failed:
        raise Failure(f"{len(failed)} file(s) could not be reprocessed: {[log_safe(k) for k in list(failed)[:5]]}")


@job(
    name=REPROCESS_JOB,
    partitions_def=BUSINESS_DATES,
    executor_def=in_process_executor,
    tags={"shuzhong/kind": "reprocess", "dagster/max_runtime": str(settings.max_run_seconds())},
)
def reprocess_archive() -> None:
    reprocess_archived_files()
