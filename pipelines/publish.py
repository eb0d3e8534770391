"""Publish governed tables and marts for analysts, split by sharing class (spec §3).

Only governed tables and marts (``dim_*``, ``fct_*``, ``kpi_*`` under ``models/marts``)
are published, with table and column comments from the dbt docs (falling back to the
data contracts' business names). Each is classed from dbt meta, else from its lineage:

* ``unconditional`` (无条件共享) tables and columns go to the main read-only file
  :func:`settings.published_db_path` and to ``<published>/unconditional/<table>`` (Delta):
  every analyst reads them.
* ``conditional`` (有条件共享) tables go to one file per dataset,
  ``<published dir>/conditional/<bureau>.<dataset>.duckdb``, and to
  ``<published>/conditional/<bureau>.<dataset>/<table>``: only identities granted the
  dataset (``data_contracts/grants.yaml``) read them. A mart built from several
  conditional datasets needs every grant: it goes to the combination
  ``conditional/<a>+<b>`` (sorted), readable only by identities granted all of them.
* A conditional column of an unconditional mart (``dim_enterprises.legal_rep_name_masked``)
  is left out of the main file; the full table goes to the column's dataset file.
* ``none`` (不予共享) tables and columns are never published.

How a mart is classed (first that applies):

1. model meta ``sharing`` (with optional ``dataset``/``datasets``; without them a
   conditional mart takes the conditional datasets upstream);
2. meta ``aggregate: true`` or a ``kpi_*`` name: KPI marts are monthly aggregates by
   district/department/bureau without personal data, so ``unconditional``;
3. lineage (``depends_on`` down to the dbt sources, whose meta or contract give the
   dataset's class): conditional for the conditional datasets upstream (all of them),
   not published if a ``none`` dataset is upstream, else unconditional.

Every file is built beside its published path and swapped in with an atomic rename, so
analysts (read-only) never hold a lock on the pipeline's working database and never see
a half-written file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
from deltalake import CommitProperties, DeltaTable, write_deltalake

from pipelines import s3, settings
from pipelines.faults import crash_point

GOVERNED_PREFIXES = ("dim_", "fct_", "kpi_")
AGGREGATE_PREFIXES = ("kpi_",)
UNCONDITIONAL = "unconditional"
CONDITIONAL = "conditional"
NONE = "none"
CONDITIONAL_DIR = "conditional"


def conditional_key(datasets) -> str:
    """Name of the file/prefix for data that needs all of ``datasets``: ``a.b+c.d`` (sorted)."""
    return "+".join(sorted(set(datasets)))


def conditional_db_path(key: str, main: Path | None = None) -> Path:
    """``<published dir>/conditional/<key>.duckdb`` beside the main published file."""
    main = Path(main or settings.published_db_path())
    return main.parent / CONDITIONAL_DIR / f"{key}.duckdb"


# --------------------------------------------------------------------------- classification


def _meta(props: dict) -> dict:
    return {**(props.get("meta") or {}), **((props.get("config") or {}).get("meta") or {})}


def _meta_datasets(meta: dict) -> list[str]:
    values = meta.get("datasets") or meta.get("dataset") or []
    return [values] if isinstance(values, str) else list(values)


def _source_dataset(source: dict) -> tuple[str, str | None] | None:
    """(``<bureau>.<dataset>``, sharing) of a dbt source, None if not a bureau dataset."""
    from pipelines import contracts

    bureau, sep, dataset = source.get("name", "").partition("__")
    if not sep:
        return None
    key = f"{bureau}.{dataset}"
    sharing = _meta(source).get("sharing")
    contract = contracts.all_contracts().get(key)
    if sharing is None and contract is not None:
        sharing = contract.sharing
    if sharing is None and contract is None:
        return None  # pipeline metadata (e.g. the file registry), not a bureau's dataset
    return key, sharing


def upstream_datasets(manifest: dict, unique_id: str) -> dict[str, str | None]:
    """Bureau datasets a node depends on (transitively) → their sharing class."""
    nodes = manifest.get("nodes", {})
    sources = manifest.get("sources", {})
    found: dict[str, str | None] = {}
    seen: set[str] = set()
    stack = [unique_id]
    while stack:
        node = nodes.get(stack.pop())
        for dep in (node or {}).get("depends_on", {}).get("nodes", []):
            if dep in seen:
                continue
            seen.add(dep)
            if dep in sources:
                ds = _source_dataset(sources[dep])
                if ds is not None:
                    found[ds[0]] = ds[1]
            else:
                stack.append(dep)
    return found


def _contract_field_text(datasets, column: str) -> str:
    from pipelines import contracts

    for key in sorted(datasets):
        contract = contracts.all_contracts().get(key)
        if contract is None:
            continue
        for f in contract.fields:
            if f.name == column:
                return f.business_name + (f"; {f.description}" if f.description else "")
    return ""


def _classify(node: dict, upstream: dict[str, str | None]) -> tuple[str, list[str], str]:
    """(sharing, datasets, basis) of a mart."""
    name = node["name"]
    meta = _meta(node)
    conditional_up = sorted(k for k, v in upstream.items() if v == CONDITIONAL)
    if meta.get("sharing"):
        sharing = meta["sharing"]
        if sharing not in (UNCONDITIONAL, CONDITIONAL, NONE):
            raise ValueError(f"{name}: meta.sharing must be unconditional/conditional/none, not {sharing!r}")
        datasets = _meta_datasets(meta)
        if sharing == CONDITIONAL:
            datasets = datasets or conditional_up or sorted(upstream)
            if not datasets:
                raise ValueError(f"{name}: conditional, but no dataset in meta nor upstream to grant it by")
        return sharing, (datasets if sharing == CONDITIONAL else []), "meta"
    if meta.get("aggregate") or name.startswith(AGGREGATE_PREFIXES):
        return UNCONDITIONAL, [], "aggregate"
    if any(v == NONE for v in upstream.values()):
        return NONE, [], "lineage"
    if conditional_up:
        return CONDITIONAL, conditional_up, "lineage"
    return UNCONDITIONAL, [], "lineage"


def mart_models(manifest_path: Path) -> list[dict]:
    """Governed tables and marts (``dim_*``/``fct_*``/``kpi_*`` under ``models/marts``).

    Each: ``name``, ``schema``, ``description``, ``columns`` (name → description),
    ``sharing``, ``datasets`` (the grants a conditional mart needs), ``basis`` (meta /
    aggregate / lineage) and ``column_meta`` (name → classification, sharing, datasets).
    """
    manifest = json.loads(Path(manifest_path).read_text())
    marts = []
    for uid, node in manifest["nodes"].items():
        if node["resource_type"] != "model" or not node["original_file_path"].startswith("models/marts/"):
            continue
        if not node["name"].startswith(GOVERNED_PREFIXES):
            continue
        upstream = upstream_datasets(manifest, uid)
        sharing, datasets, basis = _classify(node, upstream)
        columns, column_meta = {}, {}
        for cname, col in (node.get("columns") or {}).items():
            cmeta = _meta(col)
            csharing = cmeta.get("sharing")
            cdatasets = _meta_datasets(cmeta)
            if csharing == CONDITIONAL and not cdatasets:
                cdatasets = datasets or sorted(upstream)
                if not cdatasets:
                    raise ValueError(f"{node['name']}.{cname}: conditional, but no dataset to grant it by")
            text = col.get("description") or _contract_field_text(upstream, cname)
            columns[cname] = text
            column_meta[cname] = {
                "classification": cmeta.get("classification"),
                "sharing": csharing,
                "datasets": sorted(cdatasets) if csharing == CONDITIONAL else [],
            }
        marts.append(
            {
                "name": node["name"],
                "schema": node["schema"],
                "description": node.get("description") or "",
                "columns": columns,
                "sharing": sharing,
                "datasets": sorted(datasets),
                "basis": basis,
                "column_meta": column_meta,
            }
        )
    return sorted(marts, key=lambda m: m["name"])


@dataclass
class Placement:
    """One table in one published file: ``key`` None is the main (unconditional) file."""

    key: str | None
    table: str
    columns: list[str] = field(default_factory=list)


def placements(model: dict, actual_columns: list[str]) -> list[Placement]:
    """Where the columns of one mart go, by the grants each column needs.

    A column needs the mart's datasets plus, if it is a conditional column, its own.
    A file keyed by a set of grants holds every column needing a subset of them.
    """
    if model["sharing"] == NONE:
        return []
    base = set(model["datasets"]) if model["sharing"] == CONDITIONAL else set()
    needs: dict[str, frozenset[str]] = {}
    for col in actual_columns:
        meta = model["column_meta"].get(col, {})
        if meta.get("sharing") == NONE:
            continue
        extra = set(meta.get("datasets") or []) if meta.get("sharing") == CONDITIONAL else set()
        needs[col] = frozenset(base | extra)
    out = []
    for grant_set in sorted(set(needs.values()), key=lambda s: (len(s), sorted(s))):
        cols = [c for c in actual_columns if c in needs and needs[c] <= grant_set]
        out.append(Placement(conditional_key(grant_set) if grant_set else None, model["name"], cols))
    return out


# --------------------------------------------------------------------------- publish


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _comment(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _table_comment(model: dict, key: str | None) -> str:
    desc = " ".join(model["description"].split())
    if key is None:
        tag = "sharing: unconditional (无条件共享)"
        column_sharing = {m.get("sharing") for m in model["column_meta"].values()}
        if model["sharing"] == CONDITIONAL or CONDITIONAL in column_sharing:
            tag += "; conditional columns only in the granted dataset's file"
    else:
        tag = f"sharing: conditional (有条件共享), grants needed: {', '.join(key.split('+'))}"
    if model["basis"] == "aggregate":
        tag += "; aggregate without personal data"
    return f"{desc} [{tag}]" if desc else f"[{tag}]"


def _column_comment(model: dict, column: str) -> str:
    text = " ".join((model["columns"].get(column) or "").split())
    meta = model["column_meta"].get(column, {})
    tags = [f"classification: {meta['classification']}"] if meta.get("classification") else []
    if meta.get("sharing"):
        tags.append(f"sharing: {meta['sharing']}")
    tag = f"[{'; '.join(tags)}]" if tags else ""
    return " ".join(p for p in (text, tag) if p)


STATE_SCHEMA = "_meta"
STATE_TABLE = f"{STATE_SCHEMA}.published_tables"


@dataclass
class BuiltFile:
    """One published file, built beside its final path: what it holds and what changed."""

    tmp: Path
    final: Path
    counts: dict[str, int]
    fingerprints: dict[str, str]
    changed: list[str]
    previous: dict[str, str] = field(default_factory=dict)  # table → fingerprint before this publish
    # table → the source_key groups rewritten (tables not listed were rewritten whole)
    groups: dict[str, list[str | None]] = field(default_factory=dict)


GROUP_COLUMN = "source_key"  # rows of a fact come in groups by the file they came from
MAX_GROUP_SHARE = 0.25  # rewrite by group while at most this share of the groups changed


def _shape(model: dict, placement: Placement) -> str:
    """Fingerprint of a table's columns and comments (a change means a rewrite of the whole table)."""
    comments = [_table_comment(model, placement.key)] + [_column_comment(model, c) for c in placement.columns]
    return hashlib.sha256(json.dumps([placement.columns, comments], ensure_ascii=False).encode()).hexdigest()[:32]


