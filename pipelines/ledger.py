"""A tamper-evident, hash-chained ledger of accepted files and publishes (不可篡改、可追溯).

Entries are immutable JSON objects ``<lake>/ledger/entries/<seq>.json``. Each holds its
sequence number, kind, payload and the previous entry's hash; its own hash covers all of
that. Appends use a conditional write (``If-None-Match: *``) so concurrent writers can't
fork the chain: the loser re-reads the tail and retries. The head after each run is also
recorded outside the ledger (Dagster materialization metadata), so a cut-off tail is
detected too. ``shuzhong ledger verify`` re-checks the chain and the archived bytes.

Every entry is also signed (``sig``: HMAC-SHA256 of its hash) with ``SHUZHONG_LEDGER_KEY``,
which is never stored in the lake, so whoever can write the lake bucket cannot rebuild a
consistent chain. Witnesses of the head live outside the lake: every receipt carries the
entry it produced (``ledger_seq``, ``ledger_hash``) and every publish writes
``ledger-head.json`` beside the published warehouse. A file entry commits the rows it
produced (:func:`rows_digest` of the key's raw rows) and a publish entry the published
files' SHA-256, so ``verify`` also checks what analysts are served against the chain.

Writers keep a checkpoint, ``<lake>/ledger/checkpoint.json``: the whole chain as of their
last append, so a new process reads one object plus the entries listed after it instead of
every entry. A checkpoint is used only when every entry in it has a valid hash, signature
and link from genesis (else the entries are read one by one); ``verify`` never uses it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
from botocore.exceptions import ClientError

from pipelines import s3, settings

GENESIS = "0" * 64
LEDGER_KEY_ENV = "SHUZHONG_LEDGER_KEY"
WITNESS_FILE = "ledger-head.json"
CHECKPOINT_FILE = "checkpoint.json"
# Columns that differ between reruns of the same landing (crash recovery): left out of the digest.
VOLATILE_COLUMNS = ("_ingested_at", "_run_id")
# Entries that commit a key's rows and archived bytes: a landed file, and a re-validation of an
# archived file against a newer contract (pipelines.ingest.reprocess); the latest one per key wins.
FILE_KINDS = ("file", "reprocess")
_CACHE: dict[str, dict[int, dict]] = {}
_LOCK = threading.Lock()
log = logging.getLogger(__name__)


def _location() -> tuple[str, str]:
    uri = settings.lake_uri()
    if not uri.startswith("s3://"):
        raise RuntimeError("the ledger lives on S3: SHUZHONG_LAKE_URI must be an s3:// URI")
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return bucket, (prefix.rstrip("/") + "/" if prefix else "") + "ledger/entries/"


def ledger_key() -> bytes:
    """The HMAC key from ``SHUZHONG_LEDGER_KEY`` (environment or the local env file)."""
    try:
        key = settings.get(LEDGER_KEY_ENV)
    except RuntimeError:
        key = ""
    if not key.strip():
        raise RuntimeError(
            f"{LEDGER_KEY_ENV} is not set: ledger entries cannot be signed or verified. Export the "
            "secret (kept outside the lake and the repository) or run `shuzhong init`."
        )
    return key.encode("utf-8")


def sign(entry_hash_hex: str, key: bytes | None = None) -> str:
    """HMAC-SHA256 of an entry's hash with the ledger key."""
    return hmac.new(key or ledger_key(), entry_hash_hex.encode(), hashlib.sha256).hexdigest()


def rows_digest(table: pa.Table | pl.DataFrame) -> str:
    """Canonical digest of a set of rows, independent of their order and of column order.

    Each row is hashed by polars (``hash_rows`` with a fixed seed, over the columns in name
    order, minus :data:`VOLATILE_COLUMNS`); the sorted 64-bit row hashes and the row count
    are hashed with SHA-256. One pass over rows already in memory at landing time; ``verify``
    recomputes it from the table at HEAD. (Row hashes are stable for the pinned polars.)
    """
    frame = table if isinstance(table, pl.DataFrame) else pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    frame = frame.select(sorted(c for c in frame.columns if c not in VOLATILE_COLUMNS))
    digest = hashlib.sha256(f"{frame.height}:{','.join(frame.columns)}:".encode())
    if frame.height:
        hashes = frame.hash_rows(seed=0).sort()
        digest.update(hashes.to_numpy().astype("<u8").tobytes())
    return digest.hexdigest()


