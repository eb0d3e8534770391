"""Ingest one landing object: read, validate, land in Delta, archive, register, receipt.

The steps are ordered and idempotent so that a crash at any point, followed by a rerun,
converges to the state of a clean run:

1. look the file up in the registry (same key and bytes → rerun; same bytes under
   another key → duplicate, no rows);
2. keep an immutable archive copy (``archive/<bureau>/<dataset>/<date>/<sha256>/<file>``);
3. replace the object key's rows in the raw and quarantine Delta tables (one commit each);
4. append the file to the registry;
5. write the receipt where the bureau can read but not write it.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import PurePosixPath

import polars as pl
import pyarrow as pa
from botocore.exceptions import ClientError

from pipelines import lake, ledger, parsing, s3, settings, validation
from pipelines.contracts import Contract, get_contract
from pipelines.faults import crash_point

MAX_LISTED_FAILURES = 1000
_DATE_KEY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class LandingObject:
    key: str
    etag: str
    size: int = 0
    last_modified: datetime | None = None


@dataclass
class Receipt:
    object_key: str
    status: str  # accepted | rejected | duplicate
    bureau: str | None = None
    dataset: str | None = None
    business_date: str | None = None
    etag: str | None = None
    file_sha256: str | None = None
    reason: str | None = None
    contract_id: str | None = None
    contract_version: str | None = None
    file_format: str | None = None
    encoding: str | None = None
    rows_received: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    rows_superseded: int = 0
    rule_counts: dict[str, dict] = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)
    failures_truncated: bool = False
    unknown_columns: list[str] = field(default_factory=list)
    missing_optional_columns: list[str] = field(default_factory=list)
    replaces_etag: str | None = None
    duplicate_of: str | None = None
    raw_table_version: int | None = None
    ledger_seq: int | None = None
    processed_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    run_id: str | None = None
    receipt_key: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2)

    def summary_zh(self) -> str:
        """A short human-readable summary in Chinese for the clerk."""
        status = {"accepted": "已接收", "rejected": "已拒收", "duplicate": "重复提交（未重复入库）"}[self.status]
        lines = [
            f"数据报送回执  {self.object_key}",
            f"处理结果：{status}",
            f"业务日期：{self.business_date or '-'}    数据规范版本：{self.contract_version or '-'}",
            f"处理时间：{self.processed_at}",
        ]
        if self.reason:
            lines.append(f"说明：{self.reason}")
        if self.status == "accepted":
            lines.append(
                f"收到 {self.rows_received} 行，接收 {self.rows_accepted} 行，"
                f"隔离 {self.rows_quarantined} 行，被同文件后续行覆盖 {self.rows_superseded} 行。"
            )
            for rule, info in self.rule_counts.items():
                lines.append(f"  - {info['description'] or rule}：{info['count']} 行（规则 {rule}）")
            if self.failures:
                shown = ", ".join(str(f["row_number"]) for f in self.failures[:30])
                lines.append(f"问题行号（前 30 个）：{shown}")
            if self.unknown_columns:
                lines.append(f"未识别的列（已忽略）：{'、'.join(self.unknown_columns)}")
        return "\n".join(lines) + "\n"


STAGE_SECONDS: dict[str, float] = defaultdict(float)  # wall time per ingestion stage in this process
STAGE_PEAK_RSS: dict[str, int] = defaultdict(int)  # peak resident memory of this process during each stage
_ACTIVE_STAGES: list[str] = []
_SAMPLER: list[threading.Thread] = []


def _sample_rss(interval: float = 0.05) -> None:
    import psutil

    me = psutil.Process()
    while True:
        if _ACTIVE_STAGES:
            rss = me.memory_info().rss
            for name in list(_ACTIVE_STAGES):
                STAGE_PEAK_RSS[name] = max(STAGE_PEAK_RSS[name], rss)
        time.sleep(interval)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Accumulate the wall time and peak memory of one ingestion stage (reported in Dagster
    metadata, used by the benchmark)."""
    if not _SAMPLER:
        _SAMPLER.append(threading.Thread(target=_sample_rss, daemon=True, name="stage-rss"))
        _SAMPLER[0].start()
    started = time.perf_counter()
    _ACTIVE_STAGES.append(name)
    try:
        yield
    finally:
        _ACTIVE_STAGES.remove(name)
        STAGE_SECONDS[name] += time.perf_counter() - started


