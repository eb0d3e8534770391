"""One raw-zone asset per data contract, built by a single factory (no per-dataset Python).

Each asset ingests the landing objects a sensor hands it (run config), and reports the
GX suite's rules as Dagster asset checks: counts and row numbers, never values.
"""

import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from functools import cache

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
    define_asset_job,
    in_process_executor,
    job,
    op,
)

from pipelines import ingest, lake, ledger, rules, settings, validation
from pipelines.contracts import Contract, all_contracts
from pipelines.defs.ingestion.executor import ingest_executor
from pipelines.ingest.keys import log_safe

MAX_ROWS_IN_METADATA = 50


class BatchedLog:
    """Progress lines of an ingestion run as few Dagster log events. Each event is a write to
    the instance's event log (33 ms each measured on a busy SQLite instance; a run wrote two
    per file), so the lines go out together, one event at most every ``seconds`` or
    ``max_lines`` lines, and at the end."""

    def __init__(self, emit: Callable[[str], None], seconds: float = 2.0, max_lines: int = 200):
        self._emit, self._seconds, self._max_lines = emit, seconds, max_lines
        self._lines: list[str] = []
        self._since = time.monotonic()

    def __call__(self, line: str) -> None:
        self._lines.append(line)
        if len(self._lines) >= self._max_lines or time.monotonic() - self._since >= self._seconds:
            self.flush()

    def flush(self) -> None:
        if self._lines:
            self._emit("\n".join(self._lines))
            self._lines = []
        self._since = time.monotonic()


class LandingObjectRef(Config):
    key: str
    etag: str
    size: int = 0
    last_modified: str = ""


class IngestConfig(Config):
    objects: list[LandingObjectRef] = []


def raw_asset_key(contract: Contract) -> AssetKey:
    return AssetKey(["raw", contract.bureau, contract.dataset])


def ingest_job_name(contract: Contract) -> str:
    return f"ingest_{contract.bureau}__{contract.dataset}"


def check_rules(contract: Contract) -> list[tuple[str, str]]:
    """(rule id, description) of every check the asset reports: GX rules, type and file checks."""
    checks = [
        (e["meta"]["rule_id"], e["meta"]["description"])
        for e in validation.suite_from_contract(contract)["expectations"]
    ]
    checks += [
        (
            rules.FIELD_TYPE.rule_id(f.name),
            rules.FIELD_TYPE.text(label=f"{f.business_name}({f.name})", logical_type=f.logical_type),
        )
        for f in contract.fields
        if f.logical_type != "string"
    ]
    checks += [(r.id, r.zh) for r in (rules.ROW_FIELD_COUNT, rules.ROW_JSON)]
    # One check for every whole-file rejection (its metadata names each file's rule).
    checks.append((rules.FILE_READABLE.id, rules.FILE_READABLE.zh))
    return checks


def check_name(rule_id: str) -> str:
    return rule_id.replace(".", "__")


def build_ingest_asset(contract: Contract) -> AssetsDefinition:
    key = raw_asset_key(contract)
    checks = check_rules(contract)

    @asset(
        key=key,
        group_name="raw",
        description=f"{contract.business_name}（{contract.key}）: accepted rows, Delta at {{lake}}/raw/"
        f"{contract.bureau}/{contract.dataset}. Contract {contract.version}.",
        check_specs=[AssetCheckSpec(check_name(r), asset=key, description=d) for r, d in checks],
        kinds={"delta", "s3", "python"},
        metadata={"contract_version": contract.version, "sharing": contract.sharing},
        tags={"bureau": contract.bureau},
    )
    def _ingest(context, config: IngestConfig):
        objects = [
            ingest.LandingObject(
                key=ref.key,
                etag=ref.etag,
                size=ref.size,
                last_modified=datetime.fromisoformat(ref.last_modified) if ref.last_modified else None,
            )
            for ref in config.objects
        ]
        context.log.info(f"ingesting {len(objects)} object(s) as one batch")
        progress = BatchedLog(context.log.info)
        result = ingest.process_batch(objects, context.run_id, log=progress)
        for receipt in result.receipts:
            progress(
                f"{log_safe(receipt.object_key)}: {receipt.status}, received {receipt.rows_received}, accepted "
                f"{receipt.rows_accepted}, quarantined {receipt.rows_quarantined}, superseded {receipt.rows_superseded}"
            )
        progress.flush()
        for key, etag in result.superseded.items():
            context.log.warning(
                f"{key}@{etag}: not landed, a newer version of the key replaced it (no receipt "
                "for this version; the newer version has its own run and receipt)"
            )
        for key, exc in result.errors.items():
            context.log.error(f"{key}: {type(exc).__name__}: {exc}")
        if result.errors:
            raise Failure(f"{len(result.errors)} object(s) failed and will be retried: {list(result.errors)[:5]}")
        receipts = result.receipts
        metadata = {
            **_metadata(contract, receipts),
            "stage_seconds": MetadataValue.json(result.timings.rounded_seconds()),
            "stage_peak_rss_mb": MetadataValue.json(result.timings.peak_rss_mb()),
        }
        return MaterializeResult(metadata=metadata, check_results=_checks(checks, receipts))

    return _ingest


