"""End to end for the KPI marts: a small local lake + file registry → `dbt build` → scorecard.

Like ``test_dbt_hotline``: no S3 server, the lake is a local directory. A few datasets get
rows, the others are the empty tables ``lake.ensure_raw_tables`` creates, and the file
registry (``_meta/files``) is written with ``lake.REGISTRY_SCHEMA`` exactly as ingestion
writes it. The report time is set by the test (``--vars report_at``); expected values are
computed here independently of the SQL.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from tests.helpers import query, run_dbt

PII_KEY = "test-pii-key-kpis-41a7"
REPORT_AT = "2026-03-04 10:00:00"  # Asia/Shanghai wall time


def _ts(s: str) -> datetime:
    return datetime.fromisoformat(s)


def _schema(dataset: str) -> pa.Schema:
    from pipelines import lake
    from pipelines.contracts import all_contracts

    return lake.raw_schema(all_contracts()[dataset])


def _lineage(bureau: str, dataset: str, day: str, row: int) -> dict:
    key = f"{bureau}/{dataset}/{day}/a.csv"
    return {
        "_source_key": key,
        "_source_etag": f"etag-{key}",
        "_file_sha256": hashlib.sha256(key.encode()).hexdigest(),
        "_row_number": row,
        "_business_date": date.fromisoformat(day),
        "_uploaded_at": _ts(f"{day} 20:00:00").replace(tzinfo=UTC),
        "_ingested_at": _ts(f"{day} 23:00:00").replace(tzinfo=UTC),
        "_run_id": f"run-{day}",
        "_contract_version": "1.0.0",
    }


# --- hotline tickets (370402, March) --------------------------------------------------------
# (id, received, phone, topic, first receiver, handling dept, transfers, closed, satisfaction)
TICKETS = [
    ("ZZ12345-20260301-000001", "2026-03-01 09:00:00", "13800001234", "市政设施", "市12345热线", "市12345热线", 0,
     "2026-03-01 12:00:00", "非常满意"),
    ("ZZ12345-20260302-000002", "2026-03-02 09:00:00", "13800001234", "市政设施", "市12345热线", "市住建局", 1,
     "2026-03-02 18:00:00", "不满意"),
    ("ZZ12345-20260303-000003", "2026-03-03 09:00:00", "13900005678", "噪音扰民", "市生态环境局", "市生态环境局", 1,
     None, None),
]  # fmt: skip


def _ticket_rows() -> list[dict]:
    rows = []
    for i, (tid, received, phone, topic, first, handling, transfers, closed, sat) in enumerate(TICKETS, 1):
        day = received[:10]
        rows.append(
            {
                "ticket_id": tid,
                "received_at": _ts(received),
                "channel": "电话",
                "request_type": "投诉",
                "topic": topic,
                "district_code": "370402",
                "grid_code": "370402001001001",
                "caller_name": "张三",
                "caller_phone": phone,
                "content": "诉求",
                "first_receiver_dept": first,
                "handling_dept": handling,
                "transfer_count": transfers,
                "closed_at": _ts(closed) if closed else None,
                "deadline_hours": 72,
                "satisfaction": sat,
                **_lineage("hotline", "tickets", day, i),
            }
        )
    return rows


# --- govservice cases: (id, item, channel, applied, completed, rating) ----------------------
CASES = [
    ("GS-1", "ITEM-A", "掌上", "2026-03-01 10:00:00", "2026-03-02 10:00:00", "满意"),
    ("GS-2", "ITEM-A", "窗口", "2026-03-02 10:00:00", None, None),
    ("GS-3", "ITEM-B", "掌上", "2026-03-02 11:00:00", None, None),
]


def _case_rows() -> list[dict]:
    return [
        {
            "case_id": cid,
            "item_code": item,
            "item_name": f"事项{item}",
            "channel": channel,
            "applied_at": _ts(applied),
            "completed_at": _ts(completed) if completed else None,
            "promised_days": 5,
            "dept": "市行政审批服务局",
            "district_code": "370402",
            "applicant_type": "法人",
            "applicant_id": "91370400MA3C0XXXX0",
            "visits": 0,
            "rating": rating,
            **_lineage("govservice", "cases", applied[:10], i),
        }
        for i, (cid, item, channel, applied, completed, rating) in enumerate(CASES, 1)
    ]


HOUSEHOLDS = 2000


def _grid_rows() -> list[dict]:
    return [
        {
            "grid_code": "370402001001001",
            "grid_name": "网格001",
            "street_name": "光明街道",
            "community_name": "光明社区",
            "district_code": "370402",
            "population": HOUSEHOLDS * 3,
            "households": HOUSEHOLDS,
            "gridworker_id": "GW001",
            **_lineage("grid", "grids", "2026-03-01", 1),
        }
    ]


def _incident_rows() -> list[dict]:
    return [
        {
            "incident_id": "INC-1",
            "incident_type": "电动车充电事故",
            "occurred_at": _ts("2026-03-02 21:00:00"),
            "reported_at": _ts("2026-03-02 21:10:00"),
            "district_code": "370402",
            "grid_code": "370402001001001",
            "severity": "一般",
            "deaths": 0,
            "injuries": 0,
            "loss_10k_cny": 1.0,
            **_lineage("emergency", "incidents", "2026-03-02", 1),
        }
    ]


# --- file registry ------------------------------------------------------------------------
# hotline.tickets is due at 09:00 (Asia/Shanghai) on D+1; uploaded_at is UTC (+8 h).
#   D 03-01: accepted, uploaded 03-01 23:30 UTC = 03-02 07:30 local → on time.
#   D 03-02: only a rejected file (03-02 23:00 UTC = 03-03 07:00 local) → no accepted file
#            as of the report time → late (missing).
#   D 03-03: accepted, uploaded 03-04 02:00 UTC = 10:00 local (> 09:00) → late. Read as
#            wall time without the conversion it would wrongly be on time.
#   D 03-04: deadline 03-05 09:00 is after the report time → not due.
# Dates from 03-01 (the registry's first business date) to the report time.
REGISTRY = [
    # (bureau, dataset, business date, status, uploaded_at UTC, received, accepted, quarantined)
    ("hotline", "tickets", "2026-03-01", "accepted", "2026-03-01 23:30:00", 10, 9, 1),
    ("hotline", "tickets", "2026-03-02", "rejected", "2026-03-02 23:00:00", 0, 0, 0),
    ("hotline", "tickets", "2026-03-03", "accepted", "2026-03-04 02:00:00", 5, 5, 0),
    ("grid", "grids", "2026-03-01", "accepted", "2026-03-01 12:00:00", 1, 1, 0),
]


def _registry_table() -> pa.Table:
    from pipelines import lake

    rows = []
    for i, (bureau, dataset, day, status, uploaded, received, accepted, quarantined) in enumerate(REGISTRY):
        key = f"{bureau}/{dataset}/{day}/file{i}.csv"
        up = _ts(uploaded).replace(tzinfo=UTC)
        rows.append(
            {
                "source_key": key,
                "source_etag": f"etag-{i}",
                "file_sha256": hashlib.sha256(key.encode()).hexdigest(),
                "bureau": bureau,
                "dataset": dataset,
                "business_date": date.fromisoformat(day),
                "status": status,
                "rows_received": received,
                "rows_accepted": accepted,
                "rows_quarantined": quarantined,
                "rows_superseded": 0,
                "raw_table_version": i,
                "contract_version": "1.0.0",
                "uploaded_at": up,
                "processed_at": up + timedelta(minutes=1),
                "run_id": f"run-{i}",
                "receipt_key": f"receipts/{key}.json",
                "reason": None if status == "accepted" else "无法读取",
            }
        )
    return pa.Table.from_pylist(rows, schema=lake.REGISTRY_SCHEMA)


def _write(lake: Path, dataset: str, rows: list[dict]) -> None:
    bureau, name = dataset.split(".")
    write_deltalake(str(lake / "raw" / bureau / name), pa.Table.from_pylist(rows, schema=_schema(dataset)))


def _dbt(tmp: Path, lake: Path, *args: str) -> str:
    return run_dbt(tmp, lake, *args, pii_key=PII_KEY, report_at=REPORT_AT)


_query = query


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("dbt_kpis")
    lake = tmp / "lake"
    (tmp / "warehouse").mkdir()
    _write(lake, "hotline.tickets", _ticket_rows())
    _write(lake, "govservice.cases", _case_rows())
    _write(lake, "grid.grids", _grid_rows())
    _write(lake, "emergency.incidents", _incident_rows())
    write_deltalake(str(lake / "_meta" / "files"), _registry_table())
    with pytest.MonkeyPatch.context() as mp:  # the other datasets: empty raw tables
        mp.setenv("SHUZHONG_LAKE_URI", str(lake))
        from pipelines import lake as lake_zone

        lake_zone.ensure_raw_tables()
    out = _dbt(tmp, lake, "build")
    return {"tmp": tmp, "db": tmp / "warehouse" / "work.duckdb", "stdout": out}


def _scorecard(db: Path, kpi_code: str, dimension_code: str) -> tuple:
    rows = _query(
        db,
        "select kpi_value, numerator, denominator, target_value, gap, is_target_met"
        " from kpi_scorecard_monthly where kpi_month = date '2026-03-01'"
        f" and kpi_code = '{kpi_code}' and dimension_code = '{dimension_code}'",
    )
    assert len(rows) == 1, (kpi_code, dimension_code, rows)
    return rows[0]


def _expected_on_time() -> tuple[int, int, int]:
    """(on time, due, missing) for hotline.tickets, computed in Python from REGISTRY."""
    report = _ts(REPORT_AT)
    shanghai = timedelta(hours=8)
    first_accepted: dict[str, datetime] = {}
    for bureau, dataset, day, status, uploaded, *_ in REGISTRY:
        local = _ts(uploaded) + shanghai
        if (bureau, dataset) == ("hotline", "tickets") and status == "accepted" and local <= report:
            first_accepted[day] = min(local, first_accepted.get(day, local))
    on_time = due = missing = 0
    d = date(2026, 3, 1)
    while d <= report.date():
        deadline = datetime.combine(d + timedelta(days=1), datetime.min.time()) + timedelta(hours=9)
        if deadline <= report:
            due += 1
            got = first_accepted.get(d.isoformat())
            missing += got is None
            on_time += got is not None and got <= deadline
        d += timedelta(days=1)
    return on_time, due, missing


def test_data_quality_missing_date_counts_late(built: dict) -> None:
    db = built["db"]
    on_time, due, missing = _expected_on_time()
    assert (on_time, due, missing) == (1, 3, 1)
    rows = _query(
        db,
        "select kpi_code, kpi_value, numerator, denominator, is_target_met, dates_due, dates_on_time,"
        " dates_late, dates_missing, files_processed, files_rejected from kpi_bureau_data_quality_monthly"
        " where bureau = 'hotline' and dataset = 'tickets' and kpi_month = date '2026-03-01'",
    )
    by_code = {r[0]: r[1:] for r in rows}
    assert set(by_code) == {"dq_on_time_rate", "dq_rows_accepted_rate", "dq_files_rejected"}
    assert by_code["dq_on_time_rate"][:4] == (pytest.approx(on_time / due), on_time, due, False)
    assert by_code["dq_on_time_rate"][4:] == (3, 1, 1, 1, 3, 1)
    assert by_code["dq_rows_accepted_rate"][:4] == (pytest.approx(14 / 15), 14, 15, False)
    assert by_code["dq_files_rejected"][:3] == (1, 1, 3)

    # The scorecard carries the same row, city-wide, dimension = bureau.dataset.
    value, num, den, target, gap, met = _scorecard(db, "dq_on_time_rate", "hotline.tickets")
    assert (num, den, target, met) == (1, 3, 1.0, False)
    assert value == pytest.approx(1 / 3) and gap == pytest.approx(1 / 3 - 1)

    # A dataset with a deadline and no file at all: its calendar has not started (no 0 % rows);
    # it is listed as not submitted instead.
    assert _query(db, "select count(*) from kpi_scorecard_monthly where dimension_code = 'grid.events'") == [(0,)]
    pending = {r[0] for r in _query(db, "select dataset_key from kpi_bureau_data_quality_not_submitted")}
    assert "grid.events" in pending and "hotline.tickets" not in pending
    # Reference data has no deadline: rows and files only.
    codes = {
        r[0]
        for r in _query(
            db, "select kpi_code from kpi_bureau_data_quality_monthly where bureau = 'grid' and dataset = 'grids'"
        )
    }
    assert codes == {"dq_rows_accepted_rate", "dq_files_rejected"}


def test_kpis_computed_independently(built: dict) -> None:
    db = built["db"]
    report = _ts(REPORT_AT)
    tickets = [t for t in TICKETS if _ts(t[1]) <= report]

    # first-receiver responsibility: no transfer, or handled by the first receiver
    fr = sum(1 for t in tickets if t[6] == 0 or t[4] == t[5])
    assert _scorecard(db, "first_receiver_responsibility_rate", "370402")[:3] == (
        pytest.approx(fr / len(tickets)),
        fr,
        len(tickets),
    )
    # repeat requests: same caller and topic within the previous 30 days
    repeats = sum(
        1
        for t in tickets
        if any(
            p is not t and p[2] == t[2] and p[3] == t[3] and timedelta(0) < _ts(t[1]) - _ts(p[1]) <= timedelta(days=30)
            for p in tickets
        )
    )
    assert _scorecard(db, "repeat_request_rate", "370402")[:3] == (
        pytest.approx(repeats / len(tickets)),
        repeats,
        len(tickets),
    )

    # citizen satisfaction: hotline tickets + service cases on the 100-point scale
    score = {"非常满意": 100, "满意": 80, "基本满意": 60, "不满意": 20, "非常不满意": 0}
    scores = [score[t[8]] for t in tickets if t[8] in score] + [score[c[5]] for c in CASES if c[5] in score]
    value, num, den, target, gap, met = _scorecard(db, "citizen_satisfaction_score", "370402")
    assert (num, den, target, met) == (sum(scores), len(scores), 90.0, False)
    assert value == pytest.approx(sum(scores) / len(scores)) and gap == pytest.approx(value - 90)

    # mobile handling rate: every item is among the top 100 here
    mobile = sum(1 for c in CASES if c[2] == "掌上")
    assert _scorecard(db, "mobile_handling_rate", "370402")[:3] == (
        pytest.approx(mobile / len(CASES)),
        mobile,
        len(CASES),
    )

    # EV charging incidents per 10,000 households (households from grid.grids)
    value, num, den, target, gap, met = _scorecard(db, "ev_charging_incidents_per_10k_households", "370402")
    assert (num, den, target, met) == (1, HOUSEHOLDS / 10000, 0.35, False)
    assert value == pytest.approx(1 / (HOUSEHOLDS / 10000))

    # Every district gets a row; KPIs without data elsewhere have a null value there.
    assert _scorecard(db, "mobile_handling_rate", "370481")[:3] == (None, None, None)
    targets = dict(_query(db, "select distinct kpi_code, baseline_value from kpi_scorecard_monthly"))
    assert targets["ev_charging_incidents_per_10k_households"] == 1.0


pytestmark = pytest.mark.dbt  # runs dbt builds: deselected by make test-fast