def entry_hash(entry: dict) -> str:
    body = {k: v for k, v in entry.items() if k not in ("hash", "sig")}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _key(prefix: str, seq: int) -> str:
    return f"{prefix}{seq:012d}.json"


def read_entries() -> list[dict]:
    """Every entry in sequence order (entries are immutable, so they are cached per process)."""
    bucket, prefix = _location()
    client = s3.client("pipeline")
    cache = _CACHE.setdefault(f"{bucket}/{prefix}", {})
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]

    def fetch(key: str) -> dict:
        entry = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
        entry["_object_key"] = key
        return entry

    seqs = {key: int(n) if (n := key.removeprefix(prefix).removesuffix(".json")).isdigit() else None for key in keys}
    missing = [key for key in sorted(keys) if seqs[key] is None or seqs[key] not in cache]
    with ThreadPoolExecutor(16) as pool:  # a new process reads the whole ledger once, 16 objects at a time
        fetched = dict(zip(missing, pool.map(fetch, missing), strict=True))
    out = []
    for key in sorted(keys):
        seq = seqs[key]
        if seq is None:
            out.append(fetched[key])
            continue
        if seq not in cache:
            cache[seq] = fetched[key]
        out.append(cache[seq])
    return out


def forget_cache() -> None:
    _CACHE.clear()


@dataclass(frozen=True)
class Head:
    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> Head:
        seq, _, h = text.partition(":")
        return cls(int(seq), h)


def _checkpoint_key(prefix: str) -> str:
    return prefix.removesuffix("entries/") + CHECKPOINT_FILE


def _valid_chain(entries: list, key: bytes) -> bool:
    """Every entry has its hash, a valid signature and links to the one before, from genesis."""
    prev = GENESIS
    for position, e in enumerate(entries):
        if not isinstance(e, dict) or e.get("seq") != position or e.get("prev_hash") != prev:
            return False
        if entry_hash(e) != e.get("hash") or not hmac.compare_digest(str(e.get("sig", "")), sign(e["hash"], key)):
            return False
        prev = e["hash"]
    return True


def _load_checkpoint(client, bucket: str, prefix: str) -> list[dict]:
    """The checkpoint's entries when the chain in it is valid; else none (read entry by entry)."""
    try:
        key = ledger_key()
        body = client.get_object(Bucket=bucket, Key=_checkpoint_key(prefix))["Body"].read()
        entries = json.loads(body)["entries"]
    except (ClientError, RuntimeError, ValueError, KeyError, TypeError):
        return []
    if not isinstance(entries, list) or not _valid_chain(entries, key):
        log.warning("ledger checkpoint %s is not a valid chain: reading every entry", _checkpoint_key(prefix))
        return []
    return [{**e, "_object_key": _key(prefix, e["seq"])} for e in entries]


def _write_checkpoint(client, bucket: str, prefix: str, entries: list[dict]) -> None:
    """Store the chain as one object (best effort: a lost race leaves an older, still valid one)."""
    body = {"format": 1, "entries": [{k: v for k, v in e.items() if k != "_object_key"} for e in entries]}
    try:
        client.put_object(
            Bucket=bucket,
            Key=_checkpoint_key(prefix),
            Body=json.dumps(body, ensure_ascii=False, sort_keys=True).encode(),
            ContentType="application/json",
        )
    except ClientError as exc:  # the entries are written; only the next reader's shortcut is lost
        log.warning("could not write the ledger checkpoint: %s", exc)