class InvalidKey(Exception):
    pass


def parse_key(key: str) -> tuple[str, str, date, str]:
    """``<bureau>/<dataset>/<YYYY-MM-DD>/<file>`` → parts; raises InvalidKey with a reason."""
    parts = key.split("/")
    if len(parts) != 4 or not all(parts):
        raise InvalidKey("对象路径应为 <委办局>/<数据集>/<业务日期 YYYY-MM-DD>/<文件名>")
    if any(p in (".", "..") for p in parts) or "\\" in key or "\x00" in key:
        raise InvalidKey("对象路径含有非法的路径片段 / path traversal in object key")
    bureau, dataset, day, filename = parts
    if not _DATE_KEY.match(day):
        raise InvalidKey(f"业务日期应为 YYYY-MM-DD / bad business date {day[:20]!r}")
    try:
        business_date = date.fromisoformat(day)
    except ValueError:
        raise InvalidKey(f"业务日期不存在 / no such date {day!r}") from None
    return bureau, dataset, business_date, filename


def receipt_key_for(key: str) -> str:
    """Receipts mirror the landing key under the receipts bucket."""
    parts = key.split("/")
    if len(parts) == 4 and parts[0] in settings.bureaus() and ".." not in parts:
        return f"{key}.receipt.json"
    bureau = parts[0] if parts and parts[0] in settings.bureaus() else "_unroutable"
    safe = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{bureau}/_rejected/{safe}.receipt.json"


def write_receipt(receipt: Receipt) -> None:
    client = s3.client("pipeline")
    bucket = settings.buckets().receipts
    key = receipt.receipt_key or receipt_key_for(receipt.object_key)
    receipt.receipt_key = key
    client.put_object(Bucket=bucket, Key=key, Body=receipt.to_json().encode(), ContentType="application/json")
    crash_point("between_receipt_files")
    client.put_object(
        Bucket=bucket,
        Key=key.removesuffix(".json") + ".txt",
        Body=receipt.summary_zh().encode(),
        ContentType="text/plain; charset=utf-8",
    )


def read_receipt(object_key: str, identity: str = "pipeline") -> dict | None:
    try:
        body = s3.client(identity).get_object(
            Bucket=settings.buckets().receipts, Key=receipt_key_for(object_key)
        )["Body"].read()
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise
    return json.loads(body)


def _archive(contract: Contract, business_date: date, filename: str, sha: str, data: bytes) -> str:
    """Keep an immutable copy of the accepted bytes; returns its key in the lake bucket."""
    bucket, key = lake.object_location(f"archive/{contract.bureau}/{contract.dataset}/{business_date}/{sha}/{filename}")
    client = s3.client("pipeline")
    try:
        client.put_object(Bucket=bucket, Key=key, Body=data, IfNoneMatch="*")
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("PreconditionFailed", "412"):
            raise  # 412: the archive copy exists already (same sha256, so the same bytes)
    return key


def _dedupe_last_row_wins(frame: pl.DataFrame, pk: list[str]) -> tuple[pl.DataFrame, int]:
    keyed = frame.filter(pl.all_horizontal([pl.col(c).is_not_null() for c in pk]))
    unkeyed = frame.filter(~pl.all_horizontal([pl.col(c).is_not_null() for c in pk]))
    kept = keyed.unique(subset=pk, keep="last", maintain_order=True)
    superseded = keyed.height - kept.height
    return pl.concat([kept, unkeyed]).sort(parsing.ROW_NUMBER), superseded


def _raw_records(raw: pl.DataFrame, rows: list[int]) -> list[str]:
    subset = raw.filter(pl.col(parsing.ROW_NUMBER).is_in(rows)).sort(parsing.ROW_NUMBER)
    return [json.dumps(r, ensure_ascii=False, default=str) for r in subset.drop(parsing.ROW_NUMBER).to_dicts()]


@dataclass
class _Landing:
    """A readable file of the batch: its rows wait for the batch's one commit per table."""

    obj: LandingObject
    receipt: Receipt
    contract: Contract
    business_date: date
    filename: str
    data: bytes
    parsed: parsing.ParsedFile
    frame: pl.DataFrame  # typed rows, last row per key
    superseded: int
    failures: dict[str, list[int]] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)


