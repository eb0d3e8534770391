"""PII leak scanner: prove that resident IDs and phone numbers stay in the raw zone.

Spec section 3: identifiers of people never appear in clear text past the landing/raw
zone — not in governed tables, marts, published files, validation reports, asset-check
metadata, receipts, error messages or logs. This module looks for them everywhere else.

Two ways of finding a value, both on the same text:

* **detectors** — resident IDs (18 characters, valid GB 11643 check character and birth
  date, lower-case ``x`` included, also inside free text), mobile numbers (``1[3-9]`` +
  9 digits) and landlines (``0`` + a real area code — ``010``, ``02x``, ``03xx``–``09xx``
  — + 7–8 digits) in any spelling: ``+86``/``0086`` prefixes, spaces, dashes, full-width
  digits (text is NFKC-normalised first) and JSON ``\\uXXXX`` escapes;
* **known values** (``planted=[...]``) — the normalised digits of values planted in the
  input are searched for anywhere, after separators are squeezed out of the text.

False-positive guards: hex tokens of 16+ characters with a letter (HMAC-SHA256 hashes,
digests, commit tokens) and UUIDs are blanked before detection; matches must not touch
further digits (so 15-digit grid codes, 20-digit Delta log numbers, ticket ids such as
``ZZ12345-20260305-000001`` and 14-digit timestamps never qualify), the fractional part
of a decimal number is ignored, only ``space``/``-`` may separate digit groups (never
``:``, ``.`` or ``T``, so dates and times don't chain into numbers), landline area codes
must be real ones (never ``00…``/``01x``: no ``0123456789`` alphabets of minified JS), and
resident IDs must pass the check-character and date test.

Every finding carries a location, a kind and a **masked** sample (``138******34``):
the scanner never prints, stores or raises with a clear value.

Scan targets: :func:`scan_text`, :func:`scan_bytes`, :func:`scan_duckdb` (every column of
every table, view definitions, comments, macros), :func:`scan_delta` (current snapshot
plus every file under the table prefix: tombstoned data files and the ``_delta_log``
JSON with its min/max stats), :func:`scan_delta_tables` (every Delta table under a root),
:func:`scan_tree` (local directories: dbt ``target/``, logs, the docs site, a
``DAGSTER_HOME`` including its SQLite storage), :func:`scan_s3_prefix` (objects, e.g.
receipts) and :func:`scan_dagster` (all event records of all runs of an instance).
``leak-scan --defaults`` (:func:`default_targets`) covers every published file and exits 2
when a source it must scan is unavailable, rather than skipping it.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import sqlite3
import sys
import tempfile
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from pipelines import pii

# --- findings -------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One occurrence of a personal identifier. ``sample`` is masked, never the clear value."""

    location: str
    kind: str  # resident_id | mobile | landline; "planted:<kind>" in known-value mode
    sample: str
    detail: str = ""

    def line(self) -> str:
        return f"{self.kind}\t{self.sample}\t{self.location}" + (f"\t{self.detail}" if self.detail else "")


def mask(canonical: str) -> str:
    """``13800001234`` → ``138******34``: first three and last two characters only."""
    if len(canonical) <= 5:
        return "*" * len(canonical)
    return canonical[:3] + "*" * (len(canonical) - 5) + canonical[-2:]


def _safe_location(location: str) -> str:
    """A location (object key, file name, column) with any identifier in it scrubbed."""
    return pii.scrub_text(location) or ""


# --- text normalisation and guards ------------------------------------------------------

_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Hex runs of 16+ characters holding at least one letter: hashes, digests, tokens.
_HEX_TOKEN = re.compile(r"(?<![0-9A-Za-z])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{16,}(?![0-9A-Za-z])")
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―()\[\]./·_]")  # squeezed out in known-value mode


def _unescape_json(text: str) -> str:
    return _JSON_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def _views(text: str) -> list[str]:
    """NFKC text, and its JSON-unescaped variant when it has ``\\uXXXX`` escapes."""
    views = [unicodedata.normalize("NFKC", text)]
    if "\\u" in text:
        views.append(unicodedata.normalize("NFKC", _unescape_json(text)))
    return views


