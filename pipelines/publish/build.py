"""Building one published DuckDB file beside its final path from the previous one: only the
tables (or the source-file groups of a table) whose content changed are copied again."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines import settings
from pipelines.publish.sharing import CONDITIONAL, Placement


def sql_string(text: str) -> str:
    """A SQL string literal (comments, predicates)."""
    return "'" + text.replace("'", "''") + "'"


def ident(name: str) -> str:
    """A quoted SQL identifier."""
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
# Row count and hash sum of each source-file group of the grouped tables as published: the
# next publish compares the working tables' groups with these instead of re-reading its copy.
GROUPS_TABLE = f"{STATE_SCHEMA}.published_groups"


@dataclass
class BuiltFile:
    """One published file, built beside its final path: what it holds and what changed."""

    tmp: Path
    final: Path
    counts: dict[str, int]
    fingerprints: dict[str, str]
    changed: list[str]
    previous: dict[str, str] = field(default_factory=dict)  # table → fingerprint before this publish
    # table → the source_file_id groups rewritten (tables not listed were rewritten whole)
    groups: dict[str, list[str | None]] = field(default_factory=dict)


# rows of a fact come in groups by the file they came from: its stable id, never its key (spec §1)
GROUP_COLUMN = "source_file_id"
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
    parts = [f"{GROUP_COLUMN} IN ({', '.join(sql_string(k) for k in named)})"] if named else []
    return " OR ".join(parts + ([f"{GROUP_COLUMN} IS NULL"] if None in keys else [])) or "false"


def _changed_groups(
    new: dict[str | None, tuple[int, int]], old: dict[str | None, tuple[int, int]]
) -> list[str | None] | None:
    """The groups whose rows differ between the working table (``new`` group sums) and the
    published one (``old``); None when so many changed that rewriting the whole table is as cheap."""
    diff = sorted({k for k in new.keys() | old.keys() if new.get(k) != old.get(k)}, key=lambda k: (k is None, k))
    return diff if len(diff) <= max(1, MAX_GROUP_SHARE * len(new)) else None


def _fingerprint(con: duckdb.DuckDBPyConnection, source: str, model: dict, placement: Placement) -> tuple[str, int]:
    """Content fingerprint of a table as it would be published (columns, comments, rows) and its row count."""
    cols = ", ".join(ident(c) for c in placement.columns)
    n, total = con.execute(f"SELECT count(*), coalesce(sum(hash({cols})::HUGEINT), 0) FROM {source}").fetchone()
    return _fingerprint_of(model, placement, n, total), n


def _fingerprint_of(model: dict, placement: Placement, n: int, total: int) -> str:
    text = json.dumps([_shape(model, placement), n, str(total)])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _grouped_fingerprint(
    con: duckdb.DuckDBPyConnection, source: str, model: dict, placement: Placement
) -> tuple[str, int, dict[str | None, tuple[int, int]]]:
    """The fingerprint, the row count and the group sums of a grouped table, in one scan (the
    hash sum of the whole table is the sum of its groups' sums: the same fingerprint)."""
    groups = _group_sums(con, source, ", ".join(ident(c) for c in placement.columns))
    n, total = sum(g[0] for g in groups.values()), sum(g[1] for g in groups.values())
    return _fingerprint_of(model, placement, n, total), n, groups


def _published_groups(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str | None, tuple[int, int]]]:
    """The group sums the previous publish stored (empty for a file from before they were kept)."""
    out: dict[str, dict[str | None, tuple[int, int]]] = {}
    try:
        rows = con.execute(f"SELECT table_name, group_id, row_count, hash_sum FROM {GROUPS_TABLE}").fetchall()
    except (duckdb.CatalogException, duckdb.BinderException):
        return out
    for table, group, n, total in rows:
        out.setdefault(table, {})[group] = (n, int(total))
    return out