def _group_sums(con: duckdb.DuckDBPyConnection, source: str, cols: str) -> dict[str | None, tuple[int, int]]:
    rows = con.execute(f"SELECT {GROUP_COLUMN}, count(*), sum(hash({cols}))::HUGEINT FROM {source} GROUP BY 1")
    return {key: (n, int(total)) for key, n, total in rows.fetchall()}


def group_predicate(keys: list[str | None]) -> str:
    """SQL (DuckDB and delta-rs) selecting the rows of ``keys`` groups."""
    named = [k for k in keys if k is not None]
    parts = [f"{GROUP_COLUMN} IN ({', '.join(_comment(k) for k in named)})"] if named else []
    return " OR ".join(parts + ([f"{GROUP_COLUMN} IS NULL"] if None in keys else [])) or "false"


def _changed_groups(con, source: str, name: str, cols: str) -> list[str | None] | None:
    """The groups whose rows differ between the working table and the published one; None when
    so many changed that rewriting the whole table is as cheap."""
    new, old = _group_sums(con, source, cols), _group_sums(con, f"main.{name}", cols)
    diff = sorted({k for k in new.keys() | old.keys() if new.get(k) != old.get(k)}, key=lambda k: (k is None, k))
    return diff if len(diff) <= max(1, MAX_GROUP_SHARE * len(new)) else None