def _blank(match: re.Match) -> str:
    return " " * len(match.group(0))


def _guarded(text: str) -> str:
    """Hashes and UUIDs replaced by spaces (same length), so no digits inside them match."""
    return _HEX_TOKEN.sub(_blank, _UUID.sub(_blank, text))


# --- detectors ----------------------------------------------------------------------------

_SEP = r"[ \-]"
_DECIMAL_GUARD = r"(?<!\d\.)"  # not the fractional part of a decimal number
# Real Chinese area codes (without the trunk 0): 10 (Beijing), 2x, then 3xx–9xx (0632 Zaozhuang).
_AREA = r"(?:10|2\d|[3-9]\d{2})"
_RESIDENT_ID = re.compile(
    _DECIMAL_GUARD + rf"(?<!\d)(\d{{6}}{_SEP}?\d{{4}}{_SEP}?\d{{4}}{_SEP}?\d{{3}}[\dXx])(?![\dXx])"
)
_MOBILE = re.compile(_DECIMAL_GUARD + rf"(?<![\d+])(?:(?:\+|00)?86{_SEP}{{0,2}})?(1[3-9](?:{_SEP}?\d){{9}})(?!\d)")
_LANDLINE = re.compile(
    _DECIMAL_GUARD + rf"(?<![\d+])(?:(?:\+|00)86{_SEP}{{0,2}})?((?:\(0{_AREA}\)|0{_AREA}){_SEP}?"
    rf"(?:\d{{7,8}}|\d{{3,4}}{_SEP}\d{{4}}))(?!\d)"
)
# +86 632 1234567: international form of a landline drops the trunk 0.
_LANDLINE_INTL = re.compile(rf"(?<![\d+])(?:\+|00)86{_SEP}{{0,2}}({_AREA}{_SEP}?\d{{7,8}})(?!\d)")


def _digits(s: str) -> str:
    return re.sub(r"[^\dXx]", "", s).upper()


def detect(text: str) -> list[tuple[str, str]]:
    """(kind, canonical value) of every resident ID and phone number in ``text``.

    The canonical values are for the caller to mask or compare; never print them.
    """
    out: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()

    def add(kind: str, value: str) -> None:
        if (kind, value) not in seen:
            seen.add((kind, value))
            out.append((kind, value))

    for view in _views(text):
        g = _guarded(view)
        id_spans = []
        for m in _RESIDENT_ID.finditer(g):
            value = _digits(m.group(1))
            if pii.is_valid_resident_id(value):
                add("resident_id", value)
                id_spans.append(m.span(1))
        for m in _MOBILE.finditer(g):
            add("mobile", _digits(m.group(1)))
        for m in _LANDLINE.finditer(g):
            value = _digits(m.group(1))
            if pii.is_valid_phone(value):
                add("landline", value)
        for m in _LANDLINE_INTL.finditer(g):
            value = "0" + _digits(m.group(1))
            if pii.is_valid_phone(value):
                add("landline", value)
    return out


# --- known (planted) values ---------------------------------------------------------------


@dataclass(frozen=True)
class Planted:
    """Needles of one planted value: its normalised digits (and the +86 form of a landline)."""

    index: int
    kind: str
    needles: tuple[str, ...]
    sample: str


def planted_needles(values: Iterable[str]) -> list[Planted]:
    """Normalise planted values (any spelling) to the digit strings searched for."""
    out = []
    for i, raw in enumerate(values):
        if pii.is_valid_resident_id(raw) or len(_digits(unicodedata.normalize("NFKC", raw))) == 18:
            canonical = pii.normalize_resident_id(raw) or ""
            canonical = _digits(canonical)
            out.append(Planted(i, "resident_id", (canonical,), mask(canonical)))
            continue
        canonical = _digits(pii.normalize_phone(raw) or "")
        if not canonical:
            continue
        if canonical.startswith("0"):
            out.append(Planted(i, "landline", (canonical, "86" + canonical[1:]), mask(canonical)))
        else:
            out.append(Planted(i, "mobile", (canonical,), mask(canonical)))
    return out