def _chain(client, bucket: str, prefix: str) -> list[dict]:
    """The entries for appending: this process's cache, else the checkpoint, plus every entry
    listed after the newest one known (one listing, and a GET per new entry)."""
    cache = _CACHE.setdefault(f"{bucket}/{prefix}", {})
    if not cache:
        for e in _load_checkpoint(client, bucket, prefix):
            cache[e["seq"]] = e
    listing = {"Bucket": bucket, "Prefix": prefix}
    if cache:
        listing["StartAfter"] = _key(prefix, max(cache))
    keys = [
        o["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(**listing)
        for o in page.get("Contents", [])
    ]
    seqs = {k: int(n) for k in keys if (n := k.removeprefix(prefix).removesuffix(".json")).isdigit()}
    missing = [k for k, seq in sorted(seqs.items()) if seq not in cache]

    def fetch(key: str) -> dict:
        return {**json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read()), "_object_key": key}

    with ThreadPoolExecutor(16) as pool:
        for key, entry in zip(missing, pool.map(fetch, missing), strict=True):
            cache[seqs[key]] = entry
    return [cache[seq] for seq in sorted(cache)]


def head() -> Head | None:
    """The newest entry as this process knows it (checkpoint and listing; ``verify`` reads all)."""
    bucket, prefix = _location()
    entries = _chain(s3.client("pipeline"), bucket, prefix)
    return Head(entries[-1]["seq"], entries[-1]["hash"]) if entries else None


def append(kind: str, payload: dict, dedupe_key: str | None = None, attempts: int = 50) -> dict:
    """Append an entry (once per ``dedupe_key``) and return it."""
    return append_many([(kind, payload, dedupe_key)], attempts)[0]


def append_many(items: list[tuple[str, dict, str | None]], attempts: int = 50) -> list[dict]:
    """Append entries ``(kind, payload, dedupe_key)`` in order, each once per dedupe key; the
    ledger is listed once for the lot (again only after losing a race for a sequence number)."""
    if not items:
        return []
    bucket, prefix = _location()
    client = s3.client("pipeline")
    cache = _CACHE.setdefault(f"{bucket}/{prefix}", {})
    out: list[dict] = []
    key_bytes = ledger_key()  # fail before anything is written
    with _LOCK:
        entries = _chain(client, bucket, prefix)
        appended = False
        for kind, payload, dedupe_key in items:
            for attempt in range(attempts):
                known = next((e for e in reversed(entries) if dedupe_key and e.get("dedupe_key") == dedupe_key), None)
                if known is not None:
                    out.append(known)
                    break
                prev = entries[-1] if entries else None
                entry = {
                    "seq": prev["seq"] + 1 if prev else 0,
                    "kind": kind,
                    "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                    "dedupe_key": dedupe_key,
                    "payload": payload,
                    "prev_hash": prev["hash"] if prev else GENESIS,
                }
                entry["hash"] = entry_hash(entry)
                entry["sig"] = sign(entry["hash"], key_bytes)
                key = _key(prefix, entry["seq"])
                try:
                    client.put_object(
                        Bucket=bucket,
                        Key=key,
                        IfNoneMatch="*",
                        Body=json.dumps(entry, ensure_ascii=False, sort_keys=True).encode(),
                        ContentType="application/json",
                    )
                except ClientError as exc:
                    if exc.response["Error"]["Code"] not in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                        raise
                    time.sleep(0.05 * (attempt + 1))  # another writer took this seq: re-read and retry
                    entries = _chain(client, bucket, prefix)
                    continue
                cache[entry["seq"]] = {**entry, "_object_key": key}
                entries.append(cache[entry["seq"]])
                out.append(entry)
                appended = True
                break
            else:
                raise RuntimeError("could not append to the ledger: too much contention")
        if appended:
            _write_checkpoint(client, bucket, prefix, entries)
    return out


@dataclass
class Problem:
    seq: int | None
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.kind}] entry {self.seq if self.seq is not None else '-'}: {self.detail}"