def _fingerprint(con: duckdb.DuckDBPyConnection, source: str, model: dict, placement: Placement) -> tuple[str, int]:
    """Content fingerprint of a table as it would be published (columns, comments, rows) and its row count."""
    cols = ", ".join(_ident(c) for c in placement.columns)
    n, total = con.execute(f"SELECT count(*), coalesce(sum(hash({cols})::HUGEINT), 0) FROM {source}").fetchone()
    text = json.dumps([_shape(model, placement), n, str(total)])
    return hashlib.sha256(text.encode()).hexdigest()[:32], n


def _build(tmp: Path, final: Path, work_db: Path, items: list[tuple[dict, Placement]]) -> BuiltFile:
    """Build ``tmp`` from the previous published file: only tables whose content changed are
    copied again from the working database (a fact table of millions of rows that one more day
    did not touch is not rewritten)."""
    previous: dict[str, tuple[str, int, datetime, str]] = {}
    config = {"memory_limit": settings.duckdb_memory_limit()}
    if final.exists():
        shutil.copyfile(final, tmp)
        con = duckdb.connect(str(tmp), config=config)
        try:
            previous = {t: (f, n, at, shape) for t, f, n, at, shape in con.execute(
                f"SELECT table_name, fingerprint, row_count, published_at, shape FROM {STATE_TABLE}").fetchall()}
        except (duckdb.CatalogException, duckdb.BinderException):  # a file from before the publish state
            previous = {}
    else:
        con = duckdb.connect(str(tmp), config=config)
    built = BuiltFile(tmp, final, {}, {}, [], previous={t: v[0] for t, v in previous.items()})
    shapes: dict[str, str] = {}
    try:
        con.execute(f"ATTACH {_comment(str(work_db))} AS work (READ_ONLY)")
        wanted = set()
        for model, placement in items:
            table, name = placement.table, _ident(placement.table)
            wanted.add(table)
            source = f"work.{_ident(model['schema'])}.{name}"
            fp, n = _fingerprint(con, source, model, placement)
            built.counts[table], built.fingerprints[table] = n, fp
            shapes[table] = _shape(model, placement)
            if previous.get(table, (None,))[0] == fp:
                continue
            built.changed.append(table)
            cols = ", ".join(_ident(c) for c in placement.columns)
            groups = None
            if table in previous and previous[table][3] == shapes[table] and GROUP_COLUMN in placement.columns:
                groups = _changed_groups(con, source, name, cols)
            if groups is not None:  # only the rows of the files that changed
                built.groups[table] = groups
                con.execute(f"DELETE FROM main.{name} WHERE {group_predicate(groups)}")
                con.execute(f"INSERT INTO main.{name} SELECT {cols} FROM {source} WHERE {group_predicate(groups)}")
                continue
            con.execute(f"DROP TABLE IF EXISTS main.{name}")
            con.execute(f"CREATE TABLE main.{name} AS SELECT {cols} FROM {source}")
            con.execute(f"COMMENT ON TABLE main.{name} IS {_comment(_table_comment(model, placement.key))}")
            for column in placement.columns:
                text = _column_comment(model, column)
                if text:
                    con.execute(f"COMMENT ON COLUMN main.{name}.{_ident(column)} IS {_comment(text)}")
        for (stale,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                                    "AND schema_name = 'main'").fetchall():
            if stale not in wanted:
                con.execute(f"DROP TABLE main.{_ident(stale)}")
        con.execute("DETACH work")
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {STATE_SCHEMA}")
        con.execute(f"CREATE OR REPLACE TABLE {STATE_TABLE} (table_name VARCHAR, fingerprint VARCHAR, "
                    "row_count BIGINT, published_at TIMESTAMPTZ, shape VARCHAR)")
        con.execute(f"COMMENT ON TABLE {STATE_TABLE} IS "
                    f"{_comment('发布状态：每张表的内容指纹、行数与最近一次更新时间 / when each table last changed')}")
        now = datetime.now(UTC)
        con.executemany(f"INSERT INTO {STATE_TABLE} VALUES (?, ?, ?, ?, ?)", [
            [t, fp, built.counts[t], now if t in built.changed else previous[t][2], shapes[t]]
            for t, fp in built.fingerprints.items()
        ])
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return built


