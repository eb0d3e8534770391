"""The PII leak scanner: its detectors, and the real pipeline checked with it end to end.

The end-to-end test plants resident IDs and phone numbers (in several spellings) into
hotline tickets, runs ingestion and ``transform_and_publish`` through Dagster, proves the
scanner finds the planted values in the raw zone, then finds none of them (and no other
identifier) in the published DuckDB and Delta tables, this run's dbt target directory,
the receipts and the Dagster event log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import uuid
from argparse import ArgumentParser
from pathlib import Path

import pytest
from dagster import DagsterInstance

from pipelines import ingest, lake, pii, settings
from pipelines.contracts import all_contracts
from pipelines.ingest.keys import source_file_id
from pipelines.tools import leakscan
from pipelines.tools.leakscan import Scan, mask, scan_text
from tests.helpers import csv_bytes, submit, ticket

CONTRACT = all_contracts()["hotline.tickets"]


def _resident_id(prefix: str = "370402", birth: str = "19900307", want: str | None = None, start: int = 0) -> str:
    for seq in range(start, start + 1000):
        first17 = f"{prefix}{birth}{seq % 1000:03d}"
        check = pii.resident_id_check_char(first17)
        if want is None or check == want:
            return first17 + check
    raise AssertionError("no such ID")


def _kinds(findings) -> list[str]:
    return sorted(f.kind for f in findings)


# --- detectors ---------------------------------------------------------------------------


ID_LOWER_X = _resident_id(want="X").lower()


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (ID_LOWER_X, "resident_id"),
        (ID_LOWER_X.upper(), "resident_id"),
        ("+86 138-0000-1234", "mobile"),
        ("１３８００００１２３４", "mobile"),
        ("＋８６　１３８－００００－１２３４", "mobile"),
        ("0086 13800001234", "mobile"),
        ("138 0000 1234", "mobile"),
        ("0632-1234567", "landline"),
        ("(0632) 1234567", "landline"),
        ("０６３２－１２３４５６７", "landline"),
        ("+86 632 1234567", "landline"),
        (f"市民反映：本人身份证号{_resident_id()}，楼上装修噪音扰民", "resident_id"),
        ("请回电13912345678谢谢", "mobile"),
        (
            '{"content": "\\u8bf7\\u56de\\u7535\\uff11\\uff13\\uff19\\uff11\\uff12\\uff13'
            '\\uff14\\uff15\\uff16\\uff17\\uff18"}',
            "mobile",
        ),
        ("Tel:13912345678.", "mobile"),
        ("13800001234.0", "mobile"),  # a phone read as a float from a spreadsheet
    ],
)
def test_detectors_find_identifiers_in_any_spelling(text, kind):
    findings = scan_text(text)
    assert kind in _kinds(findings), text
    for f in findings:  # samples are masked: three leading and two trailing characters at most
        assert len(f.sample.replace("*", "")) <= 5 and f.sample.count("*") >= 6


def test_samples_and_locations_never_hold_the_clear_value():
    phone = "13912345678"
    (f,) = scan_text(f"电话{phone}", location=f"s3://receipts/hotline/{phone}.json")
    assert f.sample == mask(phone) == "139******78"
    assert phone not in f.line() and phone not in json.dumps(f.__dict__)


@pytest.mark.parametrize(
    "text",
    [
        hmac.new(b"k", b"13800001234", hashlib.sha256).hexdigest(),
        "caller_phone_hash=0a13800001234b5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a",
        str(uuid.UUID("13800001-2345-4678-9abc-063212345678")),
        "370402001001001",  # grid code
        "网格 370402001001001 事件",
        "ZZ12345-20260305-000001",
        "ZZ12345-20260305-013800",
        "2026-03-05T13:59:59.123456+08:00",
        "1995-10-10 12:00:00",
        "20260305135959",
        "00000000000000000012.json",
        "_delta_log/00000000000000000138.json",
        '{"execution_time": 0.13800001234, "ts": 1741234567.123}',
        "dbt_models-0241781-a573f99",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",  # base64 alphabet in minified JS
        "370402199003071230",  # ID-shaped, wrong check character
        "370402199013071234",  # ID-shaped, no such birth date
        "12345 热线 2026 年 3 月",
    ],
)
def test_detectors_ignore_hashes_codes_ids_and_timestamps(text):
    assert scan_text(text) == [], text


def test_known_values_are_found_in_every_spelling():
    planted = ["+86 139-1111-2222", "0632-7654321", ID_LOWER_X]
    for text, index in [
        ("１３９ １１１１ ２２２２", 0),
        ("a13911112222b", 0),  # even glued to letters, which the detectors forgive
        ("call 0632 7654321", 1),
        ("+86 632-7654321", 1),
        (ID_LOWER_X.upper(), 2),
        ("\\uff10\\uff16\\uff13\\uff12\\uff17\\uff16\\uff15\\uff14\\uff13\\uff12\\uff11", 1),
    ]:
        scan = Scan(planted, detectors=False)
        scan.text(text, "t")
        assert [f.detail for f in scan.findings] == [f"planted[{index}]"], text
    scan = Scan(planted, detectors=False)
    scan.text("13911112223 0632765432 ZZ12345-20260305-000001", "t")
    assert scan.findings == []


def test_duckdb_scan_covers_every_table_column_and_view(tmp_path):
    import duckdb

    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA marts")
    con.execute("CREATE TABLE marts.t (id INTEGER, note VARCHAR, tags VARCHAR[], n BIGINT)")
    con.execute("INSERT INTO marts.t VALUES (1, '正常', ['a'], 1), (2, '电话 0632-1234567', ['b'], 13912345678)")
    con.execute("CREATE VIEW v AS SELECT * FROM marts.t WHERE note <> '13700001111'")
    con.execute(f"COMMENT ON COLUMN marts.t.note IS '例如 {ID_LOWER_X}'")
    con.close()
    findings = leakscan.scan_duckdb(path)
    where = {(f.kind, f.location.split(" ", 1)[1]) for f in findings}
    assert ("landline", "marts.t column note row 2") in where
    assert ("mobile", "marts.t column n row 2") in where
    assert ("mobile", "view main.v (definition)") in where
    assert ("resident_id", "marts.t.note (comment)") in where


def test_local_delta_scan_reads_the_log_stats_and_removed_files(tmp_path):
    import pyarrow as pa
    from deltalake import write_deltalake

    uri = str(tmp_path / "tbl")
    write_deltalake(uri, pa.table({"phone": ["13912345678"]}))
    write_deltalake(uri, pa.table({"phone": ["ok"]}), mode="overwrite")
    findings = leakscan.scan_delta(uri)
    # Not in the current snapshot, but in the removed data file and the first commit's min/max stats.
    assert findings and all(f.kind == "mobile" for f in findings)
    assert any("_delta_log/00000000000000000000.json" in f.location for f in findings)
    assert any(f.location.endswith(".parquet column phone row 1") for f in findings)
    assert not any(f.location.startswith("delta:") for f in findings)


def test_cli_exit_codes(tmp_path, capsys):
    (tmp_path / "clean.txt").write_text("ZZ12345-20260305-000001 370402001001001")
    (tmp_path / "dirty").mkdir()
    (tmp_path / "dirty" / "log.txt").write_text("回电 +86 138-0000-1234")
    parser = ArgumentParser()
    leakscan.add_arguments(parser)
    run = lambda *a: leakscan.cmd_leak_scan(parser.parse_args(list(a)))  # noqa: E731
    assert run("--tree", str(tmp_path / "clean.txt")) == 0
    assert run("--tree", str(tmp_path / "dirty")) == 1
    assert run("--tree", str(tmp_path / "dirty"), "--expect-found") == 0
    assert run("--tree", str(tmp_path / "clean.txt"), "--expect-found") == 1
    out = capsys.readouterr().out
    assert "138******34" in out and "13800001234" not in out


# --- end to end on the real stack -----------------------------------------------------------


def _planted(unique: str) -> dict[str, str]:
    n = int(unique, 16)
    mobile = f"13{7 + n % 3}{n % 10**8:08d}"
    mobile2 = f"15{n // 7 % 10}{n // 11 % 10**8:08d}"
    mobile3 = f"18{n // 13 % 10}{n // 17 % 10**8:08d}"
    mobile4 = f"17{n // 19 % 10}{n // 23 % 10**8:08d}"
    landline = f"0632{n // 29 % 10**7:07d}".replace("06320", "06322", 1)
    rid = _resident_id(birth="19850612", want="X", start=n % 1000)
    rid2 = _resident_id(prefix="370481", birth="19720229", start=n // 3 % 1000)
    fw = str.maketrans("0123456789", "０１２３４５６７８９")
    return {
        # caller phone field, several spellings
        "phone_plus86": f"+86 {mobile[:3]}-{mobile[3:7]}-{mobile[7:]}",
        "phone_fullwidth": mobile2.translate(fw),
        "phone_landline": f"{landline[:4]}-{landline[4:]}",
        "phone_spaced": f"{mobile3[:3]} {mobile3[3:7]} {mobile3[7:]}",
        # inside 诉求内容
        "content_id": rid.lower(),
        "content_id2": rid2,
        "content_phone": f"＋８６ {mobile4}".translate(fw),
    }


def test_planted_identifiers_stay_in_the_raw_zone(lake_root, unique, tmp_path, monkeypatch):
    from pipelines.definitions import defs

    monkeypatch.setenv("SHUZHONG_WORK_DB", str(tmp_path / "work.duckdb"))
    monkeypatch.setenv("SHUZHONG_PUBLISHED_DB", str(tmp_path / "published" / "warehouse.duckdb"))
    monkeypatch.setenv("SHUZHONG_PUBLISHED_URI", f"s3://{settings.buckets().published}/t-{unique}")
    planted = _planted(unique)
    values = list(planted.values())
    rows = [
        ticket(1, 联系电话=planted["phone_plus86"], 诉求内容=f"小区噪音，联系人身份证{planted['content_id']}，请核实"),
        ticket(2, 联系电话=planted["phone_fullwidth"], 诉求内容=f"本人({planted['content_id2']})反映路灯不亮"),
        ticket(3, 联系电话=planted["phone_landline"], 诉求内容=f"请回电{planted['content_phone']}，谢谢"),
        ticket(4, 联系电话=planted["phone_spaced"], 诉求内容="夜间施工噪音扰民"),
        ticket(5, 联系电话="1390000", 诉求内容=f"号码有误 {planted['phone_plus86']}"),  # quarantined row
    ]
    objs = [
        submit(f"hotline/tickets/2026-03-05/{unique}-a.csv", csv_bytes(rows[:3], "gbk")),
        submit(f"hotline/tickets/2026-03-06/{unique}-b.csv", csv_bytes(rows[3:], "utf-8-sig")),
    ]
    instance = DagsterInstance.ephemeral()
    ingested = defs.resolve_job_def("ingest_hotline__tickets").execute_in_process(
        run_config={
            "ops": {"raw__hotline__tickets": {"config": {"objects": [{"key": o.key, "etag": o.etag} for o in objs]}}}
        },
        instance=instance,
    )
    assert ingested.success
    receipts = [ingest.read_receipt(o.key) for o in objs]
    assert [r["status"] for r in receipts] == ["accepted", "accepted"]
    assert receipts[1]["rows_quarantined"] == 1
    transformed = defs.resolve_job_def("transform_and_publish").execute_in_process(instance=instance)
    assert transformed.success

    # 1. Proof: the scanner finds every planted value in the raw zone, by detector and by known value.
    raw = Scan(values)
    leakscan.scan_delta(lake.raw_uri(CONTRACT), scan=raw)
    leakscan.scan_delta(lake.quarantine_uri(CONTRACT), scan=raw)
    found = {f.detail for f in raw.findings if f.kind.startswith("planted:")}
    assert found == {f"planted[{i}]" for i in range(len(values))}, found
    detected = {f.sample for f in raw.findings if not f.kind.startswith("planted:")}
    assert {p.sample for p in leakscan.planted_needles(values)} <= detected
    assert {"resident_id", "mobile", "landline"} <= {f.kind for f in raw.findings}

    # 2. None of them — nor any other identifier — past the raw zone.
    scan = Scan(values)
    # Every published DuckDB file (the main one, and per-dataset files where the layout has them).
    leakscan.scan_tree(settings.published_db_path().parent, scan=scan)
    assert any(s.endswith(".fct_hotline_tickets") for s in scan.scanned), "the hotline mart was scanned"
    assert _published_contents([o.key for o in objs]) == {  # the planted rows did reach the mart, scrubbed
        "小区噪音，联系人身份证[身份证号]，请核实",
        "本人([身份证号])反映路灯不亮",
        "请回电[电话]，谢谢",
        "夜间施工噪音扰民",
    }
    published = leakscan.delta_tables(settings.published_uri())
    assert any(u.endswith("/fct_hotline_tickets") for u in published)
    for uri in published:
        leakscan.scan_delta(uri, scan=scan)
    leakscan.scan_s3_prefix(f"s3://{settings.buckets().receipts}/hotline/tickets/2026-03-05/{unique}", scan=scan)
    leakscan.scan_s3_prefix(f"s3://{settings.buckets().receipts}/hotline/tickets/2026-03-06/{unique}", scan=scan)
    assert len([s for s in scan.scanned if "receipt" in s]) == 4
    leakscan.scan_dagster(instance, run_ids=[ingested.run_id, transformed.run_id], scan=scan)
    assert len(instance.all_logs(transformed.run_id)) > 50  # dbt events, check results, publish logs
    run_targets = sorted(settings.DBT_PROJECT_DIR.joinpath("target").glob(f"*-{transformed.run_id[:7]}-*"))
    assert run_targets, "dbt target directory of the run"
    for d in run_targets:
        leakscan.scan_tree(d, scan=scan)
    assert not scan.findings, "\n".join(f.line() for f in scan.findings)

    # Known-value sweep of the shared dbt files (their other runs are not this test's to judge).
    shared = Scan(values, detectors=False)
    for p in ("target/manifest.json", "target/run_results.json", "logs/dbt.log"):
        if (settings.DBT_PROJECT_DIR / p).exists():
            leakscan.scan_tree(settings.DBT_PROJECT_DIR / p, scan=shared)
    assert not shared.findings, "\n".join(f.line() for f in shared.findings)


def _published_contents(keys: list[str]) -> set[str]:
    import duckdb

    ids = [source_file_id(k) for k in keys]

    contents = set()
    for path in settings.published_db_path().parent.rglob("*.duckdb"):
        con = duckdb.connect(str(path), read_only=True)
        try:
            has = "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'fct_hotline_tickets'"
            if con.execute(has).fetchone()[0]:
                rows = con.execute(
                    "SELECT content_scrubbed FROM fct_hotline_tickets WHERE source_file_id IN (?, ?)", ids
                ).fetchall()
                contents |= {r[0] for r in rows}
        finally:
            con.close()
    return contents


@pytest.mark.dbt
def test_dbt_docs_site_holds_no_identifiers(tmp_path, monkeypatch):
    """The docs site (``make docs``: dbt docs generate --empty-catalog) scanned file by file."""
    from pipelines.defs.transform.dbt_assets import dbt_executable

    monkeypatch.setenv("SHUZHONG_WORK_DB", str(tmp_path / "work.duckdb"))
    monkeypatch.delenv("SHUZHONG_S3_ENDPOINT", raising=False)
    monkeypatch.setenv("SHUZHONG_PII_KEY", "docs-test-key")
    monkeypatch.setenv("SHUZHONG_LAKE_URI", str(tmp_path / "lake"))
    site = tmp_path / "site"
    subprocess.run(
        [
            dbt_executable(),
            "docs",
            "generate",
            "--empty-catalog",
            "--quiet",
            "--project-dir",
            str(settings.DBT_PROJECT_DIR),
            "--profiles-dir",
            str(settings.DBT_PROJECT_DIR),
            "--target-path",
            str(site),
        ],
        check=True,
        cwd=settings.DBT_PROJECT_DIR,
        env={**os.environ, "DBT_LOG_PATH": str(tmp_path)},
    )
    assert (site / "index.html").exists()
    findings = leakscan.scan_tree(site)
    assert not findings, "\n".join(f.line() for f in findings)


# --- the command line: `shuzhong leak-scan --defaults` -------------------------------------


def _planted_mobile() -> str:
    """A mobile number made up at test time (never a literal in the repository)."""
    return "139" + f"{uuid.uuid4().int % 10**8:08d}"


def _cli_env(tmp_path, unique: str) -> dict[str, str]:
    """Environment of a `--defaults` scan of this test's own published files, Delta root, dbt
    directories and Dagster home (the session's S3 server and receipts bucket)."""
    import shutil

    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copyfile(settings.REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    for d in ("dbt_target", "dbt_logs"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "run_results.json").write_text('{"results": []}')
    return {
        **os.environ,
        "PYTHONPATH": str(settings.REPO_ROOT),
        "SHUZHONG_PUBLISHED_DB": str(tmp_path / "published" / "warehouse.duckdb"),
        "SHUZHONG_PUBLISHED_URI": f"s3://{settings.buckets().published}/t-{unique}",
        "DBT_TARGET_PATH": str(tmp_path / "dbt_target"),
        "DBT_LOG_PATH": str(tmp_path / "dbt_logs"),
        "DAGSTER_HOME": str(home),
    }


def _publish_with_planted(tmp_path, env: dict[str, str], phone: str, resident_id: str) -> str:
    """A clean main file, a conditional file holding ``phone``, and a published Delta table holding
    ``resident_id``; returns that table's URI."""
    import duckdb
    import pyarrow as pa
    from deltalake import write_deltalake

    from pipelines import publish, s3

    main = Path(env["SHUZHONG_PUBLISHED_DB"])
    main.parent.mkdir(parents=True)
    with duckdb.connect(str(main)) as con:
        con.execute("CREATE TABLE kpi_t AS SELECT 'ok' AS v")
    conditional = publish.conditional_db_path("hotline.tickets", main)
    conditional.parent.mkdir()
    with duckdb.connect(str(conditional)) as con:
        con.execute("CREATE TABLE fct_t_tickets AS SELECT 'T1' AS ticket_id, ? AS note", [f"回电 {phone}"])
    uri = f"{env['SHUZHONG_PUBLISHED_URI']}/unconditional/dim_t_people"
    write_deltalake(
        uri, pa.table({"k": ["a"], "note": [f"证件 {resident_id}"]}), storage_options=s3.delta_storage_options()
    )
    return uri


def _leak_scan_cli(env: dict[str, str]) -> subprocess.CompletedProcess:
    shuzhong = str(Path(sys.executable).parent / "shuzhong")
    return subprocess.run(
        [shuzhong, "leak-scan", "--defaults", "--json"],
        env=env,
        cwd=settings.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_cli_defaults_scan_conditional_files_and_published_delta(s3_env, tmp_path, unique):
    phone, resident_id = _planted_mobile(), _resident_id(birth="19850611", start=uuid.uuid4().int % 900)
    env = _cli_env(tmp_path, unique)
    delta_uri = _publish_with_planted(tmp_path, env, phone, resident_id)
    proc = _leak_scan_cli(env)
    assert proc.returncode == 1, proc.stderr
    findings = [json.loads(line) for line in proc.stdout.splitlines()]
    where = {(f["kind"], f["sample"]): f["location"] for f in findings}
    assert "conditional/hotline.tickets.duckdb" in where.get(("mobile", mask(phone)), ""), proc.stdout
    assert delta_uri in where.get(("resident_id", mask(resident_id)), ""), proc.stdout
    assert phone not in proc.stdout + proc.stderr and resident_id not in proc.stdout + proc.stderr
    assert "scanned dagster event log" in proc.stderr


def test_cli_defaults_fail_loudly_without_dagster_home(s3_env, tmp_path, unique):
    env = _cli_env(tmp_path, unique)
    _publish_with_planted(tmp_path, env, _planted_mobile(), _resident_id(start=uuid.uuid4().int % 900))
    del env["DAGSTER_HOME"]
    proc = _leak_scan_cli(env)
    assert proc.returncode == 2, proc.stderr
    assert "CANNOT SCAN dagster event log" in proc.stderr and "DAGSTER_HOME is not set" in proc.stderr
    assert "could not be scanned" in proc.stderr.splitlines()[-1]


def test_cli_defaults_fail_loudly_without_the_published_files(s3_env, tmp_path, unique):
    env = _cli_env(tmp_path, unique)  # nothing published: no DuckDB file, no Delta table
    proc = _leak_scan_cli(env)
    assert proc.returncode == 2, proc.stderr
    assert "published warehouse" in proc.stderr and "does not exist" in proc.stderr
    assert f"no Delta table under the published root {env['SHUZHONG_PUBLISHED_URI']}" in proc.stderr
