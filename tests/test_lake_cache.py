"""The per-process Delta table cache (pipelines/lake.py) on the real S3 server: a process that
keeps its tables open still sees every other writer's commits, gets its own commits' versions
right, and reads only the registry files added since its last read."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime

import polars as pl
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from pipelines import lake, settings

OTHER_WRITER = """
import sys
import pyarrow as pa
from pipelines import lake
print(lake.append(sys.argv[1], pa.table({"writer": ["other"], "i": [int(sys.argv[2])]})))
"""


def _other_process_appends(uri: str, i: int) -> int:
    out = subprocess.run(
        [sys.executable, "-c", OTHER_WRITER, uri, str(i)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        cwd=settings.REPO_ROOT,
        check=True,
    )
    return int(out.stdout.strip().splitlines()[-1])


def _registry_rows(keys: list[str]) -> pa.Table:
    at = datetime(2026, 3, 2, 8, tzinfo=UTC)
    rows = [
        {
            "source_key": k,
            "source_etag": f"e-{k}",
            "file_sha256": f"sha-{k}",
            "bureau": "hotline",
            "dataset": "tickets",
            "business_date": date(2026, 3, 1),
            "status": "accepted",
            "rows_received": 1,
            "rows_accepted": 1,
            "rows_quarantined": 0,
            "rows_superseded": 0,
            "raw_table_version": 0,
            "contract_version": "1.0.0",
            "uploaded_at": at,
            "processed_at": at,
            "run_id": "r",
            "receipt_key": f"receipts/{k}.json",
            "reason": None,
        }
        for k in keys
    ]
    return pa.Table.from_pylist(rows, schema=lake.REGISTRY_SCHEMA)


def _table_now(uri: str) -> pl.DataFrame:
    """The registry as a fresh reader sees it (no cache)."""
    return pl.from_arrow(DeltaTable(uri, storage_options=lake.storage_options()).to_pyarrow_table())


def _same(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    return a.sort("source_key").equals(b.sort("source_key"))


def test_commit_versions_are_right_when_another_process_committed_in_between(lake_root):
    uri = f"{lake_root}/cache-versions"
    assert lake.append(uri, pa.table({"writer": ["me"], "i": [0]})) == 0
    assert lake.append(uri, pa.table({"writer": ["me"], "i": [1]})) == 1  # from the cached table
    assert _other_process_appends(uri, 2) == 2
    mine = lake.append(uri, pa.table({"writer": ["me"], "i": [3]}))
    assert mine == 3
    opts = lake.storage_options()
    at = {v: pl.from_arrow(DeltaTable(uri, version=v, storage_options=opts).to_pyarrow_table()) for v in (2, 3)}
    assert at[3].filter(pl.col("i") == 3)["writer"].to_list() == ["me"]
    assert at[2].filter(pl.col("i") == 3).height == 0
    assert sorted(at[3]["i"].to_list()) == [0, 1, 2, 3]  # the other writer's row was not lost


def test_registry_reads_only_added_files_and_always_equals_the_table(lake_root, monkeypatch):
    uri = lake.registry_uri()
    lake.append(uri, _registry_rows(["a/1.csv", "a/2.csv"]))
    assert _same(lake.registry(), _table_now(uri))

    read: list[int] = []
    real = lake._read_fragments

    def spy(dataset, fragments):
        read.append(len(fragments))
        return real(dataset, fragments)

    monkeypatch.setattr(lake, "_read_fragments", spy)
    code = "import sys; from pipelines import lake; from tests.test_lake_cache import _registry_rows\n"
    code += "lake.append(lake.registry_uri(), _registry_rows(['b/1.csv']))"
    subprocess.run([sys.executable, "-c", code], env=os.environ.copy(), cwd=settings.REPO_ROOT, check=True)
    got = lake.registry()
    assert sorted(got["source_key"].to_list()) == ["a/1.csv", "a/2.csv", "b/1.csv"]
    assert _same(got, _table_now(uri))
    assert read == [1]  # one new data file read, not the two of before
    assert lake.registry() is got  # nothing new: no read at all

    # Files removed (a rewrite of the table): read afresh, never the stale rows.
    write_deltalake(uri, _registry_rows(["c/1.csv"]), mode="overwrite", storage_options=lake.storage_options())
    got = lake.registry()
    assert got["source_key"].to_list() == ["c/1.csv"]
    assert _same(got, _table_now(uri))
    assert read == [1, 1]


def test_every_tenth_commit_writes_a_checkpoint_that_readers_use(lake_root, s3_client):
    uri = f"{lake_root}/checkpointed"
    for i in range(12):
        assert lake.append(uri, pa.table({"writer": ["me"], "i": [i]})) == i
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    listed = s3_client("pipeline").list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/_delta_log/")
    names = sorted(o["Key"].rsplit("/", 1)[-1] for o in listed.get("Contents", []))
    assert [n for n in names if ".checkpoint." in n] == ["00000000000000000010.checkpoint.parquet"]
    assert "_last_checkpoint" in names
    assert len([n for n in names if n.endswith(".json")]) == 12  # the commits themselves stay
    # A fresh reader (DuckDB's delta_scan, as in dbt's staging views) sees every row.
    import duckdb

    from pipelines import dbt_plugin

    con = duckdb.connect()
    dbt_plugin.configure_lake(con)
    got = con.execute(f"select i from delta_scan('{uri}') order by i").fetchall()
    assert [r[0] for r in got] == list(range(12))
    assert sorted(_table_now(uri)["i"].to_list()) == list(range(12))


def test_every_twentieth_registry_commit_compacts_it_and_readers_see_the_same_rows(lake_root):
    uri = lake.registry_uri()
    keys = [f"c/{i:02d}.csv" for i in range(21)]
    for i, key in enumerate(keys):
        assert lake.append(uri, _registry_rows([key])) == i
        if i == 18:
            cached = lake.registry()  # a process that read the registry before the compaction
            assert cached.height == 19
    dt = DeltaTable(uri, storage_options=lake.storage_options())
    assert dt.version() == 21  # commits 0..20, then the compaction's
    assert len(dt.file_uris()) == 1  # the 21 small files, rewritten as one
    assert sorted(_table_now(uri)["source_key"].to_list()) == keys
    got = lake.registry()  # files were removed: read afresh, not patched onto the cached frame
    assert sorted(got["source_key"].to_list()) == keys
    assert _same(got, _table_now(uri))
