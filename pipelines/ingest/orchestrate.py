"""Batch orchestration: chunk the objects, settle or parse each file, validate, land, register, receipt."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import polars as pl
import pyarrow as pa
from botocore.exceptions import ClientError

from pipelines import lake, ledger, parsing, rules, s3, settings, validation
from pipelines.contracts import get_contract
from pipelines.faults import crash_point, fail_point, stall_point
from pipelines.ingest.archive import archive_file, ledger_files
from pipelines.ingest.batch import Batch, BatchResult, LandingObject, PendingFile
from pipelines.ingest.chunks import plan_chunks
from pipelines.ingest.keys import InvalidKey, log_safe, parse_key
from pipelines.ingest.landing import dedupe_last_row_wins, file_tables, replace_rows
from pipelines.ingest.profiler import StageProfiler
from pipelines.ingest.receipts import Receipt, read_receipt, write_receipt

IO_THREADS = 8
ROW_BITS = 32  # a batch validates its files as one frame: row id = file index << 32 | row number


class Superseded(Exception):
    """The planned version of a key is no longer current (a newer upload replaced it)."""


def _newer_upload(registry: pl.DataFrame, obj: LandingObject) -> bool:
    """The registry already holds an accepted upload of ``obj.key`` newer than ``obj``."""
    if obj.last_modified is None or not registry.height:
        return False
    return (
        registry.filter(
            (pl.col("source_key") == obj.key)
            & (pl.col("status") == "accepted")
            & (pl.col("source_etag") != obj.etag)
            & (pl.col("uploaded_at") > obj.last_modified)
        ).height
        > 0
    )


def process(obj: LandingObject, run_id: str, data: bytes | None = None) -> Receipt:
    """Ingest one landing object and return its receipt (also written to the receipts bucket)."""
    result = process_batch([obj], run_id, {obj.key: data} if data is not None else None)
    if obj.key in result.errors:
        raise result.errors[obj.key]
    if obj.key in result.superseded:
        raise Superseded(f"{obj.key}@{obj.etag}: a newer version replaced it")
    return result.receipts[0]


def process_batch(
    objs: list[LandingObject],
    run_id: str,
    data: dict[str, bytes] | None = None,
    log: Callable[[str], None] | None = None,
    reprocess: str | None = None,
) -> BatchResult:
    """Ingest landing objects together: each file is read, checked and validated on its own
    (its receipt is its own), but files land in chunks of up to ``max_bytes_per_commit`` with
    one Delta commit per table, one registry commit and one ledger listing per chunk: many
    small files stay cheap and a large batch does not hold all its rows in memory at once.
    ``result.timings``: seconds and peak memory per stage of this batch.
    ``reprocess`` (a reason; with ``data``: archived bytes): re-validate versions already
    accepted against the current contract: never settled as a rerun or duplicate, receipts
    marked reprocessed, ``reprocess`` ledger entries (pipelines.ingest.reprocess)."""
    result = BatchResult()
    with StageProfiler() as profiler:
        for chunk in plan_chunks(objs, data or {}):
            _process_chunk(chunk, run_id, data or {}, result, log, profiler, reprocess)
    result.timings = profiler.timings()
    return result


def _process_chunk(
    objs: list[LandingObject],
    run_id: str,
    data: dict[str, bytes],
    result: BatchResult,
    log: Callable[[str], None] | None,
    profiler: StageProfiler,
    reprocess: str | None = None,
) -> None:
    with profiler.stage("registry"):
        batch = Batch(run_id=run_id, registry=lake.registry(), profiler=profiler, reprocess=reprocess)
    final: dict[str, Receipt] = {}
    for n, obj in enumerate(objs, start=1):
        try:
            receipt = _prepare(obj, data.get(obj.key), batch)
        except Superseded as exc:
            result.superseded[obj.key] = obj.etag
            if log:
                log(f"[{n}/{len(objs)}] {obj.key}@{obj.etag}: skipped, {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 — an infrastructure failure: the run fails and is retried
            result.errors[obj.key] = exc
            continue
        if receipt is not None:
            final[obj.key] = receipt
        if log:
            got = receipt or batch.landing[-1].receipt
            log(f"[{n}/{len(objs)}] {log_safe(obj.key)}: {got.status if receipt else 'read'}, {got.rows_received} rows")
    try:
        for item in _land(batch):
            result.superseded[item.obj.key] = item.obj.etag
            if log:
                log(f"{item.obj.key}@{item.obj.etag}: skipped, a newer upload landed meanwhile")
    except Exception as exc:  # noqa: BLE001 — nothing of the batch is registered: all of it is retried
        for item in batch.landing:
            result.errors[item.obj.key] = exc
        for receipt in batch.receipts:
            result.errors[receipt.object_key] = exc
        return
    if log and batch.landing:
        versions = sorted({i.receipt.raw_table_version for i in batch.landing})
        log(
            f"landed {len(batch.landing)} file(s), {sum(i.receipt.rows_accepted for i in batch.landing)} rows, "
            f"raw table version(s) {versions}"
        )
    for item in batch.landing:
        final[item.obj.key] = item.receipt
    for receipt in batch.receipts:
        final.setdefault(receipt.object_key, receipt)
    result.receipts += [final[o.key] for o in objs if o.key in final]


def _prepare(obj: LandingObject, data: bytes | None, batch: Batch) -> Receipt | None:
    """Checks of one object up to validation. Returns its receipt when the file is settled here
    (rejected, duplicate, rerun); None when it joins ``batch.landing``."""
    receipt = Receipt(object_key=obj.key, status="rejected", etag=obj.etag, run_id=batch.run_id)
    try:
        bureau, dataset, business_date, filename = parse_key(obj.key)
    except InvalidKey as exc:
        receipt.reason, receipt.rule = str(exc), exc.rule
        write_receipt(receipt)
        return receipt
    receipt.bureau, receipt.dataset, receipt.business_date = bureau, dataset, str(business_date)
    contract = get_contract(bureau, dataset)
    if contract is None:
        receipt.reason = f"没有数据集 {bureau}.{dataset} 的数据规范 / no contract for dataset {bureau}.{dataset}"
        receipt.rule = rules.KEY_DATASET.id
        write_receipt(receipt)
        return receipt
    receipt.contract_id, receipt.contract_version = contract.id, contract.version
    receipt.set_deadline(contract.cadence, contract.deadline)

    cap = settings.max_object_bytes(contract.max_object_mb)
    if data is None and obj.size > cap:  # the listing size, before any download
        receipt.reason = (
            f"文件过大：{obj.size} 字节，超过上限 {cap} 字节，未读取 / "
            f"file of {obj.size} bytes exceeds the limit of {cap} bytes"
        )
        receipt.rule = rules.FILE_TOO_LARGE.id
        return batch.finish(receipt, obj, contract, business_date)
    if data is None:
        try:
            with batch.profiler.stage("download"):
                fail_point("download", obj.key)
                # The version the sensor planned, not whatever is current (If-Match on its ETag).
                match = {"IfMatch": f'"{obj.etag}"'} if obj.etag else {}
                got = s3.client("pipeline").get_object(Bucket=settings.buckets().landing, Key=obj.key, **match)
                data = got["Body"].read()
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("PreconditionFailed", "412"):
                raise Superseded("a newer version replaced it in the landing bucket (412)") from None
            if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
                receipt.reason = "对象已被删除，未处理 / object was deleted before it could be read"
                receipt.rule = rules.FILE_GONE.id
                write_receipt(receipt)
                return receipt
            raise
        receipt.etag = got["ETag"].strip('"')
        if obj.last_modified is None:
            obj = LandingObject(obj.key, receipt.etag, obj.size, got["LastModified"])
    sha = hashlib.sha256(data).hexdigest()
    receipt.file_sha256 = sha
    crash_point("after_download")
    stall_point("after_download")

    registry = batch.registry
    if _newer_upload(registry, obj):
        raise Superseded("the registry holds a newer upload of this key")
    if batch.reprocess is not None:
        return _prepare_reprocess(obj, data, receipt, contract, business_date, filename, batch)
    same = registry.filter((pl.col("source_key") == obj.key) & (pl.col("file_sha256") == sha))
    if same.height:
        # A rerun of a file already registered: its rows are in place; re-issue its receipt.
        previous = read_receipt(obj.key)
        if previous and previous.get("file_sha256") == sha:
            receipt = Receipt(**previous)
            write_receipt(receipt)  # both receipt files, in case a crash left only one
            return receipt
    other = registry.filter(
        (pl.col("file_sha256") == sha) & (pl.col("source_key") != obj.key) & (pl.col("status") == "accepted")
    )
    first = (
        other["source_key"][0]
        if other.height
        else next((i.obj.key for i in batch.landing if i.receipt.file_sha256 == sha), None)
    )
    if first is not None:
        receipt.status = "duplicate"
        receipt.duplicate_of = first
        receipt.reason = f"与已接收文件内容完全相同，未重复入库 / identical to {first}"
        return batch.finish(receipt, obj, contract, business_date)
    earlier = registry.filter(
        (pl.col("source_key") == obj.key) & (pl.col("status") == "accepted") & (pl.col("file_sha256") != sha)
    )
    if earlier.height:
        receipt.replaces_etag = earlier.sort("processed_at")["source_etag"][-1]

    return _parse(obj, data, receipt, contract, business_date, filename, batch)


def _prepare_reprocess(
    obj: LandingObject, data: bytes, receipt: Receipt, contract, business_date, filename: str, batch: Batch
) -> Receipt | None:
    """Archived bytes of an accepted version, re-validated: the same bytes are the point (the
    contract changed), so no rerun or duplicate settling; the receipt records what it replaces."""
    receipt.reprocessed, receipt.reprocess_reason = True, batch.reprocess
    previous = read_receipt(obj.key)
    if previous:
        receipt.replaces_etag = previous.get("replaces_etag")
        receipt.reprocess_of = {
            k: previous.get(k)
            for k in (
                "contract_version",
                "rows_received",
                "rows_accepted",
                "rows_quarantined",
                "rows_superseded",
                "processed_at",
                "run_id",
                "ledger_seq",
                "ledger_hash",
            )
        }
    return _parse(obj, data, receipt, contract, business_date, filename, batch)


def _parse(
    obj: LandingObject, data: bytes, receipt: Receipt, contract, business_date, filename: str, batch: Batch
) -> Receipt | None:
    try:
        with batch.profiler.stage("parse"):
            parsed = parsing.parse_file(data, filename, contract)
    except parsing.UnreadableFile as exc:
        receipt.reason, receipt.rule = str(exc), exc.rule
        return batch.finish(receipt, obj, contract, business_date)
    receipt.file_format, receipt.encoding = parsed.file_format, parsed.encoding
    receipt.sheet_name = parsed.sheet_name
    receipt.unknown_columns = parsed.unknown_columns
    receipt.missing_optional_columns = parsed.missing_optional_columns
    receipt.rows_received = parsed.rows_received
    frame, superseded = dedupe_last_row_wins(parsed.frame, contract.primary_key)
    batch.landing.append(PendingFile(obj, receipt, contract, business_date, filename, data, parsed, frame, superseded))
    return None


def _validate(items: list[PendingFile]) -> None:
    """Run the dataset's GX suite once over the rows of all ``items`` (same contract)."""
    contract = items[0].contract
    combined = pl.concat(
        [i.frame.with_columns(pl.col(parsing.ROW_NUMBER) + (n << ROW_BITS)) for n, i in enumerate(items)]
    )
    results = validation.validate_distinct(combined, validation.load_suite(contract))
    descriptions = {r.rule_id: r.description for r in results}
    for item in items:
        item.failures, item.descriptions = dict(item.parsed.type_failures), descriptions
    for r in results:
        if r.unexpected_count != len(r.row_numbers):  # GX is the validator of record: counts must agree
            raise RuntimeError(f"{r.rule_id}: GX counted {r.unexpected_count} rows but listed {len(r.row_numbers)}")
        for row_id in r.row_numbers:
            items[row_id >> ROW_BITS].failures.setdefault(r.rule_id, []).append(row_id & ((1 << ROW_BITS) - 1))
    for item in items:
        # A row superseded by a later row with its key is counted as superseded only, never also
        # quarantined (received = accepted + quarantined + superseded); a present value that cannot
        # be typed breaks its type rule, not also ``required`` (spec §4).
        gone = set(item.parsed.frame[parsing.ROW_NUMBER]) - set(item.frame[parsing.ROW_NUMBER])
        failures = {rule: [n for n in rows if n not in gone] for rule, rows in item.failures.items()}
        item.failures = validation.type_rule_wins(failures)


