"""End to end: a local raw Delta table of hotline tickets → `dbt build` → KPI values.

No S3 server: the lake is a local directory (``SHUZHONG_LAKE_URI``) and
``SHUZHONG_S3_ENDPOINT`` is removed from dbt's environment, so the plugin skips S3.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from pipelines.ingest.keys import source_file_id
from pipelines.settings import DBT_PROJECT_DIR, REPO_ROOT

PII_KEY = "test-pii-key-7c1e94b2d0"
REPORT_AT = "2026-04-01 09:00:00"


def _raw_schema() -> pa.Schema:
    """The raw table schema exactly as ingestion writes it (from the contract)."""
    from pipelines import lake
    from pipelines.contracts import all_contracts

    return lake.raw_schema(all_contracts()["hotline.tickets"])


RAW_SCHEMA = _raw_schema()


def _ts(s: str) -> datetime:
    return datetime.fromisoformat(s)


def _row(
    ticket_id: str,
    district: str,
    received: str,
    hours: int,
    closed: str | None,
    satisfaction: str | None,
    *,
    day: str,
    file: str = "a.csv",
    row: int = 1,
    phone: str | None = "13800001234",
    content: str = "路灯不亮",
    transfers: int = 0,
) -> dict:
    """One raw row as the ingestion writes it; the file of business date `day`."""
    uploaded = _ts(f"{day} 20:00:00") if file == "a.csv" else _ts(f"{day} 22:00:00")
    return {
        "ticket_id": ticket_id,
        "received_at": _ts(received),
        "channel": "电话",
        "request_type": "投诉",
        "topic": "市政设施",
        "district_code": district,
        "grid_code": district + "001001001",
        "caller_name": "欧阳娜娜",
        "caller_phone": phone,
        "content": content,
        "first_receiver_dept": "市12345热线",
        "handling_dept": "住建局",
        "transfer_count": transfers,
        "closed_at": _ts(closed) if closed else None,
        "deadline_hours": hours,
        "satisfaction": satisfaction,
        "_source_key": f"hotline/tickets/{day}/{file}",
        "_source_etag": f"etag-{day}-{file}",
        "_file_sha256": hashlib.sha256(f"{day}/{file}".encode()).hexdigest(),
        "_row_number": row,
        "_business_date": date.fromisoformat(day),
        "_uploaded_at": uploaded.replace(tzinfo=UTC),
        "_ingested_at": _ts(f"{day} 23:00:00").replace(tzinfo=UTC),
        "_run_id": f"run-{day}",
        "_contract_version": "1.0.0",
    }


ID_NUMBER = "370402199001011237"  # planted in free text; must be scrubbed

RAW_ROWS = [
    # A (市中区): open on 03-01, closed and rated in the 03-02 file → latest version wins.
    _row("ZZ12345-20260301-000001", "370402", "2026-03-01 09:00:00", 24, None, None,
         day="2026-03-01", content=f"身份证{ID_NUMBER}，电话138 0000 1234"),
    _row("ZZ12345-20260301-000001", "370402", "2026-03-01 09:00:00", 24,
         "2026-03-02 08:00:00", "非常满意", day="2026-03-02",
         content=f"身份证{ID_NUMBER}，电话138 0000 1234"),
    # B (市中区): two files of the same date; the later upload (b.csv) closes it late.
    _row("ZZ12345-20260303-000002", "370402", "2026-03-03 10:00:00", 48,
         "2026-03-04 09:00:00", "满意", day="2026-03-03", row=1),
    _row("ZZ12345-20260303-000002", "370402", "2026-03-03 10:00:00", 48,
         "2026-03-06 10:00:00", "不满意", day="2026-03-03", file="b.csv", row=7),
    # C (市中区): still open, deadline 03-23 08:00 passed → late.
    _row("ZZ12345-20260320-000003", "370402", "2026-03-20 08:00:00", 72, None, None,
         day="2026-03-20", phone="06321234567"),
    _row("ZZ12345-20260320-000003", "370402", "2026-03-20 08:00:00", 72, None, None,
         day="2026-03-21", phone="06321234567", transfers=1),
    # D (市中区): open, deadline 04-03 08:00 after the report time → not counted.
    _row("ZZ12345-20260331-000004", "370402", "2026-03-31 08:00:00", 72, None, None,
         day="2026-03-31", phone=None),
    # E (市中区): closed on time, 未评价 → on time, not rated.
    _row("ZZ12345-20260310-000005", "370402", "2026-03-10 08:00:00", 24,
         "2026-03-10 18:00:00", "未评价", day="2026-03-10"),
    # F (滕州市): closed on time, 基本满意.
    _row("ZZ12345-20260315-000006", "370481", "2026-03-15 08:00:00", 24,
         "2026-03-15 12:00:00", "基本满意", day="2026-03-15"),
    # G (滕州市): deadline 03-02 08:00 (March), closed and rated in February.
    _row("ZZ12345-20260226-000007", "370481", "2026-02-26 08:00:00", 120,
         "2026-02-28 10:00:00", "基本满意", day="2026-02-28"),
]  # fmt: skip

# Expected KPIs, by hand, as of 2026-04-01 09:00:
# On-time closure, March (deadline month):
#   370402: A on time (08:00 <= 03-02 09:00), B late (03-06 10:00 > 03-05 10:00),
#           C late (open past 03-23 08:00), E on time; D not counted  → 2 / 4 = 0.5
#   370481: F on time, G on time (closed 02-28, deadline 03-02)        → 2 / 2 = 1.0
# Satisfaction (month of closed_at):
#   March 370402: A 100 + B 20 (E 未评价, C/D unrated)                → 120 / 2 = 60
#   March 370481: F 60                                                 →  60 / 1 = 60
#   February 370481: G 60                                              →  60 / 1 = 60
# Every other (month, district) of a KPI: denominator 0, value null. No April rows:
# April's only deadline (D) is not counted yet.
ON_TIME = "hotline_on_time_closure_rate"
SATISFACTION = "citizen_satisfaction_score"
EXPECTED = {
    # (month, district, kpi): (numerator, denominator, kpi_value, is_target_met)
    ("2026-03-01", "370402", ON_TIME): (2.0, 4, 0.5, False),
    ("2026-03-01", "370481", ON_TIME): (2.0, 2, 1.0, True),
    ("2026-03-01", "370402", SATISFACTION): (120.0, 2, 60.0, False),
    ("2026-03-01", "370481", SATISFACTION): (60.0, 1, 60.0, False),
    ("2026-02-01", "370481", SATISFACTION): (60.0, 1, 60.0, False),
}
DISTRICTS = ["370402", "370403", "370404", "370405", "370406", "370481"]


def _dbt_build(tmp: Path, lake_uri: str, extra_env: dict[str, str] | None = None) -> dict:
    """Run ``dbt build`` on a fresh work DB; only the SHUZHONG_* variables given are set."""
    work_db = tmp / "warehouse" / "work.duckdb"
    work_db.parent.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHUZHONG_")}
    env.update(
        SHUZHONG_HOME=str(tmp / "home"),
        SHUZHONG_LAKE_URI=lake_uri,
        SHUZHONG_WORK_DB=str(work_db),
        SHUZHONG_PII_KEY=PII_KEY,
        DBT_TARGET_PATH=str(tmp / "target"),
        DBT_LOG_PATH=str(tmp / "logs"),
        DBT_SEND_ANONYMOUS_USAGE_STATS="False",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    )
    env.update(extra_env or {})
    dbt = Path(sys.executable).parent / "dbt"
    proc = subprocess.run(
        [str(dbt), "build", "--profiles-dir", ".", "--vars", f"{{report_at: '{REPORT_AT}'}}"],
        cwd=DBT_PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    return {"tmp": tmp, "work_db": work_db, "stdout": proc.stdout + proc.stderr}


def _raw_table() -> pa.Table:
    return pa.Table.from_pylist(RAW_ROWS, schema=RAW_SCHEMA)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The lake is a local directory; no S3 endpoint, so the plugin skips S3."""
    tmp = tmp_path_factory.mktemp("dbt_hotline")
    lake = tmp / "lake"
    write_deltalake(str(lake / "raw" / "hotline" / "tickets"), _raw_table(), mode="overwrite")
    with pytest.MonkeyPatch.context() as mp:  # the other datasets have no submission: empty tables
        mp.setenv("SHUZHONG_LAKE_URI", str(lake))
        from pipelines import lake as lake_zone

        lake_zone.ensure_raw_tables()
    return _dbt_build(tmp, str(lake))