def verify(
    expected_head: Head | None = None,
    check_archive: bool = True,
    witnesses: list[tuple[str, Head]] | None = None,
    check_state: bool = True,
) -> list[Problem]:
    """Every problem found: edits, bad signatures, gaps, reorders, forks, truncation, witnesses off
    the chain, altered archive bytes, raw rows or published files that differ from the latest entry."""
    forget_cache()
    problems: list[Problem] = []
    entries = read_entries()
    key = ledger_key()
    prev_hash = GENESIS
    for position, e in enumerate(entries):
        obj = e.get("_object_key", "")
        seq = e.get("seq")
        if not obj.endswith(f"{position:012d}.json") or seq != position:
            problems.append(
                Problem(
                    seq,
                    "order",
                    f"object {obj.rsplit('/', 1)[-1]} at position {position} "
                    f"holds seq {seq}: an entry was removed or reordered",
                )
            )
        if entry_hash({k: v for k, v in e.items() if k != "_object_key"}) != e.get("hash"):
            problems.append(Problem(seq, "edited", "the entry's content does not match its hash"))
        if not hmac.compare_digest(str(e.get("sig", "")), sign(str(e.get("hash", "")), key)):
            problems.append(Problem(seq, "signature", "the entry's signature is not valid for SHUZHONG_LEDGER_KEY"))
        if e.get("prev_hash") != prev_hash:
            problems.append(Problem(seq, "chain", "prev_hash does not match the previous entry's hash"))
        prev_hash = e.get("hash", "")
        if check_archive and e.get("kind") in FILE_KINDS:
            problems += _check_archive(e)
    heads = list(witnesses or [])
    if expected_head is not None:
        heads.append(("recorded head", expected_head))
    by_seq = {e.get("seq"): e for e in entries}
    for source, witness in heads:
        match = by_seq.get(witness.seq)
        if match is None:
            problems.append(
                Problem(
                    witness.seq,
                    "truncated",
                    f"{source} names seq {witness.seq}, beyond the ledger's end: the tail was cut off",
                )
            )
        elif match.get("hash") != witness.hash:
            problems.append(Problem(witness.seq, "head", f"{source}'s hash differs from the ledger's entry"))
    if check_state:
        problems += _check_raw_rows(entries) + _check_published(entries)
    return problems


def _check_raw_rows(entries: list[dict]) -> list[Problem]:
    """The rows of every source key at HEAD must hash to the digest of that key's latest entry."""
    from pipelines import lake

    latest: dict[tuple[str, str], dict[str, dict]] = {}
    for e in entries:
        p = e.get("payload", {})
        if e.get("kind") in FILE_KINDS and "rows_digest" in p:
            latest.setdefault((p["table"], "rows_digest"), {})[p["source_key"]] = e
            latest.setdefault((p["quarantine_table"], "quarantine_digest"), {})[p["source_key"]] = e
    problems: list[Problem] = []
    for (uri, field), by_key in sorted(latest.items()):
        frame = lake.read_table(uri)
        if frame is None:
            problems.append(Problem(None, "raw", f"table {uri} is missing"))
            continue
        frame = frame.filter(pl.col("_source_key").is_in(list(by_key)))
        groups = {k[0]: g for k, g in frame.group_by("_source_key")}
        empty = frame.clear()
        for source_key, e in sorted(by_key.items()):
            if rows_digest(groups.get(source_key, empty)) != e["payload"][field]:
                problems.append(
                    Problem(
                        e["seq"],
                        "raw",
                        f"the rows of {e['payload']['archive_key'].rsplit('/', 1)[-1]}"
                        f" in {uri.rsplit('/', 2)[-2]}/{uri.rsplit('/', 1)[-1]} no "
                        "longer match the entry's digest",
                    )
                )
    return problems