def _tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _clean_stale_tmp(directory: Path) -> None:
    if directory.is_dir():
        for stale in directory.glob(".*.duckdb.*.tmp"):  # left by a crashed publish
            stale.unlink(missing_ok=True)


class Published(dict):
    """Row counts by published table; ``changed``: the tables whose content was rewritten."""

    changed: list[str]


def publish(manifest_path: Path, work_db: Path | None = None, target: Path | None = None) -> Published:
    """Build the published files (main + one per conditional dataset), swap each in
    atomically, write the Delta copies; return row counts by table."""
    work_db = Path(work_db or settings.work_db_path())
    target = Path(target or settings.published_db_path())
    cond_dir = target.parent / CONDITIONAL_DIR
    target.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale_tmp(target.parent)
    _clean_stale_tmp(cond_dir)

    models = mart_models(manifest_path)
    con = duckdb.connect(str(work_db), read_only=True)
    try:
        actual = {}
        for m in models:
            rows = con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? "
                "AND database_name = current_database() ORDER BY column_index",
                [m["schema"], m["name"]],
            ).fetchall()
            if not rows:
                raise RuntimeError(f"{m['schema']}.{m['name']} is not in the working database {work_db}")
            actual[m["name"]] = [r[0] for r in rows]
    finally:
        con.close()

    files: dict[str | None, list[tuple[dict, Placement]]] = {None: []}
    for m in models:
        for p in placements(m, actual[m["name"]]):
            files.setdefault(p.key, []).append((m, p))

    counts = Published()
    built: dict[str | None, BuiltFile] = {}
    for key, items in files.items():
        final = target if key is None else conditional_db_path(key, target)
        final.parent.mkdir(parents=True, exist_ok=True)
        built[key] = _build(_tmp_path(final), final, work_db, items)
        counts.update(built[key].counts)

    crash_point("before_publish_swap")
    for b in built.values():
        os.replace(b.tmp, b.final)
    crash_point("after_publish_swap")
    # A dataset with no conditional table any more: its file goes (never readable stale data).
    keep = {b.final for b in built.values()}
    if cond_dir.is_dir():
        for old in cond_dir.glob("*.duckdb"):
            if old not in keep:
                old.unlink(missing_ok=True)
        if not any(cond_dir.iterdir()):
            cond_dir.rmdir()

    if settings.published_uri().startswith("s3://"):
        _write_delta(built)
    counts.changed = sorted({t for b in built.values() for t in b.changed})
    return counts


