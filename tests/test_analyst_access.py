"""Analyst access by sharing class (spec §3), on the real S3 server and real DuckDB files.

A tiny working database and a minimal dbt manifest are published; then each analyst
identity of ``data_contracts/grants.yaml`` is checked against the published bucket:
unconditional data for everyone, a conditional dataset only with its grant, a mart
built from two conditional datasets only with both, and no writes for anybody.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from botocore.exceptions import ClientError
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import DeltaError

from pipelines import publish, s3, settings
from pipelines.tools import s3server
from tests.helpers import query

HOTLINE = "hotline.tickets"
CASES = "govservice.cases"
ENTERPRISES = "market.enterprises"
JOINED = f"{CASES}+{HOTLINE}"

SOURCES = {
    "source.x.raw.hotline__tickets": {"name": "hotline__tickets", "meta": {"sharing": "conditional"}},
    "source.x.raw.govservice__cases": {"name": "govservice__cases", "meta": {"sharing": "conditional"}},
    "source.x.raw.market__enterprises": {"name": "market__enterprises", "meta": {"sharing": "unconditional"}},
    "source.x.lake_meta.meta__files": {"name": "meta__files", "meta": {}},
}


def _col(description: str = "", **meta) -> dict:
    return {"description": description, "meta": {}, "config": {"meta": meta}}


def _model(name: str, deps: list[str], *, folder: str = "marts", description: str = "", meta=None, columns=None):
    return {
        "resource_type": "model",
        "name": name,
        "schema": "main",
        "original_file_path": f"models/{folder}/{name}.sql",
        "description": description,
        "config": {"meta": meta or {}},
        "meta": meta or {},
        "depends_on": {"nodes": deps},
        "columns": columns or {},
    }


def build_inputs(tmp: Path) -> tuple[Path, Path]:
    """A working DuckDB and a manifest: every classification path of publish.mart_models."""
    work = tmp / "work.duckdb"
    con = duckdb.connect(str(work))
    con.execute("""CREATE TABLE stg_t_tickets AS SELECT * FROM (VALUES
        ('T1', '370402', '电话', 'h1'), ('T2', '370481', '微信', 'h2'))
        t(ticket_id, district_code, channel, caller_phone_hash)""")
    con.execute("CREATE TABLE fct_t_tickets AS SELECT * FROM stg_t_tickets")
    con.execute(
        "CREATE TABLE fct_t_cases AS SELECT * FROM (VALUES ('C1', '370402', 80)) t(case_id, district_code, score)"
    )
    con.execute("CREATE TABLE fct_t_joined AS SELECT 'T1' AS ticket_id, 'C1' AS case_id")
    con.execute("""CREATE TABLE dim_t_enterprises AS SELECT * FROM (VALUES
        ('91370400MA0000000X', '枣庄示例有限公司', '张*', 'secret'))
        t(uscc, enterprise_name, legal_rep_name_masked, legal_rep_id)""")
    con.execute("""CREATE TABLE kpi_t_monthly AS SELECT * FROM (VALUES
        (DATE '2026-03-01', '370402', 'hotline_on_time_closure_rate', 0.9))
        t(kpi_month, district_code, kpi_code, kpi_value)""")
    con.execute("CREATE TABLE helper_t AS SELECT 1 AS v")
    con.close()

    nodes = {
        "model.x.stg_t_tickets": _model("stg_t_tickets", ["source.x.raw.hotline__tickets"], folder="staging"),
        # conditional from lineage (no meta), one undocumented column → the contract's business name
        "model.x.fct_t_tickets": _model(
            "fct_t_tickets",
            ["model.x.stg_t_tickets"],
            description="热线工单 (test)",
            columns={
                "ticket_id": _col("工单编号", classification="internal"),
                "channel": _col(),
                "caller_phone_hash": _col("HMAC of the phone", classification="personal"),
            },
        ),
        # conditional from meta with an explicit dataset
        "model.x.fct_t_cases": _model(
            "fct_t_cases",
            [],
            description="办件 (test)",
            meta={"sharing": "conditional", "dataset": CASES},
            columns={"case_id": _col("办件编号")},
        ),
        # lineage with two conditional datasets → needs both grants
        "model.x.fct_t_joined": _model(
            "fct_t_joined",
            ["model.x.fct_t_tickets", "source.x.raw.govservice__cases"],
            description="工单与办件 (test)",
            columns={"ticket_id": _col("工单编号"), "case_id": _col("办件编号")},
        ),
        # unconditional table with a conditional column and a `none` column
        "model.x.dim_t_enterprises": _model(
            "dim_t_enterprises",
            ["source.x.raw.market__enterprises"],
            description="市场主体 (test)",
            meta={"sharing": "unconditional"},
            columns={
                "uscc": _col("统一社会信用代码", classification="public"),
                "enterprise_name": _col("企业名称", classification="public"),
                "legal_rep_name_masked": _col("法定代表人, masked", classification="personal", sharing="conditional"),
                "legal_rep_id": _col("证件号", classification="sensitive", sharing="none"),
            },
        ),
        # KPI aggregate over a conditional dataset → unconditional
        "model.x.kpi_t_monthly": _model(
            "kpi_t_monthly",
            ["model.x.fct_t_tickets", "source.x.lake_meta.meta__files"],
            description="月度KPI (test)",
            columns={"kpi_value": _col("KPI value")},
        ),
        # under marts but not a governed table or mart → not published
        "model.x.helper_t": _model("helper_t", []),
    }
    manifest = tmp / "manifest.json"
    manifest.write_text(json.dumps({"nodes": nodes, "sources": SOURCES}))
    return work, manifest


@pytest.fixture(scope="module")
def published(s3_env, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("analyst_access")
    work, manifest = build_inputs(tmp)
    target = tmp / "published" / "warehouse.duckdb"
    counts = publish.publish(manifest, work, target)
    return {"target": target, "counts": counts, "work": work, "manifest": manifest, "tmp": tmp}


def tables_of(path: Path) -> set[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall()
        return {r[0] for r in rows}
    finally:
        con.close()


def columns_of(path: Path, table: str) -> list[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return [r[0] for r in con.execute(f'DESCRIBE "{table}"').fetchall()]
    finally:
        con.close()


def assert_denied(call, *args, **kwargs) -> None:
    with pytest.raises(ClientError) as exc_info:
        call(*args, **kwargs)
    assert exc_info.value.response["Error"]["Code"] == "AccessDenied"


# The table each conditional prefix really holds (see build_inputs).
CONDITIONAL_TABLES = {
    HOTLINE: "fct_t_tickets",
    CASES: "fct_t_cases",
    JOINED: "fct_t_joined",
    ENTERPRISES: "dim_t_enterprises",
}
# What S3 says, through delta-rs and DuckDB's delta extension alike, when a read or write is refused.
DENIED = r"403 Forbidden[\s\S]*<Code>AccessDenied</Code>"


def granted_identities(key: str) -> list[str]:
    """The analysts granted every dataset of a published key (the pipeline if none is)."""
    needed = set(key.split("+"))
    return [i for i, g in s3server.analyst_grants().items() if needed <= set(g)] or ["pipeline"]


def assert_delta_denied(identity: str, prefix: str, table: str) -> None:
    """``identity`` is refused the table (S3 403 AccessDenied), which a granted identity reads."""
    with pytest.raises((OSError, DeltaError), match=DENIED):
        read_delta(identity, prefix, table)
    key = prefix.removeprefix("conditional/")
    for granted in granted_identities(key):
        assert read_delta(granted, prefix, table).num_rows > 0, (granted, prefix, table)


def delta_uri(prefix: str, table: str) -> str:
    return f"{settings.published_uri()}/{prefix}/{table}"


def read_delta(identity: str, prefix: str, table: str) -> pa.Table:
    return DeltaTable(delta_uri(prefix, table), storage_options=s3.delta_storage_options(identity)).to_pyarrow_table()


# --------------------------------------------------------------------------- layout


def test_classification_of_marts(published):
    marts = {m["name"]: m for m in publish.mart_models(published["manifest"])}
    assert "helper_t" not in marts and "stg_t_tickets" not in marts
    assert (marts["fct_t_tickets"]["sharing"], marts["fct_t_tickets"]["datasets"], marts["fct_t_tickets"]["basis"]) == (
        "conditional",
        [HOTLINE],
        "lineage",
    )
    assert (marts["fct_t_cases"]["datasets"], marts["fct_t_cases"]["basis"]) == ([CASES], "meta")
    assert marts["fct_t_joined"]["datasets"] == [CASES, HOTLINE]
    assert (marts["kpi_t_monthly"]["sharing"], marts["kpi_t_monthly"]["basis"]) == ("unconditional", "aggregate")
    assert marts["dim_t_enterprises"]["column_meta"]["legal_rep_name_masked"]["datasets"] == [ENTERPRISES]


def test_published_files_split_by_sharing_class(published):
    target = published["target"]
    files = publish.published_files(target)
    assert set(files) == {"unconditional", HOTLINE, CASES, JOINED, ENTERPRISES}
    assert files[HOTLINE] == target.parent / "conditional" / f"{HOTLINE}.duckdb"
    assert tables_of(files["unconditional"]) == {"dim_t_enterprises", "kpi_t_monthly"}
    assert tables_of(files[HOTLINE]) == {"fct_t_tickets"}
    assert tables_of(files[CASES]) == {"fct_t_cases"}
    for path in files.values():  # each file says what it holds and when each table last changed
        with duckdb.connect(str(path), read_only=True) as con:
            state = con.execute("SELECT table_name, row_count FROM _meta.published_tables").fetchall()
            assert {t for t, _ in state} == tables_of(path)
            for table, rows in state:
                assert rows == con.execute(f'SELECT count(*) FROM main."{table}"').fetchone()[0]
    assert tables_of(files[JOINED]) == {"fct_t_joined"}
    assert tables_of(files[ENTERPRISES]) == {"dim_t_enterprises"}
    # no temporary files left beside them
    assert not [p for p in target.parent.rglob("*.tmp")]


def test_unconditional_file_holds_no_conditional_table_or_column(published):
    main = published["target"]
    marts = publish.mart_models(published["manifest"])
    conditional_tables = {m["name"] for m in marts if m["sharing"] != "unconditional"}
    assert not tables_of(main) & conditional_tables
    assert columns_of(main, "dim_t_enterprises") == ["uscc", "enterprise_name"]
    # the conditional column is in the granted dataset's file; the `none` column nowhere
    full = publish.published_files(main)[ENTERPRISES]
    assert columns_of(full, "dim_t_enterprises") == ["uscc", "enterprise_name", "legal_rep_name_masked"]
    for path in publish.published_files(main).values():
        for table in tables_of(path):
            assert "legal_rep_id" not in columns_of(path, table)


def test_table_and_column_comments(published):
    for key, path in publish.published_files(published["target"]).items():
        con = duckdb.connect(str(path), read_only=True)
        try:
            marts = con.execute("SELECT table_name, comment FROM duckdb_tables() WHERE schema_name = 'main'")
            for table, comment in marts.fetchall():
                assert comment and "sharing:" in comment, (key, table)
                assert ("conditional (有条件共享)" in comment) == (key != "unconditional")
            cols = dict(
                ((t, c), (cm or ""))
                for t, c, cm in con.execute("SELECT table_name, column_name, comment FROM duckdb_columns()").fetchall()
            )
        finally:
            con.close()
        if key == HOTLINE:
            assert cols[("fct_t_tickets", "ticket_id")] == "工单编号 [classification: internal]"
            assert cols[("fct_t_tickets", "channel")].startswith("来源渠道")  # from the contract
            assert "classification: personal" in cols[("fct_t_tickets", "caller_phone_hash")]
        if key == "unconditional":
            assert cols[("dim_t_enterprises", "uscc")].startswith("统一社会信用代码")
            assert cols[("kpi_t_monthly", "kpi_value")] == "KPI value"


def test_atomic_swap_replaces_every_file(published, tmp_path):
    """A second publish swaps each file (new inode) and leaves readers a complete file."""
    before = {k: p.stat().st_ino for k, p in publish.published_files(published["target"]).items()}
    reader = duckdb.connect(str(publish.published_files(published["target"])[HOTLINE]), read_only=True)
    try:
        publish.publish(published["manifest"], published["work"], published["target"])
        # the reader opened before the swap still sees its (old, complete) file
        assert reader.execute("SELECT count(*) FROM fct_t_tickets").fetchone() == (2,)
    finally:
        reader.close()
    after = {k: p.stat().st_ino for k, p in publish.published_files(published["target"]).items()}
    assert set(after) == set(before) and all(after[k] != before[k] for k in before)


# --------------------------------------------------------------------------- S3


def test_delta_layout_on_s3(published):
    pipeline = s3.client("pipeline")
    keys = {
        o["Key"].split("/_delta_log/")[0]
        for page in pipeline.get_paginator("list_objects_v2").paginate(Bucket=settings.buckets().published)
        for o in page.get("Contents", [])
        if "/_delta_log/" in o["Key"]
    }
    assert {
        "unconditional/dim_t_enterprises",
        "unconditional/kpi_t_monthly",
        f"conditional/{HOTLINE}/fct_t_tickets",
        f"conditional/{CASES}/fct_t_cases",
        f"conditional/{JOINED}/fct_t_joined",
        f"conditional/{ENTERPRISES}/dim_t_enterprises",
    } <= keys
    assert not {k for k in keys if k.startswith("unconditional/fct_t_")}


def test_ungranted_analyst_reads_unconditional_only(published):
    assert s3server.analyst_grants()["analyst"] == ()
    table = read_delta("analyst", "unconditional", "kpi_t_monthly")
    assert table.num_rows == 1
    assert read_delta("analyst", "unconditional", "dim_t_enterprises").column_names == ["uscc", "enterprise_name"]
    # real DuckDB over S3 as the analyst, too
    con = duckdb.connect()
    try:
        s3.configure_duckdb(con, "analyst")
        n = con.execute(f"SELECT count(*) FROM delta_scan('{delta_uri('unconditional', 'kpi_t_monthly')}')").fetchone()
        assert n == (1,)
        with pytest.raises(duckdb.IOException, match=DENIED):
            uri = delta_uri(f"conditional/{HOTLINE}", "fct_t_tickets")
            con.execute(f"SELECT * FROM delta_scan('{uri}')").fetchall()
    finally:
        con.close()
    analyst = s3.client("analyst")
    bucket = settings.buckets().published
    listed = analyst.list_objects_v2(Bucket=bucket, Prefix="unconditional/kpi_t_monthly/")
    assert listed["KeyCount"] > 0
    for prefix in (HOTLINE, CASES, JOINED, ENTERPRISES):
        assert_denied(analyst.list_objects_v2, Bucket=bucket, Prefix=f"conditional/{prefix}/")
        log = f"conditional/{prefix}/"
        key = next(o["Key"] for o in s3.client("pipeline").list_objects_v2(Bucket=bucket, Prefix=log)["Contents"])
        assert_denied(analyst.get_object, Bucket=bucket, Key=key)
        assert_delta_denied("analyst", f"conditional/{prefix}", CONDITIONAL_TABLES[prefix])
    assert_denied(analyst.list_objects_v2, Bucket=bucket)
    assert_denied(analyst.list_objects_v2, Bucket=bucket, Prefix="conditional/")


def test_granted_analyst_reads_its_dataset_only(published):
    assert s3server.analyst_grants()["analyst_hotline"] == (HOTLINE,)
    assert read_delta("analyst_hotline", f"conditional/{HOTLINE}", "fct_t_tickets").num_rows == 2
    assert read_delta("analyst_hotline", "unconditional", "kpi_t_monthly").num_rows == 1
    client = s3.client("analyst_hotline")
    bucket = settings.buckets().published
    for prefix in (CASES, JOINED, ENTERPRISES):
        assert_denied(client.list_objects_v2, Bucket=bucket, Prefix=f"conditional/{prefix}/")
    # a look-alike prefix of the granted one is not granted
    s3.client("pipeline").put_object(Bucket=bucket, Key=f"conditional/{HOTLINE}x/probe", Body=b"x")
    assert_denied(client.get_object, Bucket=bucket, Key=f"conditional/{HOTLINE}x/probe")


def test_mart_of_two_conditional_datasets_needs_both_grants(published):
    assert set(s3server.analyst_grants()["analyst_service"]) == {HOTLINE, CASES}
    assert read_delta("analyst_service", f"conditional/{JOINED}", "fct_t_joined").num_rows == 1
    assert read_delta("analyst_service", f"conditional/{CASES}", "fct_t_cases").num_rows == 1
    assert_delta_denied("analyst_hotline", f"conditional/{JOINED}", "fct_t_joined")
    assert_denied(
        s3.client("analyst_service").list_objects_v2,
        Bucket=settings.buckets().published,
        Prefix=f"conditional/{ENTERPRISES}/",
    )


def test_no_analyst_can_write(published):
    bucket = settings.buckets().published
    existing = s3.client("pipeline").list_objects_v2(Bucket=bucket, Prefix="unconditional/kpi_t_monthly/")
    some_key = existing["Contents"][0]["Key"]
    for identity, grants in s3server.analyst_grants().items():
        client = s3.client(identity)
        prefixes = ["unconditional", *(f"conditional/{g}" for g in grants), ""]
        for prefix in prefixes:
            assert_denied(client.put_object, Bucket=bucket, Key=f"{prefix}/probe".lstrip("/"), Body=b"x")
        assert_denied(client.delete_object, Bucket=bucket, Key=some_key)
        for other in ("landing", "receipts", "lake"):
            assert_denied(client.put_object, Bucket=other, Key="probe", Body=b"x")
        with pytest.raises(DeltaError, match=DENIED):
            write_deltalake(
                delta_uri("unconditional", "kpi_t_monthly"),
                pa.table({"x": [1]}),
                mode="overwrite",
                schema_mode="overwrite",
                storage_options=s3.delta_storage_options(identity),
            )
    assert read_delta("analyst", "unconditional", "kpi_t_monthly").num_rows == 1


def test_identities_credentials_and_actions(published):
    text = settings.env_file().read_text()
    for identity in s3server.analyst_grants():
        prefix = f"SHUZHONG_{identity.upper()}"
        assert f"{prefix}_ACCESS_KEY=" in text and f"{prefix}_SECRET_KEY=" in text
        assert settings.credentials(identity).access_key
        actions = next(i["actions"] for i in s3server.identities_config()["identities"] if i["name"] == identity)
        assert all(a.split(":", 1)[0] in ("Read", "List") for a in actions)
        assert "Read:published/unconditional/*" in actions
        assert all(
            a.split(":", 1)[1].startswith(("published/unconditional/", "published/conditional/")) for a in actions
        )
    # grants.yaml holds no secrets
    grants_text = s3server.grants_path().read_text()
    assert not re.search(r"(?i)secret_?key\s*[:=]|access_?key\s*[:=]|SZ[A-Z0-9]{18}", grants_text)


def test_added_identity_gets_keys_without_rotating_others(tmp_path, monkeypatch):
    env = tmp_path / "shuzhong.env"
    env.write_text("SHUZHONG_PIPELINE_ACCESS_KEY=keep\nSHUZHONG_PIPELINE_SECRET_KEY=keep\n")
    env.chmod(0o600)
    for ident in s3server.identities():
        prefix = s3server._env_prefix(ident)
        monkeypatch.delenv(f"{prefix}_ACCESS_KEY", raising=False)
    assert s3server.init_local_env(env) is True
    text = env.read_text()
    assert text.startswith("SHUZHONG_PIPELINE_ACCESS_KEY=keep\n") and text.count("SHUZHONG_PIPELINE_ACCESS_KEY") == 1
    assert "SHUZHONG_ANALYST_HOTLINE_SECRET_KEY=" in text
    assert env.stat().st_mode & 0o777 == 0o600
    assert s3server.init_local_env(env) is False


def test_stale_tables_are_removed_on_republish(published, tmp_path):
    """A mart dropped (or reclassified) since the last publish stays readable nowhere."""
    manifest = json.loads(published["manifest"].read_text())
    del manifest["nodes"]["model.x.fct_t_cases"]
    smaller = tmp_path / "manifest.json"
    smaller.write_text(json.dumps(manifest))
    try:
        publish.publish(smaller, published["work"], published["target"])
        assert CASES not in publish.published_files(published["target"])
        listed = s3.client("pipeline").list_objects_v2(
            Bucket=settings.buckets().published, Prefix=f"conditional/{CASES}/"
        )
        assert listed["KeyCount"] == 0
    finally:
        publish.publish(published["manifest"], published["work"], published["target"])


def test_republish_rewrites_only_changed_tables(published):
    """Publishing again rewrites only what changed: in the files and in the Delta copies."""

    def delta_versions() -> dict[str, int]:
        return {
            t: DeltaTable(delta_uri(p, t), storage_options=s3.delta_storage_options()).version()
            for p, t in (
                ("unconditional", "kpi_t_monthly"),
                ("unconditional", "dim_t_enterprises"),
                (f"conditional/{HOTLINE}", "fct_t_tickets"),
            )
        }

    work, target = published["work"], published["target"]
    again = publish.publish(published["manifest"], work, target)
    assert again.changed == [] and dict(again) == dict(published["counts"])
    before = delta_versions()
    with duckdb.connect(str(work)) as con:
        con.execute(
            "INSERT INTO kpi_t_monthly VALUES (DATE '2026-04-01', '370402', 'hotline_on_time_closure_rate', 0.8)"
        )
    try:
        changed = publish.publish(published["manifest"], work, target)
        assert changed.changed == ["kpi_t_monthly"]
        assert changed["kpi_t_monthly"] == published["counts"]["kpi_t_monthly"] + 1
        after = delta_versions()
        assert after["kpi_t_monthly"] == before["kpi_t_monthly"] + 1
        assert {t: v for t, v in after.items() if t != "kpi_t_monthly"} == {
            t: v for t, v in before.items() if t != "kpi_t_monthly"
        }
        assert read_delta("analyst", "unconditional", "kpi_t_monthly").num_rows == changed["kpi_t_monthly"]
        assert query(target, "SELECT count(*) FROM kpi_t_monthly")[0][0] == changed["kpi_t_monthly"]
    finally:
        with duckdb.connect(str(work)) as con:
            con.execute("DELETE FROM kpi_t_monthly WHERE kpi_month = DATE '2026-04-01'")
        publish.publish(published["manifest"], work, target)


def test_republish_rewrites_only_the_changed_files_rows(s3_env, tmp_path, monkeypatch, unique):
    """A fact with ``source_file_id``: a republish rewrites the rows of the files that changed (in the
    file and with one predicate overwrite in Delta), and both copies equal the working table."""
    monkeypatch.setenv("SHUZHONG_PUBLISHED_URI", f"s3://{settings.buckets().published}/t-{unique}")
    work, target = tmp_path / "work.duckdb", tmp_path / "published" / "warehouse.duckdb"
    with duckdb.connect(str(work)) as con:
        con.execute(
            "CREATE TABLE fct_t_flow AS SELECT 'k' || (i % 400) AS checkpoint_id, i AS n, "
            "CASE WHEN i % 20 = 19 THEN NULL ELSE 'f' || (i % 20) END AS source_file_id FROM range(4000) t(i)"
        )
    manifest = tmp_path / "manifest.json"
    node = _model(
        "fct_t_flow",
        [],
        description="流量 (test)",
        meta={"sharing": "unconditional"},
        columns={"checkpoint_id": _col("卡口"), "n": _col("n"), "source_file_id": _col("file")},
    )
    manifest.write_text(json.dumps({"nodes": {"model.x.fct_t_flow": node}, "sources": SOURCES}))
    publish.publish(manifest, work, target)
    uri = f"{settings.published_uri()}/unconditional/fct_t_flow"
    version = DeltaTable(uri, storage_options=s3.delta_storage_options()).version()

    with duckdb.connect(str(work)) as con:  # one file corrected, one withdrawn, rows without a file changed
        con.execute("UPDATE fct_t_flow SET n = n + 1 WHERE source_file_id = 'f3'")
        con.execute("DELETE FROM fct_t_flow WHERE source_file_id = 'f5'")
        con.execute("UPDATE fct_t_flow SET n = -n WHERE source_file_id IS NULL")
        expected = sorted(con.execute("SELECT * FROM fct_t_flow").fetchall(), key=str)
    result = publish.publish(manifest, work, target)
    assert result.changed == ["fct_t_flow"] and result["fct_t_flow"] == len(expected) == 3800
    assert sorted(query(target, "SELECT * FROM fct_t_flow"), key=str) == expected
    table = DeltaTable(uri, storage_options=s3.delta_storage_options())
    assert table.version() == version + 1
    last = table.history(1)[0]
    assert last["operation"] == "WRITE" and "predicate" in last["operationParameters"]
    assert "f3" in last["operationParameters"]["predicate"] and "'f1'" not in last["operationParameters"]["predicate"]
    rows = table.to_pyarrow_table().to_pylist()
    assert sorted(((r["checkpoint_id"], r["n"], r["source_file_id"]) for r in rows), key=str) == expected
