"""Object keys never reach marts or published tables (spec §1, v1.2; issue 12 point 5).

A bureau's file name may hold a phone or ID number. The real pipeline (ingestion job →
``transform_and_publish``: dbt build, then publish) keeps the key in the raw zone, the
registry and the receipts only; the marts and every published table (main and
conditional DuckDB files, and their Delta copies) carry ``source_file_id``, the first 16
hex digits of sha256 of the UTF-8 key, computed here independently with hashlib.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
from dagster import DagsterInstance
from deltalake import DeltaTable

from pipelines import ingest, lake, pii, publish, s3, settings
from pipelines.publish.build import ident
from pipelines.tools import leakscan
from tests.helpers import csv_bytes, submit, ticket

PHONE = "13912345678"  # a realistic 11-digit mobile number in the file name


def _resident_id(prefix: str = "370402", birth: str = "19850612", seq: int = 123) -> str:
    first17 = f"{prefix}{birth}{seq:03d}"
    return first17 + pii.resident_id_check_char(first17)


def _file_id(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def _mart_names() -> list[str]:
    marts = settings.DBT_PROJECT_DIR / "models" / "marts"
    return sorted(p.stem for p in marts.glob("*.sql") if p.stem.startswith(("dim_", "fct_", "kpi_")))


def _hits(con: duckdb.DuckDBPyConnection, schema: str, table: str, needles: list[str]) -> list[str]:
    """``table.column`` for every column whose value (as text) holds a needle."""
    cols = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = ? AND table_name = ?",
        [schema, table],
    ).fetchall()
    out = []
    for (col,) in cols:
        cond = " OR ".join(f"strpos(CAST({ident(col)} AS VARCHAR), ?) > 0" for _ in needles)
        n = con.execute(f"SELECT count(*) FROM {ident(schema)}.{ident(table)} WHERE {cond}", needles).fetchone()[0]
        if n:
            out.append(f"{schema}.{table}.{col}")
    return out


def test_keys_with_personal_data_never_reach_marts_or_published_tables(lake_root, unique, tmp_path, monkeypatch):
    from pipelines.definitions import defs

    work_db = tmp_path / "work.duckdb"
    monkeypatch.setenv("SHUZHONG_WORK_DB", str(work_db))
    monkeypatch.setenv("SHUZHONG_PUBLISHED_DB", str(tmp_path / "published" / "warehouse.duckdb"))
    monkeypatch.setenv("SHUZHONG_PUBLISHED_URI", f"s3://{settings.buckets().published}/t-{unique}")
    rid = _resident_id()
    phone_key = f"hotline/tickets/2026-03-05/{unique}-{PHONE}.csv"
    id_key = f"hotline/tickets/2026-03-06/张三{rid}-{unique}.csv"
    keys = [phone_key, id_key]
    objs = [
        submit(phone_key, csv_bytes([ticket(1), ticket(2, 诉求内容="路灯不亮")], "gbk")),
        submit(id_key, csv_bytes([ticket(3, 受理时间="2026-03-06 10:00")], "utf-8-sig")),
    ]
    instance = DagsterInstance.ephemeral()
    ingested = defs.resolve_job_def("ingest_hotline__tickets").execute_in_process(
        run_config={
            "ops": {"raw__hotline__tickets": {"config": {"objects": [{"key": o.key, "etag": o.etag} for o in objs]}}}
        },
        instance=instance,
    )
    assert ingested.success
    assert [ingest.read_receipt(k)["status"] for k in keys] == ["accepted", "accepted"]
    transformed = defs.resolve_job_def("transform_and_publish").execute_in_process(instance=instance)
    assert transformed.success
    # The raw-zone registry keeps the key: it is how an id maps back to its file.
    assert {_file_id(k) for k in lake.registry()["source_key"].to_list()} >= {_file_id(k) for k in keys}

    needles = [PHONE, rid, *keys, *(k.rsplit("/", 1)[1] for k in keys)]
    expected = {
        "ZZ12345-20260305-000001": _file_id(phone_key),
        "ZZ12345-20260305-000002": _file_id(phone_key),
        "ZZ12345-20260305-000003": _file_id(id_key),
    }

    # (a) The dbt marts: every mart is a table without source_key; (c) the file's rows carry its id.
    with duckdb.connect(str(work_db), read_only=True) as con:
        tables = {
            t: {
                c
                for (c,) in con.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND schema_name = ?", [t, s]
                ).fetchall()
            }
            for s, t in con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database()"
            ).fetchall()
        }
        missing = [m for m in _mart_names() if m not in tables]
        assert not missing, f"marts not built as tables: {missing}"
        assert not [t for t, cols in tables.items() if "source_key" in cols]
        assert {"source_file_id", "file_sha256"} <= tables["fct_hotline_tickets"]
        rows = dict(con.execute("SELECT ticket_id, source_file_id FROM fct_hotline_tickets").fetchall())
        assert {t: rows.get(t) for t in expected} == expected
        leaked = [
            h
            for s, t in con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database()"
            ).fetchall()
            for h in _hits(con, s, t, needles)
        ]
        assert not leaked, f"key text in mart columns: {leaked}"

    # (a), (b), (c) on every published DuckDB file, main and conditional.
    files = publish.published_files(settings.published_db_path())
    assert len(files) > 1, "the main file and the conditional files"
    seen_hotline = False
    for name, path in files.items():
        with duckdb.connect(str(path), read_only=True) as con:
            tables = con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database()"
            ).fetchall()
            assert tables, name
            key_columns = con.execute(
                "SELECT table_name FROM duckdb_columns() WHERE database_name = "
                "current_database() AND column_name = 'source_key'"
            ).fetchall()
            assert not key_columns, f"{name}: {key_columns}"
            leaked = [h for s, t in tables for h in _hits(con, s, t, needles)]
            assert not leaked, f"{name}: key text in published columns: {leaked}"
            comments = " ".join(
                str(c)
                for (c,) in con.execute(
                    "SELECT comment FROM duckdb_tables() UNION ALL SELECT comment FROM duckdb_columns()"
                ).fetchall()
            )
            assert not [n for n in needles if n in comments], name
            if ("main", "fct_hotline_tickets") in tables:
                seen_hotline = True
                got = dict(con.execute("SELECT ticket_id, source_file_id FROM main.fct_hotline_tickets").fetchall())
                assert {t: got.get(t) for t in expected} == expected, name
    assert seen_hotline, "fct_hotline_tickets is published"

    # The Delta copies in the published bucket: no source_key column, no key text in any value.
    uris = leakscan.delta_tables(settings.published_uri())
    assert any(u.endswith("/fct_hotline_tickets") for u in uris)
    for uri in uris:
        table = DeltaTable(uri, storage_options=s3.delta_storage_options()).to_pyarrow_table()
        assert "source_key" not in table.schema.names, uri
        text = repr(table.to_pylist())
        assert not [n for n in needles if n in text], uri
        if uri.endswith("/fct_hotline_tickets"):
            got = {r["ticket_id"]: r["source_file_id"] for r in table.to_pylist()}
            assert {t: got.get(t) for t in expected} == expected, uri

    # Defence in depth: the PII scanner, with the phone and ID number as known values.
    scan = leakscan.Scan([PHONE, rid])
    leakscan.scan_tree(Path(settings.published_db_path()).parent, scan=scan)
    for uri in uris:
        leakscan.scan_delta(uri, scan=scan)
    assert not scan.findings, "\n".join(f.line() for f in scan.findings)