@dataclass
class _Batch:
    """What one batch has decided: files to land, registry rows and receipts still to write."""

    run_id: str
    registry: pl.DataFrame
    landing: list[_Landing] = field(default_factory=list)
    registry_rows: list[dict] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)

    def register(self, receipt: Receipt, obj: LandingObject, contract: Contract, business_date: date) -> None:
        """Record the processed file once per (key, ETag, status): a rerun after a crash adds nothing."""
        known = self.registry.filter(
            (pl.col("source_key") == obj.key) & (pl.col("source_etag") == receipt.etag)
            & (pl.col("status") == receipt.status)
        )
        if known.height:
            return
        now = datetime.now(UTC)
        self.registry_rows.append({
            "source_key": obj.key,
            "source_etag": receipt.etag,
            "file_sha256": receipt.file_sha256,
            "bureau": contract.bureau,
            "dataset": contract.dataset,
            "business_date": business_date,
            "status": receipt.status,
            "rows_received": receipt.rows_received,
            "rows_accepted": receipt.rows_accepted,
            "rows_quarantined": receipt.rows_quarantined,
            "rows_superseded": receipt.rows_superseded,
            "raw_table_version": receipt.raw_table_version,
            "contract_version": contract.version,
            "uploaded_at": obj.last_modified or now,
            "processed_at": now,
            "run_id": receipt.run_id,
            "receipt_key": receipt_key_for(obj.key),
            "reason": receipt.reason,
        })

    def finish(self, receipt: Receipt, obj: LandingObject, contract: Contract, business_date: date) -> Receipt:
        self.register(receipt, obj, contract, business_date)
        self.receipts.append(receipt)
        return receipt


@dataclass
class BatchResult:
    receipts: list[Receipt] = field(default_factory=list)
    errors: dict[str, Exception] = field(default_factory=dict)  # object key → infrastructure failure


IO_THREADS = 8


def max_bytes_per_commit() -> int:
    """Bytes of files landed together (one commit per table); bounds a run's memory."""
    return int(settings.get("SHUZHONG_MAX_MB_PER_COMMIT", "16")) * 2**20


def process(obj: LandingObject, run_id: str, data: bytes | None = None) -> Receipt:
    """Ingest one landing object and return its receipt (also written to the receipts bucket)."""
    result = process_batch([obj], run_id, {obj.key: data} if data is not None else None)
    if obj.key in result.errors:
        raise result.errors[obj.key]
    return result.receipts[0]


def process_batch(objs: list[LandingObject], run_id: str, data: dict[str, bytes] | None = None,
                  log: Callable[[str], None] | None = None) -> BatchResult:
    """Ingest landing objects together: each file is read, checked and validated on its own
    (its receipt is its own), but files land in chunks of up to ``max_bytes_per_commit`` with
    one Delta commit per table, one registry commit and one ledger listing per chunk: many
    small files stay cheap and a large batch does not hold all its rows in memory at once."""
    result = BatchResult()
    chunk: list[LandingObject] = []
    size, limit = 0, max_bytes_per_commit()
    for obj in objs:  # a key twice in one batch: the later version goes in a later commit
        obj_size = obj.size or len((data or {}).get(obj.key, b""))
        if chunk and (any(o.key == obj.key for o in chunk) or size + obj_size > limit):
            _process_chunk(chunk, run_id, data or {}, result, log)
            chunk, size = [], 0
        chunk.append(obj)
        size += obj_size
    if chunk:
        _process_chunk(chunk, run_id, data or {}, result, log)
    return result


def _process_chunk(objs: list[LandingObject], run_id: str, data: dict[str, bytes], result: BatchResult,
                   log: Callable[[str], None] | None) -> None:
    with stage("registry"):
        batch = _Batch(run_id=run_id, registry=lake.registry())
    final: dict[str, Receipt] = {}
    for n, obj in enumerate(objs, start=1):
        try:
            receipt = _prepare(obj, data.get(obj.key), batch)
        except Exception as exc:  # noqa: BLE001 — an infrastructure failure: the run fails and is retried
            result.errors[obj.key] = exc
            continue
        if receipt is not None:
            final[obj.key] = receipt
        if log:
            got = receipt or batch.landing[-1].receipt
            log(f"[{n}/{len(objs)}] {obj.key}: {got.status if receipt else 'read'}, {got.rows_received} rows")
    try:
        _land(batch)
    except Exception as exc:  # noqa: BLE001 — nothing of the batch is registered: all of it is retried
        for item in batch.landing:
            result.errors[item.obj.key] = exc
        for receipt in batch.receipts:
            result.errors[receipt.object_key] = exc
        return
    if log and batch.landing:
        versions = sorted({i.receipt.raw_table_version for i in batch.landing})
        log(f"landed {len(batch.landing)} file(s), {sum(i.receipt.rows_accepted for i in batch.landing)} rows, "
            f"raw table version(s) {versions}")
    for item in batch.landing:
        final[item.obj.key] = item.receipt
    for receipt in batch.receipts:
        final.setdefault(receipt.object_key, receipt)
    result.receipts += [final[o.key] for o in objs if o.key in final]