def _check_published(entries: list[dict]) -> list[Problem]:
    """The published DuckDB files must be the ones of the latest publish entry."""
    from pipelines import publish

    last = next((e for e in reversed(entries) if e.get("kind") == "publish"), None)
    if last is None:
        return []
    recorded = last["payload"].get("files_sha256", {})
    current = {name: publish.file_sha256(path) for name, path in publish.published_files().items()}
    problems = [
        Problem(last["seq"], "published", f"published file {name} differs from the latest publish entry")
        for name in sorted(set(recorded) | set(current))
        if recorded.get(name) != current.get(name)
    ]
    if "delta" in last["payload"]:
        recorded_delta, current_delta = last["payload"]["delta"], _published_delta()
        problems += [
            Problem(
                last["seq"],
                "published",
                f"published Delta table {name} differs from the latest publish entry (version or files)",
            )
            for name in sorted(set(recorded_delta) | set(current_delta))
            if recorded_delta.get(name) != current_delta.get(name)
        ]
    return problems


def witness_path() -> Path:
    """``ledger-head.json`` beside the published warehouse."""
    return settings.published_db_path().parent / WITNESS_FILE


def write_witness(entry: dict) -> None:
    """Write the head (seq + hash) beside the published warehouse, atomically."""
    path = witness_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps({"seq": entry["seq"], "hash": entry["hash"], "time": entry["time"]}) + "\n")
    tmp.replace(path)


def gather_witnesses() -> list[tuple[str, Head]]:
    """Heads held outside the lake: the published witness file and every receipt's entry."""
    out: list[tuple[str, Head]] = []
    path = witness_path()
    if path.exists():
        w = json.loads(path.read_text())
        out.append((f"published witness {path.name}", Head(int(w["seq"]), str(w["hash"]))))
    bucket, root = settings.buckets().receipts, settings.lake_uri()
    client = s3.client("pipeline")
    keys = [
        o["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])
        if o["Key"].endswith(".receipt.json")
    ]

    def fetch(key: str) -> dict:
        return json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())

    with ThreadPoolExecutor(16) as pool:
        for key, r in zip(keys, pool.map(fetch, keys), strict=True):
            if r.get("ledger_seq") is not None and r.get("ledger_hash") and r.get("ledger_root") == root:
                out.append((f"receipt {key}", Head(int(r["ledger_seq"]), str(r["ledger_hash"]))))
    return out


def _check_archive(entry: dict) -> list[Problem]:
    payload = entry["payload"]
    bucket = settings.buckets().lake
    try:
        body = s3.client("pipeline").get_object(Bucket=bucket, Key=payload["archive_key"])["Body"].read()
    except ClientError:
        return [Problem(entry["seq"], "archive", f"archived file {payload['archive_key']} is missing")]
    if hashlib.sha256(body).hexdigest() != payload["file_sha256"]:
        return [
            Problem(entry["seq"], "archive", f"archived file {payload['archive_key']} no longer matches its sha256")
        ]
    return []


def record_publish(tables: dict, run_id: str) -> dict:
    """Append the ``publish`` entry (SHA-256 of every published DuckDB file, the published Delta
    tables' versions and add-action paths) and write the head beside the warehouse."""
    from pipelines import publish

    entry = append(
        "publish",
        {
            "tables": tables,
            "run_id": run_id,
            "files_sha256": {name: publish.file_sha256(path) for name, path in publish.published_files().items()},
            "delta": _published_delta(),
        },
        dedupe_key=f"publish:{run_id}",
    )
    write_witness(entry)
    return entry


def _published_delta() -> dict[str, dict]:
    """Version and add-action paths of every Delta table in the published bucket."""
    from deltalake import DeltaTable

    uri = settings.published_uri()
    if not uri.startswith("s3://"):
        return {}
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    client = s3.client("pipeline")
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    roots = sorted(
        {
            o["Key"].split("/_delta_log/")[0]
            for page in pages
            for o in page.get("Contents", [])
            if "/_delta_log/" in o["Key"]
        }
    )
    out: dict[str, dict] = {}
    for root in roots:
        dt = DeltaTable(f"s3://{bucket}/{root}", storage_options=s3.delta_storage_options())
        out[root] = {"version": dt.version(), "files": sorted(dt.file_uris())}
    return out