def published_files(target: Path | None = None) -> dict[str, Path]:
    """The published DuckDB files: ``unconditional`` → main file, ``<key>`` → conditional file."""
    target = Path(target or settings.published_db_path())
    out = {UNCONDITIONAL: target} if target.exists() else {}
    for path in sorted((target.parent / CONDITIONAL_DIR).glob("*.duckdb")):
        out[path.name.removesuffix(".duckdb")] = path
    return out


# --------------------------------------------------------------------------- Delta on S3


def delta_prefix(key: str | None) -> str:
    """Prefix of a file's tables under the published root: ``unconditional`` or ``conditional/<key>``."""
    return UNCONDITIONAL if key is None else f"{CONDITIONAL_DIR}/{key}"


def _split_uri(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    return parts.netloc, parts.path.strip("/")


def _delete_prefix(client, bucket: str, prefix: str) -> None:
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        objs = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        for i in range(0, len(objs), 1000):
            client.delete_objects(Bucket=bucket, Delete={"Objects": objs[i:i + 1000], "Quiet": True})


def _subprefixes(client, bucket: str, prefix: str) -> list[str]:
    out = []
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        out += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    return out


FINGERPRINT_KEY = "shuzhong.fingerprint"


def _delta_fingerprint(uri: str, opts: dict) -> tuple[str | None, set[str]]:
    """Fingerprint recorded by the Delta copy's last commit, and its columns (None, {} if none)."""
    try:
        table = DeltaTable(uri, storage_options=opts)
    except Exception:  # noqa: BLE001 - no table there yet
        return None, set()
    last = table.history(1)
    return (last[0].get(FINGERPRINT_KEY) if last else None), {f.name for f in table.schema().fields}


def _write_delta(files: dict[str | None, BuiltFile]) -> None:
    """Delta copies of the published tables: a table is rewritten (streamed from its published
    file) only when its fingerprint differs from the one its last Delta commit recorded."""
    root = settings.published_uri().rstrip("/")
    bucket, base = _split_uri(root)
    base = f"{base}/" if base else ""
    opts = s3.delta_storage_options()
    client = s3.client("pipeline")
    wanted = {f"{base}{delta_prefix(key)}/{name}/" for key, b in files.items() for name in b.fingerprints}
    for key, b in files.items():
        con = duckdb.connect(str(b.final), read_only=True)
        try:
            for name, fp in b.fingerprints.items():
                uri = f"{root}/{delta_prefix(key)}/{name}"
                recorded, old_columns = _delta_fingerprint(uri, opts)
                if recorded == fp:
                    continue
                props = CommitProperties(custom_metadata={FINGERPRINT_KEY: fp})
                groups = b.groups.get(name)
                if groups is not None and recorded is not None and recorded == b.previous.get(name):
                    # The copy holds the previous publish: replace only the changed groups, in one commit.
                    predicate = group_predicate(groups)
                    reader = con.execute(f"SELECT * FROM main.{_ident(name)} WHERE {predicate}").fetch_record_batch(
                        256_000)
                    write_deltalake(uri, reader, mode="overwrite", predicate=predicate, storage_options=opts,
                                    commit_properties=props)
                    continue
                reader = con.execute(f"SELECT * FROM main.{_ident(name)}").fetch_record_batch(256_000)
                if old_columns - set(reader.schema.names):
                    # A column left this file (e.g. reclassified conditional): earlier versions
                    # would still hold it, so the table is rewritten from scratch.
                    _delete_prefix(client, bucket, f"{base}{delta_prefix(key)}/{name}/")
                write_deltalake(uri, reader, mode="overwrite", schema_mode="overwrite", storage_options=opts,
                                commit_properties=props)
        finally:
            con.close()
    # Tables no longer published here (dropped or reclassified) must not stay readable.
    existing = _subprefixes(client, bucket, f"{base}{UNCONDITIONAL}/")
    for cond in _subprefixes(client, bucket, f"{base}{CONDITIONAL_DIR}/"):
        existing += _subprefixes(client, bucket, cond)
    # The layout before the split: <published>/<table>/ (readable by nobody now).
    existing += [p for p in _subprefixes(client, bucket, base) if p[len(base):].startswith(GOVERNED_PREFIXES)]
    for prefix in existing:
        if prefix not in wanted:
            _delete_prefix(client, bucket, prefix)
