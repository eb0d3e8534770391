"""A tamper-evident, hash-chained ledger of accepted files and publishes (不可篡改、可追溯).

Entries are immutable JSON objects ``<lake>/ledger/entries/<seq>.json``. Each holds its
sequence number, kind, payload and the previous entry's hash; its own hash covers all of
that. Appends use a conditional write (``If-None-Match: *``) so concurrent writers can't
fork the chain: the loser re-reads the tail and retries. The head after each run is also
recorded outside the ledger (Dagster materialization metadata), so a cut-off tail is
detected too. ``shuzhong ledger verify`` re-checks the chain and the archived bytes.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from botocore.exceptions import ClientError

from pipelines import s3, settings

GENESIS = "0" * 64
_CACHE: dict[str, dict[int, dict]] = {}
_LOCK = threading.Lock()


def _location() -> tuple[str, str]:
    uri = settings.lake_uri()
    if not uri.startswith("s3://"):
        raise RuntimeError("the ledger lives on S3: SHUZHONG_LAKE_URI must be an s3:// URI")
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return bucket, (prefix.rstrip("/") + "/" if prefix else "") + "ledger/entries/"


def entry_hash(entry: dict) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
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


def head() -> Head | None:
    entries = read_entries()
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
    with _LOCK:
        entries = read_entries()
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
                key = _key(prefix, entry["seq"])
                try:
                    client.put_object(
                        Bucket=bucket, Key=key, IfNoneMatch="*",
                        Body=json.dumps(entry, ensure_ascii=False, sort_keys=True).encode(),
                        ContentType="application/json",
                    )
                except ClientError as exc:
                    if exc.response["Error"]["Code"] not in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                        raise
                    time.sleep(0.05 * (attempt + 1))  # another writer took this seq: re-read and retry
                    entries = read_entries()
                    continue
                cache[entry["seq"]] = {**entry, "_object_key": key}
                entries.append(cache[entry["seq"]])
                out.append(entry)
                break
            else:
                raise RuntimeError("could not append to the ledger: too much contention")
    return out


@dataclass
class Problem:
    seq: int | None
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.kind}] entry {self.seq if self.seq is not None else '-'}: {self.detail}"


def verify(expected_head: Head | None = None, check_archive: bool = True) -> list[Problem]:
    """Every problem found: edits, gaps, reorders, forks, truncation, altered archive bytes."""
    forget_cache()
    problems: list[Problem] = []
    entries = read_entries()
    prev_hash = GENESIS
    for position, e in enumerate(entries):
        key = e.get("_object_key", "")
        seq = e.get("seq")
        if not key.endswith(f"{position:012d}.json") or seq != position:
            problems.append(Problem(seq, "order", f"object {key.rsplit('/', 1)[-1]} at position {position} "
                                                  f"holds seq {seq}: an entry was removed or reordered"))
        if entry_hash({k: v for k, v in e.items() if k != "_object_key"}) != e.get("hash"):
            problems.append(Problem(seq, "edited", "the entry's content does not match its hash"))
        if e.get("prev_hash") != prev_hash:
            problems.append(Problem(seq, "chain", "prev_hash does not match the previous entry's hash"))
        prev_hash = e.get("hash", "")
        if check_archive and e.get("kind") == "file":
            problems += _check_archive(e)
    if expected_head is not None:
        match = next((e for e in entries if e.get("seq") == expected_head.seq), None)
        if match is None:
            problems.append(Problem(expected_head.seq, "truncated",
                                    f"the recorded head {expected_head.seq} is missing: the tail was cut off"))
        elif match.get("hash") != expected_head.hash:
            problems.append(Problem(expected_head.seq, "head", "the recorded head's hash differs from the ledger"))
    return problems


def _check_archive(entry: dict) -> list[Problem]:
    payload = entry["payload"]
    bucket = settings.buckets().lake
    try:
        body = s3.client("pipeline").get_object(Bucket=bucket, Key=payload["archive_key"])["Body"].read()
    except ClientError:
        return [Problem(entry["seq"], "archive", f"archived file {payload['archive_key']} is missing")]
    if hashlib.sha256(body).hexdigest() != payload["file_sha256"]:
        return [Problem(entry["seq"], "archive", f"archived file {payload['archive_key']} no longer matches "
                                                 "its sha256")]
    return []
