"""Landing rows into Delta: dedupe a file's rows, build its raw and quarantine tables, and
replace an object key's rows in one commit."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import polars as pl
import pyarrow as pa

from pipelines import lake, parsing, rules
from pipelines.contracts import Contract
from pipelines.ingest.batch import PendingFile
from pipelines.ingest.profiler import StageProfiler

MAX_LISTED_FAILURES = 1000


def dedupe_last_row_wins(frame: pl.DataFrame, pk: list[str]) -> tuple[pl.DataFrame, int]:
    """The last row per primary key (rows with a null key part kept as they are), and how many went."""
    keyed = frame.filter(pl.all_horizontal([pl.col(c).is_not_null() for c in pk]))
    unkeyed = frame.filter(~pl.all_horizontal([pl.col(c).is_not_null() for c in pk]))
    kept = keyed.unique(subset=pk, keep="last", maintain_order=True)
    superseded = keyed.height - kept.height
    return pl.concat([kept, unkeyed]).sort(parsing.ROW_NUMBER), superseded


def _raw_records(raw: pl.DataFrame, rows: list[int]) -> list[str]:
    subset = raw.filter(pl.col(parsing.ROW_NUMBER).is_in(rows)).sort(parsing.ROW_NUMBER)
    return [json.dumps(r, ensure_ascii=False, default=str) for r in subset.drop(parsing.ROW_NUMBER).to_dicts()]


def file_tables(item: PendingFile, run_id: str) -> tuple[pa.Table, pa.Table]:
    """The raw-zone rows and quarantine rows of one validated file (and its receipt's counts)."""
    obj, receipt, contract = item.obj, item.receipt, item.contract
    unknown = sorted(r for r in item.failures if not rules.known(r))
    if unknown:  # a stale suite file: `shuzhong generate` rewrites it from the catalogue
        raise RuntimeError(f"{contract.key}: rule ids not in the rule catalogue (pipelines/rules.py): {unknown}")
    by_row: dict[int, list[str]] = {}
    for rule, rows in item.failures.items():
        for n in rows:
            by_row.setdefault(n, []).append(rule)
    bad_rows = sorted(by_row)
    accepted = item.frame.filter(~pl.col(parsing.ROW_NUMBER).is_in(bad_rows))
    now = datetime.now(UTC)
    lineage = {
        "_source_key": obj.key,
        "_source_etag": receipt.etag,
        "_file_sha256": receipt.file_sha256,
        "_business_date": item.business_date,
        "_uploaded_at": obj.last_modified or now,
        "_ingested_at": now,
        "_run_id": run_id,
        "_contract_version": contract.version,
    }
    raw_table = accepted.with_columns([pl.lit(v).alias(k) for k, v in lineage.items()]).to_arrow()
    raw_table = raw_table.select(lake.raw_schema(contract).names).cast(lake.raw_schema(contract))
    n_bad = len(bad_rows)
    quarantine = pa.table(
        {
            "_source_key": [obj.key] * n_bad,
            "_source_etag": [receipt.etag] * n_bad,
            "_file_sha256": [receipt.file_sha256] * n_bad,
            "_row_number": bad_rows,
            "_business_date": [item.business_date] * n_bad,
            "rule_ids": [sorted(by_row[n]) for n in bad_rows],
            "raw_record": _raw_records(item.parsed.raw, bad_rows),
            "_ingested_at": [now] * n_bad,
            "_run_id": [run_id] * n_bad,
        },
        schema=lake.QUARANTINE_SCHEMA,
    )
    receipt.rows_accepted = accepted.height
    receipt.rows_quarantined = n_bad
    receipt.rows_superseded = item.superseded
    receipt.rule_counts = {
        rule: {"count": len(rows), "description": item.descriptions.get(rule, _type_description(rule, contract))}
        for rule, rows in sorted(item.failures.items())
    }
    receipt.failures = [{"row_number": n, "rules": sorted(by_row[n])} for n in bad_rows[:MAX_LISTED_FAILURES]]
    receipt.failures_truncated = n_bad > MAX_LISTED_FAILURES
    return raw_table, quarantine


def replace_rows(
    uri: str, tables: list[pa.Table], items: list[PendingFile], run_id: str, profiler: StageProfiler
) -> int:
    """One Delta commit replacing the rows of the items' object keys in ``uri``; returns its version."""
    keys = [i.obj.key for i in items]
    meta = {"shuzhong.source_keys": json.dumps(keys, ensure_ascii=False), "shuzhong.run_id": run_id}
    with profiler.stage("delta_write"):
        return lake.replace_source_rows(uri, pa.concat_tables(tables), keys, meta)


def _labels(contract: Contract) -> dict[str, tuple[str, str]]:
    return {f.name: (f"{f.business_name}({f.name})", f.logical_type) for f in contract.fields}


def _type_description(rule: str, contract: Contract) -> str:
    """The statement of a rule the parser checks (GX rules carry theirs in the suite)."""
    return rules.describe(rule, _labels(contract))