def _prepare(obj: LandingObject, data: bytes | None, batch: _Batch) -> Receipt | None:
    """Checks of one object up to validation. Returns its receipt when the file is settled here
    (rejected, duplicate, rerun); None when it joins ``batch.landing``."""
    receipt = Receipt(object_key=obj.key, status="rejected", etag=obj.etag, run_id=batch.run_id)
    try:
        bureau, dataset, business_date, filename = parse_key(obj.key)
    except InvalidKey as exc:
        receipt.reason = str(exc)
        write_receipt(receipt)
        return receipt
    receipt.bureau, receipt.dataset, receipt.business_date = bureau, dataset, str(business_date)
    contract = get_contract(bureau, dataset)
    if contract is None:
        receipt.reason = f"没有数据集 {bureau}.{dataset} 的数据规范 / no contract for dataset {bureau}.{dataset}"
        write_receipt(receipt)
        return receipt
    receipt.contract_id, receipt.contract_version = contract.id, contract.version

    if data is None:
        try:
            with stage("download"):
                got = s3.client("pipeline").get_object(Bucket=settings.buckets().landing, Key=obj.key)
                data = got["Body"].read()
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
                receipt.reason = "对象已被删除，未处理 / object was deleted before it could be read"
                write_receipt(receipt)
                return receipt
            raise
        receipt.etag = got["ETag"].strip('"')
        if obj.last_modified is None:
            obj = LandingObject(obj.key, receipt.etag, obj.size, got["LastModified"])
    sha = hashlib.sha256(data).hexdigest()
    receipt.file_sha256 = sha
    crash_point("after_download")

    registry = batch.registry
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
    first = other["source_key"][0] if other.height else next(
        (i.obj.key for i in batch.landing if i.receipt.file_sha256 == sha), None)
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

    try:
        with stage("parse"):
            parsed = parsing.parse_file(data, filename, contract)
    except parsing.UnreadableFile as exc:
        receipt.reason = str(exc)
        return batch.finish(receipt, obj, contract, business_date)
    receipt.file_format, receipt.encoding = parsed.file_format, parsed.encoding
    receipt.unknown_columns = parsed.unknown_columns
    receipt.missing_optional_columns = parsed.missing_optional_columns
    receipt.rows_received = parsed.rows_received
    frame, superseded = _dedupe_last_row_wins(parsed.frame, contract.primary_key)
    batch.landing.append(_Landing(obj, receipt, contract, business_date, filename, data, parsed, frame, superseded))
    return None


ROW_BITS = 32  # a batch validates its files as one frame: row id = file index << 32 | row number


def _validate(items: list[_Landing]) -> None:
    """Run the dataset's GX suite once over the rows of all ``items`` (same contract)."""
    contract = items[0].contract
    combined = pl.concat([i.frame.with_columns(pl.col(parsing.ROW_NUMBER) + (n << ROW_BITS))
                          for n, i in enumerate(items)])
    results = validation.validate(combined.to_pandas(), validation.load_suite(contract))
    descriptions = {r.rule_id: r.description for r in results}
    for item in items:
        item.failures, item.descriptions = dict(item.parsed.type_failures), descriptions
    for r in results:
        if r.unexpected_count != len(r.row_numbers):  # GX is the validator of record: counts must agree
            raise RuntimeError(f"{r.rule_id}: GX counted {r.unexpected_count} rows but listed {len(r.row_numbers)}")
        for row_id in r.row_numbers:
            items[row_id >> ROW_BITS].failures.setdefault(r.rule_id, []).append(row_id & ((1 << ROW_BITS) - 1))