def _query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_kpi_values(built: dict) -> None:
    rows = _query(
        built["work_db"],
        "select strftime(kpi_month, '%Y-%m-%d'), district_code, kpi_code, numerator,"
        " denominator, kpi_value, is_target_met, target_value, gap from kpi_hotline_monthly",
    )
    got = {(m, d, k): (n, den, v, met) for m, d, k, n, den, v, met, _, _ in rows}
    expected_keys = {(m, d, ON_TIME) for m in ["2026-03-01"] for d in DISTRICTS} | {
        (m, d, SATISFACTION) for m in ["2026-02-01", "2026-03-01"] for d in DISTRICTS
    }
    assert set(got) == expected_keys
    for key, value in got.items():
        assert value == EXPECTED.get(key, (0.0, 0, None, None)), key
    targets = {k: (t, g) for _, _, k, _, _, v, _, t, g in rows if v is not None}
    assert targets[ON_TIME][0] == 0.95
    assert targets[SATISFACTION][0] == 90.0
    gaps = {(m, d, k): g for m, d, k, _, _, _, _, _, g in rows}
    assert gaps[("2026-03-01", "370402", ON_TIME)] == pytest.approx(0.5 - 0.95)
    assert gaps[("2026-03-01", "370402", SATISFACTION)] == pytest.approx(60 - 90)