def _squeeze(text: str) -> str:
    return _SEPARATORS.sub("", text).upper()


def find_planted(text: str, planted: list[Planted]) -> list[Planted]:
    """The planted values whose digits occur anywhere in ``text`` (separators ignored)."""
    if not planted:
        return []
    squeezed = [_squeeze(v) for v in _views(text)]
    return [p for p in planted if any(n in s for n in p.needles for s in squeezed)]


# --- scanning text and bytes --------------------------------------------------------------


class Scan:
    """Collects findings, one per (location, kind, value)."""

    def __init__(self, planted: Iterable[str] | list[Planted] | None = None, detectors: bool = True):
        items = list(planted or [])
        self.planted = items if items and isinstance(items[0], Planted) else planted_needles(items)  # type: ignore[arg-type]
        self.detectors = detectors
        self.findings: list[Finding] = []
        self._seen: set[tuple[str, str, str]] = set()
        self.scanned: list[str] = []  # what was looked at (locations), for reports

    def text(self, text: str | None, location: str) -> None:
        if not text:
            return
        loc = _safe_location(location)
        if self.detectors:
            for kind, value in detect(text):
                self._add(Finding(loc, kind, mask(value)), value)
        for p in find_planted(text, self.planted):
            self._add(Finding(loc, f"planted:{p.kind}", p.sample, f"planted[{p.index}]"), p.needles[0])

    def _add(self, finding: Finding, value: str) -> None:
        key = (finding.location, finding.kind, value)
        if key not in self._seen:
            self._seen.add(key)
            self.findings.append(finding)