def _tables(item: _Landing, run_id: str) -> tuple[pa.Table, pa.Table]:
    """The raw-zone rows and quarantine rows of one validated file (and its receipt's counts)."""
    obj, receipt, contract = item.obj, item.receipt, item.contract
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


def _replace_rows(uri: str, tables: list[pa.Table], items: list[_Landing], run_id: str) -> int:
    """One Delta commit replacing the rows of the items' object keys in ``uri``; returns its version."""
    keys = [i.obj.key for i in items]
    meta = {"shuzhong.source_keys": json.dumps(keys, ensure_ascii=False), "shuzhong.run_id": run_id}
    with stage("delta_write"):
        return lake.replace_source_rows(uri, pa.concat_tables(tables), keys, meta)


def _land(batch: _Batch) -> None:
    """Land the batch's readable files, then one registry commit and the receipts of every file."""
    if batch.landing:
        _land_files(batch)
    crash_point("before_registry")
    with stage("registry"):
        if batch.registry_rows:
            lake.append(lake.registry_uri(), pa.Table.from_pylist(batch.registry_rows, schema=lake.REGISTRY_SCHEMA))
    crash_point("before_receipt")
    with stage("receipts"), ThreadPoolExecutor(IO_THREADS) as pool:
        list(pool.map(write_receipt, batch.receipts))


def _land_files(batch: _Batch) -> None:
    """Validate, archive, commit (one Delta commit per table), ledger; queue registry rows and receipts."""
    groups: dict[str, list[_Landing]] = defaultdict(list)
    for item in batch.landing:
        groups[item.contract.key].append(item)
    raw_tables: dict[str, list[pa.Table]] = defaultdict(list)
    quarantine_tables: dict[str, list[pa.Table]] = defaultdict(list)
    for key, items in groups.items():
        with stage("validate"):
            _validate(items)
        with stage("tables"):
            for item in items:
                raw_table, quarantine = _tables(item, batch.run_id)
                raw_tables[key].append(raw_table)
                quarantine_tables[key].append(quarantine)

    crash_point("before_archive")
    with stage("archive"), ThreadPoolExecutor(IO_THREADS) as pool:
        archive_keys = list(pool.map(
            lambda i: _archive(i.contract, i.business_date, i.filename, i.receipt.file_sha256, i.data), batch.landing))
    crash_point("before_raw_commit")
    for key, items in groups.items():
        version = _replace_rows(lake.raw_uri(items[0].contract), raw_tables[key], items, batch.run_id)
        for item in items:
            item.receipt.raw_table_version = version
    crash_point("after_raw_commit")
    for key, items in groups.items():
        _replace_rows(lake.quarantine_uri(items[0].contract), quarantine_tables[key], items, batch.run_id)

    for item in batch.landing:
        item.receipt.status = "accepted"
    crash_point("before_ledger")
    with stage("ledger"):
        entries = ledger.append_many([
            ("file", {
                "source_key": i.obj.key, "etag": i.receipt.etag, "file_sha256": i.receipt.file_sha256,
                "archive_key": archive_key, "table": lake.raw_uri(i.contract),
                "delta_version": i.receipt.raw_table_version, "business_date": str(i.business_date),
                "contract_version": i.contract.version, "rows_received": i.receipt.rows_received,
                "rows_accepted": i.receipt.rows_accepted, "rows_quarantined": i.receipt.rows_quarantined,
                "rows_superseded": i.receipt.rows_superseded,
            }, f"file:{i.obj.key}:{i.receipt.file_sha256}")
            for i, archive_key in zip(batch.landing, archive_keys, strict=True)
        ])
    for item, entry in zip(batch.landing, entries, strict=True):
        item.receipt.ledger_seq = entry["seq"]
        batch.finish(item.receipt, item.obj, item.contract, item.business_date)


def _type_description(rule: str, contract: Contract) -> str:
    column, _, kind = rule.partition(".")
    if rule == "row.field_count":
        return "列数与表头不一致"
    if rule == "row.json":
        return "不是合法的 JSON 对象"
    try:
        f = contract.field(column)
    except StopIteration:
        return rule
    if kind == "type":
        kind_zh = {"integer": "整数", "number": "数值", "date": "日期", "timestamp": "时间"}.get(f.logical_type)
        return f"{f.business_name}({f.name}) 无法解析为{kind_zh}"
    return rule


def object_name(key: str) -> str:
    return PurePosixPath(key).name