def test_fct_latest_version_and_pii(built: dict) -> None:
    rows = _query(
        built["work_db"],
        "select ticket_id, closed_at, satisfaction_score, is_closed_on_time, transfer_count,"
        " source_file_id, caller_phone_hash, content_scrubbed from fct_hotline_tickets",
    )
    by_id = {r[0]: r[1:] for r in rows}
    assert len(rows) == 7
    a = by_id["ZZ12345-20260301-000001"]
    assert a[:5] == (_ts("2026-03-02 08:00:00"), 100, True, 0, source_file_id("hotline/tickets/2026-03-02/a.csv"))
    assert a[5] == hmac.new(PII_KEY.encode(), b"13800001234", hashlib.sha256).hexdigest()
    assert a[6] == "身份证[身份证号]，电话[电话]"
    b = by_id["ZZ12345-20260303-000002"]
    assert b[:5] == (_ts("2026-03-06 10:00:00"), 20, False, 0, source_file_id("hotline/tickets/2026-03-03/b.csv"))
    c = by_id["ZZ12345-20260320-000003"]
    assert c[:5] == (None, None, None, 1, source_file_id("hotline/tickets/2026-03-21/a.csv"))
    assert c[5] == hmac.new(PII_KEY.encode(), b"06321234567", hashlib.sha256).hexdigest()
    assert by_id["ZZ12345-20260331-000004"][5] is None

    columns = {r[0] for r in _query(built["work_db"], "describe fct_hotline_tickets")}
    assert not columns & {"caller_name", "caller_phone", "content"}


def test_no_secret_or_clear_pii_in_outputs(built: dict) -> None:
    tmp: Path = built["tmp"]
    assert PII_KEY not in built["stdout"]
    for path in [*(tmp / "target").rglob("*"), *(tmp / "logs").rglob("*"), built["work_db"]]:
        if path.is_file():
            data = path.read_bytes()
            assert PII_KEY.encode() not in data, path
    fct = _query(built["work_db"], "select * from fct_hotline_tickets")
    text = repr(fct)
    for clear in ("13800001234", "06321234567", ID_NUMBER, "欧阳娜娜"):
        assert clear not in text


def _kpis(work_db: Path) -> list[tuple]:
    return _query(work_db, "select * exclude (report_at) from kpi_hotline_monthly order by all")


def test_s3_lake_gives_same_marts(
    built: dict, s3_env: dict, unique: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Same rows in a Delta table on the session's S3 server: the plugin's S3 path."""
    from pipelines import s3

    lake_uri = f"s3://{s3_env['buckets'].lake}/dbt-test-{unique}"
    write_deltalake(
        f"{lake_uri}/raw/hotline/tickets",
        _raw_table(),
        mode="overwrite",
        storage_options=s3.delta_storage_options(),
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHUZHONG_LAKE_URI", lake_uri)
        from pipelines import lake as lake_zone

        lake_zone.ensure_raw_tables()
    # s3_env put the endpoint and credentials into os.environ; pass them through.
    mine = {"SHUZHONG_HOME", "SHUZHONG_LAKE_URI", "SHUZHONG_WORK_DB", "SHUZHONG_PII_KEY"}
    s3_vars = {k: v for k, v in os.environ.items() if k.startswith("SHUZHONG_") and k not in mine}
    assert "SHUZHONG_S3_ENDPOINT" in s3_vars
    on_s3 = _dbt_build(tmp_path_factory.mktemp("dbt_hotline_s3"), lake_uri, s3_vars)
    assert _kpis(on_s3["work_db"]) == _kpis(built["work_db"])


pytestmark = pytest.mark.dbt  # runs dbt builds: deselected by make test-fast