def _metadata(contract: Contract, receipts: list[ingest.Receipt]) -> dict:
    by_status = defaultdict(int)
    for r in receipts:
        by_status[r.status] += 1
    versions = [r.raw_table_version for r in receipts if r.raw_table_version is not None]
    return {
        "files": len(receipts),
        "files_accepted": by_status["accepted"],
        "files_rejected": by_status["rejected"],
        "files_duplicate": by_status["duplicate"],
        "rows_received": sum(r.rows_received for r in receipts),
        "rows_accepted": sum(r.rows_accepted for r in receipts),
        "rows_quarantined": sum(r.rows_quarantined for r in receipts),
        "rows_superseded": sum(r.rows_superseded for r in receipts),
        "delta_table": MetadataValue.path(lake.raw_uri(contract)),
        "delta_version": max(versions) if versions else -1,
        "contract_version": contract.version,
        "ledger_head": str(ledger.head() or "empty"),
        "receipts": MetadataValue.json(
            [
                {
                    "key": r.object_key,
                    "status": r.status,
                    "accepted": r.rows_accepted,
                    "quarantined": r.rows_quarantined,
                    "reason": r.reason,
                }
                for r in receipts[:100]
            ]
        ),
    }


def _checks(checks: list[tuple[str, str]], receipts: list[ingest.Receipt]) -> list[AssetCheckResult]:
    results = []
    for rule, description in checks:
        count, rows_by_file, checked = 0, {}, 0
        for r in receipts:
            if rule == rules.FILE_READABLE.id:
                if r.status == "rejected":
                    count += 1
                    rows_by_file[r.object_key] = f"{r.rule}: {r.reason}" if r.rule else r.reason
                continue
            checked += r.rows_received
            info = r.rule_counts.get(rule)
            if info:
                count += info["count"]
                rows_by_file[r.object_key] = [f["row_number"] for f in r.failures if rule in f["rules"]][
                    :MAX_ROWS_IN_METADATA
                ]
        results.append(
            AssetCheckResult(
                check_name=check_name(rule),
                passed=count == 0,
                severity=AssetCheckSeverity.ERROR if rule == rules.FILE_READABLE.id else AssetCheckSeverity.WARN,
                description=description,
                metadata={
                    "failing_count": count,
                    "rows_checked": checked,
                    "failing_row_numbers": MetadataValue.json(rows_by_file),
                },
            )
        )
    return results


@cache
def ingest_assets() -> tuple[AssetsDefinition, ...]:
    return tuple(build_ingest_asset(c) for c in all_contracts().values())


@cache
def ingest_jobs() -> tuple:
    return tuple(
        define_asset_job(
            ingest_job_name(c),
            selection=AssetSelection.assets(raw_asset_key(c)),
            executor_def=ingest_executor(),
            tags={
                "shuzhong/kind": "ingest",
                "shuzhong/dataset": c.key,
                "dagster/max_runtime": str(settings.max_run_seconds()),
            },
        )
        for c in all_contracts().values()
    )


@op(name="reject_objects", description="Writes rejection receipts for objects no contract accepts.")
def reject_objects(context, config: IngestConfig) -> None:
    for ref in config.objects:
        receipt = ingest.process(ingest.LandingObject(key=ref.key, etag=ref.etag), context.run_id)
        context.log.warning(f"{ref.key[:200]!r}: {receipt.status}: {receipt.reason}")


@job(name="reject_unroutable_objects", executor_def=in_process_executor, tags={"shuzhong/kind": "triage"})
def reject_unroutable_objects() -> None:
    reject_objects()