def _decode(data: bytes) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16", errors="replace")
    for enc in ("utf-8", "gb18030"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace")


def _scan_arrow(table, location: str, scan: Scan) -> None:
    """Every column of an Arrow table: distinct values, first row number in the location."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for name in table.column_names:
        column = table.column(name)
        try:
            as_text = pc.cast(column, pa.string())
            values = as_text.to_pylist()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            values = [None if v is None else _to_text(v) for v in column.to_pylist()]
        first_row: dict[str, int] = {}
        for i, v in enumerate(values):
            if v is not None and v not in first_row:
                first_row[v] = i + 1
        for v, row in first_row.items():
            scan.text(v, f"{location} column {name} row {row}")


def _to_text(value) -> str:
    if isinstance(value, bytes):
        return _decode(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def scan_bytes(data: bytes, location: str, scan: Scan) -> None:
    """One file's bytes, by content: Parquet, DuckDB, SQLite, zip/xlsx, gzip, else text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if data[:4] == b"PAR1":
        _scan_arrow(pq.read_table(pa.BufferReader(data)), location, scan)
    elif data[8:12] == b"DUCK" or data[:16] == b"SQLite format 3\x00":
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "db"
            path.write_bytes(data)
            (scan_sqlite if data[:6] == b"SQLite" else scan_duckdb)(path, scan=scan, label=location)
    elif data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for member in zf.namelist():
                scan_bytes(zf.read(member), f"{location}!{member}", scan)
    elif data[:2] == b"\x1f\x8b":
        scan_bytes(gzip.decompress(data), location, scan)
    else:
        scan.text(_decode(data), location)


def scan_text(text: str, location: str = "text", planted: Iterable[str] | None = None) -> list[Finding]:
    scan = Scan(planted)
    scan.text(text, location)
    return scan.findings


# --- DuckDB and SQLite --------------------------------------------------------------------


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def scan_duckdb(
    path: str | Path, planted: Iterable[str] | None = None, *, scan: Scan | None = None, label: str | None = None
) -> list[Finding]:
    """Every column of every table (cast to VARCHAR), view definitions, comments and macros."""
    import duckdb

    scan = scan or Scan(planted)
    label = label or f"duckdb:{path}"
    con = duckdb.connect(str(path), read_only=True)
    try:
        db = con.execute("SELECT current_database()").fetchone()[0]
        tables = con.execute(
            "SELECT schema_name, table_name, comment FROM duckdb_tables() "
            "WHERE database_name = ? AND NOT temporary ORDER BY 1, 2",
            [db],
        ).fetchall()
        for schema, table, comment in tables:
            where = f"{label} {schema}.{table}"
            scan.scanned.append(where)
            scan.text(comment, f"{where} (comment)")
            columns = con.execute(
                "SELECT column_name, comment FROM duckdb_columns() WHERE database_name = ? AND schema_name = ? "
                "AND table_name = ? ORDER BY column_index",
                [db, schema, table],
            ).fetchall()
            for column, col_comment in columns:
                scan.text(col_comment, f"{where}.{column} (comment)")
                rows = con.execute(
                    f"SELECT v, min(rn) FROM (SELECT CAST({_q(column)} AS VARCHAR) AS v, row_number() OVER () AS rn "
                    f"FROM {_q(schema)}.{_q(table)}) WHERE v IS NOT NULL GROUP BY v"
                ).fetchall()
                for value, row in rows:
                    scan.text(value, f"{where} column {column} row {row}")
        for schema, view, sql in con.execute(
            "SELECT schema_name, view_name, sql FROM duckdb_views() WHERE database_name = ? AND NOT internal "
            "AND NOT temporary",
            [db],
        ).fetchall():
            scan.scanned.append(f"{label} view {schema}.{view}")
            scan.text(sql, f"{label} view {schema}.{view} (definition)")
        for schema, fn, definition in con.execute(
            "SELECT schema_name, function_name, macro_definition FROM duckdb_functions() "
            "WHERE database_name = ? AND NOT internal AND macro_definition IS NOT NULL",
            [db],
        ).fetchall():
            scan.text(definition, f"{label} macro {schema}.{fn}")
    finally:
        con.close()
    return scan.findings


def scan_sqlite(
    path: str | Path, planted: Iterable[str] | None = None, *, scan: Scan | None = None, label: str | None = None
) -> list[Finding]:
    """Every column of every table of a SQLite file (e.g. Dagster's run and event storage)."""
    scan = scan or Scan(planted)
    label = label or f"sqlite:{path}"
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            scan.scanned.append(f"{label} {table}")
            cur = con.execute(f"SELECT rowid, * FROM {_q(table)}")
            names = [d[0] for d in cur.description][1:]
            for row in cur:
                for name, value in zip(names, row[1:], strict=True):
                    if isinstance(value, bytes):
                        value = _decode(value)
                    if value is not None:
                        scan.text(str(value), f"{label} {table} column {name} row {row[0]}")
    finally:
        con.close()
    return scan.findings


# --- files: local trees and S3 prefixes ----------------------------------------------------


def _iter_local(root: Path, exclude: Callable[[Path], bool] | None) -> Iterator[tuple[str, Callable[[], bytes]]]:
    root = Path(root)
    paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    for p in paths:
        if exclude and exclude(p):
            continue
        yield str(p), p.read_bytes


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return bucket, prefix


def _iter_s3(uri: str, identity: str) -> Iterator[tuple[str, Callable[[], bytes]]]:
    from pipelines import s3

    bucket, prefix = _split_s3(uri)
    client = s3.client(identity)
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            key = o["Key"]
            yield f"s3://{bucket}/{key}", lambda k=key: client.get_object(Bucket=bucket, Key=k)["Body"].read()


def iter_files(
    uri: str | Path, identity: str = "pipeline", exclude: Callable[[Path], bool] | None = None
) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """(location, reader) of every file under a local directory or an ``s3://bucket/prefix``."""
    if str(uri).startswith("s3://"):
        yield from _iter_s3(str(uri), identity)
    else:
        yield from _iter_local(Path(uri), exclude)


def scan_tree(
    root: str | Path,
    planted: Iterable[str] | None = None,
    *,
    scan: Scan | None = None,
    exclude: Callable[[Path], bool] | None = None,
) -> list[Finding]:
    """Every file under a local directory (dbt target/ and logs/, a docs site, DAGSTER_HOME)."""
    scan = scan or Scan(planted)
    for location, read in iter_files(root, exclude=exclude):
        scan.scanned.append(location)
        scan_bytes(read(), location, scan)
    return scan.findings


def scan_s3_prefix(
    uri: str, planted: Iterable[str] | None = None, *, identity: str = "pipeline", scan: Scan | None = None
) -> list[Finding]:
    """Every object under ``s3://bucket/prefix`` (receipts, published files, archives)."""
    scan = scan or Scan(planted)
    for location, read in _iter_s3(uri, identity):
        scan.scanned.append(location)
        scan_bytes(read(), location, scan)
    return scan.findings


# --- Delta tables ---------------------------------------------------------------------------


def _delta_options(uri: str, identity: str) -> dict[str, str] | None:
    if not uri.startswith("s3://"):
        return None
    from pipelines import s3

    return s3.delta_storage_options(identity)


def scan_delta(
    uri: str, planted: Iterable[str] | None = None, *, identity: str = "pipeline", scan: Scan | None = None
) -> list[Finding]:
    """A Delta table: its current snapshot (row numbers) and every file under its prefix.

    The file sweep covers what a snapshot read misses: data files removed by later commits
    (still readable by time travel) and the ``_delta_log`` JSON, whose per-file ``stats``
    hold min/max values of every column.
    """
    from deltalake import DeltaTable

    scan = scan or Scan(planted)
    uri = uri.rstrip("/")
    dt = DeltaTable(uri, storage_options=_delta_options(uri, identity))
    snapshot = dt.to_pyarrow_table()
    scan.scanned.append(f"delta:{uri}@v{dt.version()}")
    _scan_arrow(snapshot, f"delta:{uri}@v{dt.version()}", scan)
    active = {u.rstrip("/") for u in dt.file_uris()}
    for location, read in iter_files(uri + "/", identity):
        if location in active:
            continue  # already scanned row by row in the snapshot
        scan.scanned.append(location)
        scan_bytes(read(), location, scan)
    return scan.findings


def delta_tables(root: str | Path, identity: str = "pipeline") -> list[str]:
    """URIs of the Delta tables under a root (directories holding a ``_delta_log``)."""
    tables = set()
    for location, _ in iter_files(root if str(root).startswith("s3://") else Path(root), identity):
        marker = "/_delta_log/"
        if marker in location:
            tables.add(location.split(marker, 1)[0])
    return sorted(tables)


def scan_delta_tables(
    root: str | Path, planted: Iterable[str] | None = None, *, identity: str = "pipeline", scan: Scan | None = None
) -> list[Finding]:
    scan = scan or Scan(planted)
    for uri in delta_tables(root, identity):
        scan_delta(uri, identity=identity, scan=scan)
    return scan.findings


# --- Dagster ---------------------------------------------------------------------------------


def scan_dagster(
    instance, planted: Iterable[str] | None = None, *, run_ids: Iterable[str] | None = None, scan: Scan | None = None
) -> list[Finding]:
    """Every event record of every run (logs, materialisation and check metadata, failures,
    engine events) plus each run's config and tags, serialised as Dagster stores them."""
    from dagster._serdes import serialize_value

    scan = scan or Scan(planted)
    runs = [instance.get_run_by_id(r) for r in run_ids] if run_ids is not None else instance.get_runs()
    for run in runs:
        if run is None:
            continue
        where = f"dagster run {run.run_id} ({run.job_name})"
        scan.scanned.append(where)
        scan.text(serialize_value(run), f"{where} run config/tags")
        for i, entry in enumerate(instance.all_logs(run.run_id)):
            kind = entry.dagster_event.event_type_value if entry.dagster_event else "log"
            text = serialize_value(entry)
            scan.text(text, f"{where} event {i} {kind}")
            if entry.user_message:
                scan.text(entry.user_message, f"{where} event {i} {kind} message")
    return scan.findings


# --- command line ------------------------------------------------------------------------------


def add_arguments(p) -> None:
    """The ``leak-scan`` options (for pipelines.tools.cli)."""
    p.add_argument("--duckdb", action="append", default=[], metavar="PATH", help="a DuckDB file")
    p.add_argument(
        "--delta",
        action="append",
        default=[],
        metavar="URI",
        help="a Delta table, or a root holding several (s3:// or local)",
    )
    p.add_argument("--tree", action="append", default=[], metavar="DIR", help="every file under a local directory")
    p.add_argument("--s3", action="append", default=[], metavar="URI", help="every object under s3://bucket/prefix")
    p.add_argument("--dagster", action="store_true", help="every event of every run of $DAGSTER_HOME's instance")
    p.add_argument(
        "--defaults",
        action="store_true",
        help="every published DuckDB file (main and conditional) and Delta table, dbt target/ and "
        "logs/, receipts bucket, Dagster event log; exit 2 if any of them is unavailable",
    )
    p.add_argument(
        "--planted",
        action="append",
        default=[],
        metavar="VALUE",
        help="a known value to look for in every spelling (repeatable)",
    )
    p.add_argument("--planted-file", metavar="FILE", help="known values, one a line")
    p.add_argument("--no-detectors", action="store_true", help="only look for the planted values")
    p.add_argument(
        "--expect-found", action="store_true", help="succeed only if something IS found (proof run on the raw zone)"
    )
    p.add_argument("--identity", default="pipeline", help="S3 identity to read as")
    p.add_argument("--json", action="store_true", help="findings as JSON lines")


class Unavailable(Exception):
    """A source the scan must cover is missing or unreadable."""


def default_targets(scan: Scan, identity: str) -> list[tuple[str, Callable[[], object]]]:
    """What ``--defaults`` scans: every published DuckDB file (main and conditional), every
    published Delta table, the receipts bucket, dbt's target and log directories (``$DBT_TARGET_PATH``
    and ``$DBT_LOG_PATH`` when set, as dbt itself reads them) and Dagster's event log. A source that
    should be there and is not is an :class:`Unavailable` target, never silently left out."""
    import os

    from pipelines import publish, settings

    targets: list[tuple[str, Callable[[], object]]] = []

    def unavailable(name: str, why: str) -> None:
        def fail() -> None:
            raise Unavailable(why)

        targets.append((name, fail))

    pub = settings.published_db_path()
    if not pub.exists():
        unavailable(f"duckdb {pub}", f"the published warehouse {pub} does not exist (set SHUZHONG_PUBLISHED_DB)")
    for path in publish.published_files(pub).values():  # main file, then every conditional file
        targets.append((f"duckdb {path}", lambda p=path: scan_duckdb(p, scan=scan)))

    root = settings.published_uri()

    def delta() -> None:
        tables = delta_tables(root, identity)
        if not tables:
            raise Unavailable(f"no Delta table under the published root {root}")
        for uri in tables:
            scan_delta(uri, identity=identity, scan=scan)

    targets.append((f"delta {root}", delta))
    targets.append(
        ("s3 receipts", lambda: scan_s3_prefix(f"s3://{settings.buckets().receipts}/", identity=identity, scan=scan))
    )

    for name, var in (("target", "DBT_TARGET_PATH"), ("logs", "DBT_LOG_PATH")):
        d = Path(os.environ.get(var) or settings.DBT_PROJECT_DIR / name)
        if d.is_dir():
            targets.append((f"tree {d}", lambda d=d: scan_tree(d, scan=scan)))
        else:
            unavailable(f"tree {d}", f"dbt's {name} directory {d} does not exist (set {var})")
    return targets


def dagster_target(scan: Scan) -> tuple[str, Callable[[], object]]:
    """Dagster's event log of ``$DAGSTER_HOME``: unavailable when it is unset or missing."""
    import os

    home = os.environ.get("DAGSTER_HOME")

    def run() -> None:
        if not home:
            raise Unavailable("DAGSTER_HOME is not set, so Dagster's event log cannot be scanned")
        if not Path(home).is_dir():
            raise Unavailable(f"DAGSTER_HOME={home} is not a directory")
        from dagster import DagsterInstance

        with DagsterInstance.get() as instance:
            scan_dagster(instance, scan=scan)
            scan_compute_logs(instance, identity="pipeline", scan=scan)

    return f"dagster event log and step logs ({home or 'DAGSTER_HOME unset'})", run


def scan_compute_logs(instance, *, identity: str = "pipeline", scan: Scan) -> None:
    """The steps' captured stdout/stderr: in S3 (PostgreSQL instances) or under DAGSTER_HOME."""
    from pipelines import settings
    from pipelines.tools.compute_logs import PREFIX, LakeComputeLogManager

    manager = instance.compute_log_manager
    if isinstance(manager, LakeComputeLogManager):
        scan_s3_prefix(f"s3://{settings.buckets().lake}/{PREFIX}/", identity=identity, scan=scan)
        return
    base = getattr(manager, "_base_dir", None)
    if base and Path(base).is_dir():
        scan_tree(base, scan=scan, exclude=lambda p: p.suffix not in (".out", ".err"))


def cmd_leak_scan(args) -> int:
    """``shuzhong leak-scan``: exit 1 on any finding (0 with ``--expect-found`` iff found), 2 when a
    source to scan is unavailable (after scanning all the others)."""
    planted = list(args.planted or [])
    if getattr(args, "planted_file", None):
        planted += [v.strip() for v in Path(args.planted_file).read_text().splitlines() if v.strip()]
    scan = Scan(planted, detectors=not args.no_detectors)
    targets: list[tuple[str, Callable[[], object]]] = []
    identity = args.identity
    for path in args.duckdb:
        targets.append((f"duckdb {path}", lambda p=path: scan_duckdb(p, scan=scan)))
    for uri in args.delta:
        targets.append((f"delta {uri}", lambda u=uri: _scan_delta_or_root(u, identity, scan)))
    for d in args.tree:
        targets.append((f"tree {d}", lambda d=d: scan_tree(d, scan=scan)))
    for uri in args.s3:
        targets.append((f"s3 {uri}", lambda u=uri: scan_s3_prefix(u, identity=identity, scan=scan)))
    if args.defaults:
        targets += default_targets(scan, identity)
    if args.dagster or args.defaults:
        targets.append(dagster_target(scan))
    if not targets:
        print("leak-scan: nothing to scan (give --duckdb/--delta/--tree/--s3/--dagster or --defaults)", file=sys.stderr)
        return 2
    failed: list[str] = []
    for name, run in targets:
        before = len(scan.findings)
        try:
            run()
        except Exception as exc:  # noqa: BLE001 - every source is tried; each failure is reported
            failed.append(name)
            print(f"leak-scan: CANNOT SCAN {name}: {type(exc).__name__}: {pii.scrub_text(str(exc))}", file=sys.stderr)
            continue
        print(f"scanned {name}: {len(scan.findings) - before} finding(s)", file=sys.stderr)
    for f in scan.findings:
        print(json.dumps(asdict(f), ensure_ascii=False) if args.json else f.line())
    found = bool(scan.findings)
    print(f"leak-scan: {len(scan.findings)} finding(s) in {len(scan.scanned)} object(s)", file=sys.stderr)
    if failed:
        print(f"leak-scan: FAILED: {len(failed)} source(s) could not be scanned: {'; '.join(failed)}", file=sys.stderr)
        return 2
    return (0 if found else 1) if args.expect_found else (1 if found else 0)


def _scan_delta_or_root(uri: str, identity: str, scan: Scan) -> None:
    roots = delta_tables(uri, identity)
    if uri.rstrip("/") in roots:
        scan_delta(uri, identity=identity, scan=scan)
    else:
        scan_delta_tables(uri, identity=identity, scan=scan)
