"""Delta Lake tables of the lake zones: raw, quarantine and the file registry.

Every write that replaces one submission's rows is a single Delta commit
(``overwrite`` with a ``predicate`` on the object key), so readers never see both
versions of a corrected file or neither. Commits that lose a race with another
writer are retried.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.dataset as pads
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, TableNotFoundError

from pipelines import s3, settings
from pipelines.contracts import Contract

log = logging.getLogger(__name__)

ARROW_TYPES = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
}
LINEAGE_SCHEMA = [
    pa.field("_source_key", pa.string()),
    pa.field("_source_etag", pa.string()),
    pa.field("_file_sha256", pa.string()),
    pa.field("_row_number", pa.int64()),
    pa.field("_business_date", pa.date32()),
    pa.field("_uploaded_at", pa.timestamp("us", tz="UTC")),
    pa.field("_ingested_at", pa.timestamp("us", tz="UTC")),
    pa.field("_run_id", pa.string()),
    pa.field("_contract_version", pa.string()),
]
QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("_source_key", pa.string()),
        pa.field("_source_etag", pa.string()),
        pa.field("_file_sha256", pa.string()),
        pa.field("_row_number", pa.int64()),
        pa.field("_business_date", pa.date32()),
        pa.field("rule_ids", pa.list_(pa.string())),  # the row's broken rules: ids of pipelines/rules.py
        pa.field("raw_record", pa.string()),
        pa.field("_ingested_at", pa.timestamp("us", tz="UTC")),
        pa.field("_run_id", pa.string()),
    ]
)
REGISTRY_SCHEMA = pa.schema(
    [
        pa.field("source_key", pa.string()),
        pa.field("source_etag", pa.string()),
        pa.field("file_sha256", pa.string()),
        pa.field("bureau", pa.string()),
        pa.field("dataset", pa.string()),
        pa.field("business_date", pa.date32()),
        pa.field("status", pa.string()),
        pa.field("rows_received", pa.int64()),
        pa.field("rows_accepted", pa.int64()),
        pa.field("rows_quarantined", pa.int64()),
        pa.field("rows_superseded", pa.int64()),
        pa.field("raw_table_version", pa.int64()),
        pa.field("contract_version", pa.string()),
        pa.field("uploaded_at", pa.timestamp("us", tz="UTC")),
        pa.field("processed_at", pa.timestamp("us", tz="UTC")),
        pa.field("run_id", pa.string()),
        pa.field("receipt_key", pa.string()),
        pa.field("reason", pa.string()),
    ]
)


def raw_uri(contract: Contract) -> str:
    return f"{settings.lake_uri()}/raw/{contract.bureau}/{contract.dataset}"


def quarantine_uri(contract: Contract) -> str:
    return f"{settings.lake_uri()}/quarantine/{contract.bureau}/{contract.dataset}"


def object_location(path: str) -> tuple[str, str]:
    """(bucket, key) of an object under the lake root, e.g. ``archive/...``."""
    uri = settings.lake_uri()
    if not uri.startswith("s3://"):
        raise RuntimeError("lake objects live on S3: SHUZHONG_LAKE_URI must be an s3:// URI")
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return bucket, f"{prefix.rstrip('/')}/{path}" if prefix else path


def registry_uri() -> str:
    return f"{settings.lake_uri()}/_meta/files"


def storage_options() -> dict[str, str] | None:
    return s3.delta_storage_options() if settings.lake_uri().startswith("s3://") else None


def raw_schema(contract: Contract) -> pa.Schema:
    return pa.schema([pa.field(f.name, ARROW_TYPES[f.logical_type]) for f in contract.fields] + LINEAGE_SCHEMA)


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@contextmanager
def table_lock(uri: str) -> Iterator[None]:
    """Exclusive per-table lock in ``locked`` write mode; a no-op with conditional writes."""
    if settings.delta_write_mode() != "locked":
        yield
        return
    locks = settings.state_dir() / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{hashlib.sha1(uri.encode()).hexdigest()}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


RACES_LOST = 0  # commits that lost a race and were retried (reported by tests and the benchmark)


def with_retry(write: Callable[[], None], attempts: int = 8, uri: str = "") -> None:
    """Commit, retrying a commit that lost a race with a concurrent writer."""
    global RACES_LOST
    for attempt in range(attempts):
        try:
            with table_lock(uri):
                write()
            return
        except CommitFailedError:
            RACES_LOST += 1
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


_TABLES: dict[tuple[str, str, int], DeltaTable] = {}
# Held while a cached DeltaTable is used: the object is not safe to share between threads.
_TABLES_LOCK = threading.RLock()


def _cache_key(uri: str) -> tuple[str, str, int]:
    """A cached table belongs to one table, server, identity and process (never across a fork)."""
    opts = storage_options() or {}
    return uri, f"{opts.get('AWS_ENDPOINT_URL', '')}|{opts.get('AWS_ACCESS_KEY_ID', '')}", os.getpid()


def delta_table(uri: str) -> DeltaTable:
    """The table at its latest version. One ``DeltaTable`` per table and process, brought up to
    date with ``update_incremental`` (only the log entries committed since are read) instead of
    loading the whole log again for every commit and read of a long-lived run or sensor."""
    key = _cache_key(uri)
    with _TABLES_LOCK:
        dt = _TABLES.get(key)
        if dt is None:
            dt = _TABLES[key] = DeltaTable(uri, storage_options=storage_options())
        else:
            try:
                dt.update_incremental()
            except Exception:  # noqa: BLE001 — any doubt about the cached snapshot: load it afresh
                dt = _TABLES[key] = DeltaTable(uri, storage_options=storage_options())
        return dt


def forget_table(uri: str) -> None:
    with _TABLES_LOCK:
        _TABLES.pop(_cache_key(uri), None)


def _commit(uri: str, table: pa.Table, metadata: dict[str, str], **kwargs) -> int:
    """One Delta write, retried on a lost race; returns the version this commit got."""
    opts = storage_options()
    token = uuid.uuid4().hex
    started = str(int(time.time() * 1000))
    props = CommitProperties(custom_metadata={**metadata, "shuzhong.commit": token, "shuzhong.started_at": started})
    committed: list[int] = []

    def write() -> None:
        with _TABLES_LOCK:
            try:
                dt = delta_table(uri)
            except TableNotFoundError:  # the table's first commit
                write_deltalake(uri, table, storage_options=opts, commit_properties=props, **kwargs)
                return
            try:
                write_deltalake(dt, table, commit_properties=props, **kwargs)
            except Exception:
                forget_table(uri)
                raise
            committed.append(dt.version())

    with_retry(write, uri=uri)
    if committed and token in _log_entry(uri, committed[-1]):
        version = committed[-1]
    else:
        version = _find_commit(uri, token)
    if version > 0 and version % REGISTRY_COMPACT_EVERY == 0 and uri == registry_uri():
        _compact(uri)
        _checkpoint(uri)
    elif version > 0 and version % CHECKPOINT_EVERY == 0:
        _checkpoint(uri)
    return version


def _find_commit(uri: str, token: str) -> int:
    latest = delta_table(uri).version()
    for version in range(latest, max(-1, latest - 500), -1):  # newest first: ours is near the top
        if token in _log_entry(uri, version):
            return version
    raise RuntimeError(f"commit {token} not found in the log of {uri}")


# A Delta checkpoint every this many commits. Without one every reader (DuckDB's delta_scan
# in each dbt statement, a new DeltaTable) replays every JSON commit since the table began:
# the file registry gets a commit per landed chunk, and at 90 days (72 commits) a registry
# read took 0.20 s, 0.08 s with a checkpoint.
CHECKPOINT_EVERY = 10


# The file registry gets one small data file per landed chunk and is read whole: by every
# ingestion run (a new process) and by each dbt statement on stg_meta__files. Every this many
# commits its files are rewritten as one (at 90 days, 72 files: 1.4 s of an ingestion run).
REGISTRY_COMPACT_EVERY = 20


def _compact(uri: str) -> None:
    """Rewrite the table's small files as few (best effort: a failed compaction costs readers
    time, never data). The old files stay on S3, so a reader of an older snapshot still reads."""
    try:
        with table_lock(uri), _TABLES_LOCK:
            delta_table(uri).optimize.compact()
    except Exception as exc:  # noqa: BLE001 — the commit stands; the next twentieth commit tries again
        log.warning("could not compact %s: %s", uri, exc)


def _checkpoint(uri: str) -> None:
    """Write a checkpoint of the table's latest version (best effort: readers then replay only
    the commits after it; a failed checkpoint costs readers time, never data)."""
    try:
        with _TABLES_LOCK:
            delta_table(uri).create_checkpoint()
    except Exception as exc:  # noqa: BLE001 — the commit stands; the next tenth commit tries again
        log.warning("could not write a Delta checkpoint of %s: %s", uri, exc)


def _log_entry(uri: str, version: int) -> str:
    """The text of one Delta log commit file (read directly: delta-rs history numbers entries by
    the snapshot it loaded, which can be stale while other writers commit)."""
    name = f"_delta_log/{version:020d}.json"
    if uri.startswith("s3://"):
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        body = s3.client("pipeline").get_object(Bucket=bucket, Key=f"{prefix.rstrip('/')}/{name}".lstrip("/"))
        return body["Body"].read().decode()
    return (Path(uri) / name).read_text()


def replace_source_rows(uri: str, table: pa.Table, source_keys: str | list[str], metadata: dict[str, str]) -> int:
    """Replace exactly the rows some object keys contributed, in one commit; returns its version."""
    keys = [source_keys] if isinstance(source_keys, str) else source_keys
    predicate = f"_source_key IN ({', '.join(sql_literal(k) for k in keys)})"
    return _commit(uri, table, metadata, mode="overwrite", predicate=predicate)


def append(uri: str, table: pa.Table, metadata: dict[str, str] | None = None) -> int:
    return _commit(uri, table, metadata or {}, mode="append")


def read_table(uri: str) -> pl.DataFrame | None:
    try:
        return pl.read_delta(uri, storage_options=storage_options())
    except (TableNotFoundError, FileNotFoundError):
        return None
    except Exception as exc:  # polars wraps delta errors differently across versions
        if "no files in log segment" in str(exc).lower() or "not a delta table" in str(exc).lower():
            return None
        raise


_REGISTRY: dict[tuple[str, str, int], tuple[frozenset[str], pl.DataFrame]] = {}


def registry() -> pl.DataFrame:
    """The file registry (one row per processed file version). Read once per process, then only
    the data files added since (the registry is append-only: a run adds one file per chunk),
    so a long run or the sensor does not re-read hundreds of small files at every chunk."""
    uri = registry_uri()
    with _TABLES_LOCK:
        try:
            dt = delta_table(uri)
        except TableNotFoundError:
            return pl.from_arrow(REGISTRY_SCHEMA.empty_table())
        return _registry_frame(dt, _cache_key(uri))


def _registry_frame(dt: DeltaTable, key: tuple[str, str, int]) -> pl.DataFrame:
    files = frozenset(dt.file_uris())
    cached = _REGISTRY.get(key)
    if cached is not None and cached[0] == files:
        return cached[1]
    dataset = dt.to_pyarrow_dataset()
    fragments = list(dataset.get_fragments())
    if cached is not None and cached[0] <= files:  # files only added: read just those
        root = dt.table_uri.rstrip("/") + "/"
        new = {f.removeprefix(root) for f in files - cached[0]}
        added = [f for f in fragments if f.path in new]
        if len(added) == len(new):
            frame = pl.concat([cached[1], _read_fragments(dataset, added)])
            _REGISTRY[key] = (files, frame)
            return frame
    frame = _read_fragments(dataset, fragments)
    _REGISTRY[key] = (files, frame)
    return frame


def _read_fragments(dataset: pads.FileSystemDataset, fragments: list) -> pl.DataFrame:
    """Some data files of a table's dataset, in the table's schema."""
    part = pads.FileSystemDataset(fragments, dataset.schema, dataset.format, dataset.filesystem)
    return pl.from_arrow(part.to_table())


def table_exists(uri: str) -> bool:
    """Whether a Delta table is at ``uri`` (reads the log only, never the data)."""
    try:
        delta_table(uri)
    except TableNotFoundError:
        return False
    return True


def ensure_raw_tables() -> list[str]:
    """Create an empty raw table for every contract that has none yet (dbt reads them all)."""
    from pipelines.contracts import all_contracts

    created = []
    for contract in all_contracts().values():
        uri = raw_uri(contract)
        if not table_exists(uri):
            write_deltalake(uri, raw_schema(contract).empty_table(), mode="ignore", storage_options=storage_options())
            created.append(uri)
    return created


def racing_commits(uri: str) -> int:
    """Commits that started before the previous version was committed: writers that raced."""
    history = sorted(DeltaTable(uri, storage_options=storage_options()).history(), key=lambda h: h["version"])
    return sum(
        1
        for prev, cur in zip(history, history[1:], strict=False)
        if "shuzhong.started_at" in cur and int(cur["shuzhong.started_at"]) < int(prev["timestamp"])
    )