def build_file(tmp: Path, final: Path, work_db: Path, items: list[tuple[dict, Placement]]) -> BuiltFile:
    """Build ``tmp`` from the previous published file: only tables whose content changed are
    copied again from the working database (a fact table of millions of rows that one more day
    did not touch is not rewritten)."""
    previous: dict[str, tuple[str, int, datetime, str]] = {}
    config = {"memory_limit": settings.duckdb_memory_limit()}
    if final.exists():
        shutil.copyfile(final, tmp)
        con = duckdb.connect(str(tmp), config=config)
        try:
            previous = {
                t: (f, n, at, shape)
                for t, f, n, at, shape in con.execute(
                    f"SELECT table_name, fingerprint, row_count, published_at, shape FROM {STATE_TABLE}"
                ).fetchall()
            }
        except (duckdb.CatalogException, duckdb.BinderException):  # a file from before the publish state
            previous = {}
        stored_groups = _published_groups(con) if previous else {}
    else:
        stored_groups = {}
        con = duckdb.connect(str(tmp), config=config)
    built = BuiltFile(tmp, final, {}, {}, [], previous={t: v[0] for t, v in previous.items()})
    shapes: dict[str, str] = {}
    group_sums: dict[str, dict[str | None, tuple[int, int]]] = {}
    try:
        con.execute(f"ATTACH {sql_string(str(work_db))} AS work (READ_ONLY)")
        wanted = set()
        for model, placement in items:
            table, name = placement.table, ident(placement.table)
            wanted.add(table)
            source = f"work.{ident(model['schema'])}.{name}"
            if GROUP_COLUMN in placement.columns:
                fp, n, group_sums[table] = _grouped_fingerprint(con, source, model, placement)
            else:
                fp, n = _fingerprint(con, source, model, placement)
            built.counts[table], built.fingerprints[table] = n, fp
            shapes[table] = _shape(model, placement)
            if previous.get(table, (None,))[0] == fp:
                continue
            built.changed.append(table)
            cols = ", ".join(ident(c) for c in placement.columns)
            groups = None
            if table in previous and previous[table][3] == shapes[table] and table in group_sums:
                old = stored_groups.get(table)
                if old is None:  # a file from before the group sums were kept: read its copy once
                    old = _group_sums(con, f"main.{name}", cols)
                groups = _changed_groups(group_sums[table], old)
            if groups is not None:  # only the rows of the files that changed
                built.groups[table] = groups
                con.execute(f"DELETE FROM main.{name} WHERE {group_predicate(groups)}")
                con.execute(f"INSERT INTO main.{name} SELECT {cols} FROM {source} WHERE {group_predicate(groups)}")
                continue
            con.execute(f"DROP TABLE IF EXISTS main.{name}")
            con.execute(f"CREATE TABLE main.{name} AS SELECT {cols} FROM {source}")
            con.execute(f"COMMENT ON TABLE main.{name} IS {sql_string(_table_comment(model, placement.key))}")
            for column in placement.columns:
                text = _column_comment(model, column)
                if text:
                    con.execute(f"COMMENT ON COLUMN main.{name}.{ident(column)} IS {sql_string(text)}")
        for (stale,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main'"
        ).fetchall():
            if stale not in wanted:
                con.execute(f"DROP TABLE main.{ident(stale)}")
        con.execute("DETACH work")
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {STATE_SCHEMA}")
        con.execute(
            f"CREATE OR REPLACE TABLE {STATE_TABLE} (table_name VARCHAR, fingerprint VARCHAR, "
            "row_count BIGINT, published_at TIMESTAMPTZ, shape VARCHAR)"
        )
        state_comment = "发布状态：每张表的内容指纹、行数与最近一次更新时间 / when each table last changed"
        con.execute(f"COMMENT ON TABLE {STATE_TABLE} IS {sql_string(state_comment)}")
        now = datetime.now(UTC)
        con.executemany(
            f"INSERT INTO {STATE_TABLE} VALUES (?, ?, ?, ?, ?)",
            [
                [t, fp, built.counts[t], now if t in built.changed else previous[t][2], shapes[t]]
                for t, fp in built.fingerprints.items()
            ],
        )
        con.execute(
            f"CREATE OR REPLACE TABLE {GROUPS_TABLE} (table_name VARCHAR, group_id VARCHAR, "
            "row_count BIGINT, hash_sum HUGEINT)"
        )
        groups_comment = "发布状态：每张表按来源文件分组的行数与哈希和 / rows and hash sum per source-file group"
        con.execute(f"COMMENT ON TABLE {GROUPS_TABLE} IS {sql_string(groups_comment)}")
        stored = pa.table(  # hash sums as text: Arrow has no 128-bit integer
            {
                "table_name": [t for t, sums in group_sums.items() for _ in sums],
                "group_id": pa.array([g for sums in group_sums.values() for g in sums], pa.string()),
                "row_count": pa.array([n for sums in group_sums.values() for n, _ in sums.values()], pa.int64()),
                "hash_sum": [str(total) for sums in group_sums.values() for _, total in sums.values()],
            }
        )
        con.register("stored_group_sums", stored)
        con.execute(
            f"INSERT INTO {GROUPS_TABLE} SELECT table_name, group_id, row_count, hash_sum::HUGEINT "
            "FROM stored_group_sums"
        )
        con.unregister("stored_group_sums")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return built
