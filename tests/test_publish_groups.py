"""Publishing a grouped fact again (pipelines/publish/build.py): the working table's source-file
groups are compared with the group sums the previous publish stored, so the published copy is
not read again, only the changed groups are rewritten, and the published table always equals
the working one (also for a file published before the sums were kept)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from pipelines import publish, settings
from pipelines.publish import build
from tests.test_analyst_access import SOURCES, _col, _model

TABLE = "fct_g_readings"
COLUMNS = "source_file_id, reading_id, value"


def _inputs(tmp: Path) -> tuple[Path, Path]:
    work = tmp / "work.duckdb"
    con = duckdb.connect(str(work))
    con.execute(
        f"CREATE TABLE {TABLE} AS SELECT 'f' || (i % 10) AS source_file_id, 'R' || i AS reading_id, i AS value "
        "FROM range(40) t(i)"
    )
    con.close()
    node = _model(
        TABLE,
        ["source.x.raw.market__enterprises"],
        description="读数 (test)",
        meta={"sharing": "unconditional"},
        columns={c: _col(c, classification="internal") for c in ("source_file_id", "reading_id", "value")},
    )
    manifest = tmp / "manifest.json"
    manifest.write_text(json.dumps({"nodes": {f"model.x.{TABLE}": node}, "sources": SOURCES}))
    return work, manifest


def _rows(path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return sorted(con.execute(sql).fetchall(), key=repr)
    finally:
        con.close()


def _change(work: Path, *statements: str) -> None:
    work.chmod(0o600)  # a published file is read-only
    con = duckdb.connect(str(work))
    for sql in statements:
        con.execute(sql)
    con.close()


def _spy(monkeypatch) -> tuple[list[str], list]:
    sources: list[str] = []
    rewritten: list = []
    sums, changed = build._group_sums, build._changed_groups

    def group_sums(con, source, cols):
        sources.append(source)
        return sums(con, source, cols)

    def changed_groups(new, old):
        rewritten.append(changed(new, old))
        return rewritten[-1]

    monkeypatch.setattr(build, "_group_sums", group_sums)
    monkeypatch.setattr(build, "_changed_groups", changed_groups)
    return sources, rewritten


def test_republish_compares_stored_group_sums_and_rewrites_only_changed_groups(s3_env, tmp_path, monkeypatch, unique):
    monkeypatch.setenv("SHUZHONG_PUBLISHED_URI", f"s3://{settings.buckets().published}/t-{unique}")
    work, manifest = _inputs(tmp_path)
    target = tmp_path / "published" / "warehouse.duckdb"
    publish.publish(manifest, work, target)
    everything = f"SELECT {COLUMNS} FROM {TABLE}"
    assert _rows(target, everything) == _rows(work, everything)
    per_group = f"SELECT source_file_id, count(*), sum(hash({COLUMNS}))::HUGEINT FROM {TABLE} GROUP BY 1"
    stored = f"SELECT group_id, row_count, hash_sum FROM {build.GROUPS_TABLE} WHERE table_name = '{TABLE}'"
    assert _rows(target, stored) == _rows(target, per_group)

    # One group's row changed and a new group: two of eleven groups rewritten, from the stored sums.
    _change(
        work, f"UPDATE {TABLE} SET value = 99 WHERE reading_id = 'R2'", f"INSERT INTO {TABLE} VALUES ('f10', 'R40', 40)"
    )
    sources, rewritten = _spy(monkeypatch)
    publish.publish(manifest, work, target)
    assert _rows(target, everything) == _rows(work, everything)
    assert rewritten == [["f10", "f2"]]
    assert all(s.startswith("work.") for s in sources)  # the published copy was not read
    assert _rows(target, stored) == _rows(target, per_group)

    # A published file from before the sums were kept: its copy is read once, the result is the same.
    _change(target, f"DROP TABLE {build.GROUPS_TABLE}")
    _change(work, f"DELETE FROM {TABLE} WHERE reading_id = 'R40'")
    sources, rewritten = _spy(monkeypatch)
    publish.publish(manifest, work, target)
    assert _rows(target, everything) == _rows(work, everything)
    assert rewritten == [["f10"]]
    assert any(s.startswith("main.") for s in sources)
    assert _rows(target, stored) == _rows(target, per_group)