def _land(batch: Batch) -> list[PendingFile]:
    """Land the batch's readable files, then one registry commit and the receipts of every file.
    Returns the files skipped because, just before the commit, the registry held a newer upload
    of their key (another run landed it meanwhile): an older version never replaces a newer one."""
    skipped: list[PendingFile] = []
    if batch.landing:
        with batch.profiler.stage("registry"):
            current = lake.registry()
        skipped = [i for i in batch.landing if _newer_upload(current, i.obj)]
        batch.landing = [i for i in batch.landing if i not in skipped]
    if batch.landing:
        _land_files(batch)
    crash_point("before_registry")
    with batch.profiler.stage("registry"):
        if batch.registry_rows:
            lake.append(lake.registry_uri(), pa.Table.from_pylist(batch.registry_rows, schema=lake.REGISTRY_SCHEMA))
    crash_point("before_receipt")
    with batch.profiler.stage("receipts"), ThreadPoolExecutor(IO_THREADS) as pool:
        list(pool.map(write_receipt, batch.receipts))
    return skipped


def _land_files(batch: Batch) -> None:
    """Validate, archive, commit (one Delta commit per table), ledger; queue registry rows and receipts."""
    profiler = batch.profiler
    groups: dict[str, list[PendingFile]] = defaultdict(list)
    for item in batch.landing:
        groups[item.contract.key].append(item)
    raw_tables: dict[str, list[pa.Table]] = defaultdict(list)
    quarantine_tables: dict[str, list[pa.Table]] = defaultdict(list)
    for key, items in groups.items():
        with profiler.stage("validate"):
            _validate(items)
        with profiler.stage("tables"):
            for item in items:
                raw_table, quarantine = file_tables(item, batch.run_id)
                raw_tables[key].append(raw_table)
                item.rows_digest, item.quarantine_digest = ledger.rows_digest(raw_table), ledger.rows_digest(quarantine)
                quarantine_tables[key].append(quarantine)

    crash_point("before_archive")
    with profiler.stage("archive"), ThreadPoolExecutor(IO_THREADS) as pool:
        archive_keys = list(pool.map(archive_file, batch.landing))
    crash_point("before_raw_commit")
    for key, items in groups.items():
        version = replace_rows(lake.raw_uri(items[0].contract), raw_tables[key], items, batch.run_id, profiler)
        for item in items:
            item.receipt.raw_table_version = version
    crash_point("after_raw_commit")
    for key, items in groups.items():
        q_version = replace_rows(
            lake.quarantine_uri(items[0].contract), quarantine_tables[key], items, batch.run_id, profiler
        )
        for item in items:
            item.quarantine_version = q_version

    for item in batch.landing:
        item.receipt.status = "accepted"
    crash_point("before_ledger")
    with profiler.stage("ledger"):
        entries = ledger_files(batch.landing, archive_keys, batch.reprocess, batch.run_id)
    for item, entry in zip(batch.landing, entries, strict=True):
        item.receipt.ledger_seq, item.receipt.ledger_hash = entry["seq"], entry["hash"]
        item.receipt.ledger_root = settings.lake_uri()
        batch.finish(item.receipt, item.obj, item.contract, item.business_date)
