"""End to end for KPI and fact findings (issues 13 and 20): a local lake + file registry →
`dbt build` → marts, then corrections → an incremental build.

Like ``test_dbt_kpis``: no S3 server, the lake is a local directory, the other datasets are
the empty tables ``lake.ensure_raw_tables`` creates, the registry is written with
``lake.REGISTRY_SCHEMA`` exactly as ingestion writes it. Expected values are worked out by
hand in the comments.

Report time 2026-03-06 08:00 (Friday, Asia/Shanghai). Business dates of the daily files are
Monday–Thursday, so a working-day deadline and a D+1 deadline are the same here.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from pipelines.ingest.keys import source_file_id
from tests.helpers import query, run_dbt

PII_KEY = "test-pii-key-findings-9b3e"
REPORT_AT = "2026-03-06 08:00:00"
DISTRICTS = ["370402", "370403", "370404", "370405", "370406", "370481"]
HOUSEHOLDS = {"370402": 1000, "370403": 2000, "370404": 500}
BAD_GRID = "999999001001001"  # 15 digits, but 999999 is not a district of Zaozhuang


def _phone() -> str:
    """A valid-looking mobile number made up at test time (raw data only)."""
    return "139" + "".join(random.choice("0123456789") for _ in range(8))


def _ts(s: str) -> datetime:
    return datetime.fromisoformat(s)


def _utc(s: str) -> datetime:
    return _ts(s).replace(tzinfo=UTC)


def _sha(key: str, version: int = 1) -> str:
    return hashlib.sha256(f"{key}#{version}".encode()).hexdigest()


def _schema(dataset: str) -> pa.Schema:
    from pipelines import lake
    from pipelines.contracts import all_contracts

    return lake.raw_schema(all_contracts()[dataset])


def _lineage(key: str, row: int, *, upload: str, ingested: str, version: int = 1) -> dict:
    return {
        "_source_key": key,
        "_source_etag": f"etag-{version}-{key}",
        "_file_sha256": _sha(key, version),
        "_row_number": row,
        "_business_date": date.fromisoformat(key.split("/")[2]),
        "_uploaded_at": _utc(upload),
        "_ingested_at": _utc(ingested),
        "_run_id": f"run-{version}",
        "_contract_version": "1.0.0",
    }


def _daily(bureau: str, dataset: str, day: str, row: int = 1) -> dict:
    return _lineage(f"{bureau}/{dataset}/{day}/a.csv", row, upload=f"{day} 12:00:00", ingested=f"{day} 12:05:00")


# --- grids: households in three districts ---------------------------------------------------
def _grid_rows() -> list[dict]:
    return [
        {
            "grid_code": f"{d}001001001",
            "grid_name": "网格001",
            "street_name": "街道",
            "community_name": f"社区{d}",
            "district_code": d,
            "population": n * 3,
            "households": n,
            "gridworker_id": "GW001",
            **_daily("grid", "grids", "2026-02-02", i),
        }
        for i, (d, n) in enumerate(HOUSEHOLDS.items(), 1)
    ]


# --- emergency: one EV-charging incident, in March, in 370402 --------------------------------
def _incident_rows() -> list[dict]:
    return [
        {
            "incident_id": "INC-1",
            "incident_type": "电动车充电事故",
            "occurred_at": _ts("2026-03-03 21:00:00"),
            "reported_at": _ts("2026-03-03 21:10:00"),
            "district_code": "370402",
            "grid_code": "370402001001001",
            "severity": "一般",
            "deaths": 0,
            "injuries": 0,
            "loss_10k_cny": 1.0,
            **_daily("emergency", "incidents", "2026-03-03"),
        }
    ]


# --- grid events: an EV hazard in 370402, and an event on a grid outside the districts -----
FIRE_DEPT = "市中区消防救援大队"


def _event_rows() -> list[dict]:
    def event(eid: str, grid: str, category: str, reported: str, resolved: str, row: int) -> dict:
        return {
            "event_id": eid,
            "grid_code": grid,
            "reporter_id": "GW001",
            "reported_at": _ts(reported),
            "category": category,
            "description": "楼道",
            "handling_dept": FIRE_DEPT,
            "resolved_at": _ts(resolved),
            "status": "已办结",
            **_daily("grid", "events", "2026-03-02", row),
        }

    return [
        event("EV-1", "370402001001001", "电动车充电隐患", "2026-03-02 09:00:00", "2026-03-02 15:00:00", 1),
        event("EV-BAD", BAD_GRID, "电动车充电隐患", "2026-03-02 10:00:00", "2026-03-02 12:00:00", 2),
    ]


def _community_rows() -> list[dict]:
    def request(rid: str, grid: str, rating: int, row: int) -> dict:
        return {
            "request_id": rid,
            "community_name": "社区",
            "grid_code": grid,
            "service_type": "一键报修",
            "channel": "电话",
            "submitted_at": _ts("2026-03-02 08:00:00"),
            "completed_at": _ts("2026-03-02 10:00:00"),
            "resident_phone": _phone(),
            "rating": rating,
            **_daily("community", "service_requests", "2026-03-02", row),
        }

    return [request("CR-1", "370402001001001", 3, 1), request("CR-BAD", BAD_GRID, 5, 2)]


# --- hotline tickets and service cases, by department -------------------------------------
# T1 市住建局: deadline 03-03 09:00, closed 03-02 18:00 → on time, 满意 80.
# T2 市城管局: deadline 03-03 10:00, closed 03-04 12:00 → late, 不满意 20.
# GS-1 市行政审批服务局: completed 03-03, 非常满意 100.
HOUSING, URBAN, APPROVAL = "市住建局", "市城管局", "市行政审批服务局"


def _ticket_rows() -> list[dict]:
    def ticket(n: int, received: str, handling: str, closed: str, sat: str) -> dict:
        return {
            "ticket_id": f"ZZ12345-20260302-{n:06d}",
            "received_at": _ts(received),
            "channel": "电话",
            "request_type": "投诉",
            "topic": f"事项{n}",
            "district_code": "370402",
            "grid_code": "370402001001001",
            "caller_name": "张三",
            "caller_phone": _phone(),
            "content": "诉求",
            "first_receiver_dept": "市12345热线",
            "handling_dept": handling,
            "transfer_count": 1,
            "closed_at": _ts(closed),
            "deadline_hours": 24,
            "satisfaction": sat,
            **_daily("hotline", "tickets", "2026-03-02", n),
        }

    return [
        ticket(1, "2026-03-02 09:00:00", HOUSING, "2026-03-02 18:00:00", "满意"),
        ticket(2, "2026-03-02 10:00:00", URBAN, "2026-03-04 12:00:00", "不满意"),
    ]


def _case_rows() -> list[dict]:
    return [
        {
            "case_id": "GS-1",
            "item_code": "ITEM-A",
            "item_name": "事项A",
            "channel": "窗口",
            "applied_at": _ts("2026-03-02 10:00:00"),
            "completed_at": _ts("2026-03-03 10:00:00"),
            "promised_days": 5,
            "dept": APPROVAL,
            "district_code": "370402",
            "applicant_type": "法人",
            "applicant_id": "91370400MA3C0XXXX0",
            "visits": 0,
            "rating": "非常满意",
            **_daily("govservice", "cases", "2026-03-02"),
        }
    ]


# --- air quality (O3 8-hour) ----------------------------------------------------------------
# Every hour: PM2.5 10, PM10 20, SO2 5, NO2 10, CO 0.5, O3 20; 08:00–14:00 O3 170.
# S_MISS (370402) has no 07:00 row; S_EMPTY (370403) has a 07:00 row with an empty O3.
# Window ending 14:00 = 07 … 14: 7 valid values of 170 (>= 6) → 170, the day's maximum
# (ending 15:00: (7*170 + 20) / 8 = 151.25). 8-hour IAQI of 170: ceil(100 + 10*50/55) = 110
# → daily AQI 110, not a good day. Starting windows at existing rows only gives 151.25 →
# IAQI 93 → a good day (the bug).
# S_FEW (370404): O3 only at even hours → at most 4 valid in any window → no 8-hour value.
# S_COR (370405) on 03-04: 24 good hours (O3 20), file cor.jsonl, corrected later.
AQ_DAY = "2026-03-03"
COR_DAY = "2026-03-04"
AQ_COR_KEY = f"ecology/air_quality_hourly/{COR_DAY}/cor.jsonl"
AQ_EARLY_KEY = f"ecology/air_quality_hourly/{COR_DAY}/cor-early.jsonl"


def _aq(station: str, district: str, day: str, hour: int, o3: float | None, key: str) -> dict:
    return {
        "station_code": station,
        "station_name": station,
        "observed_at": _ts(f"{day} 00:00:00") + timedelta(hours=hour),
        "district_code": district,
        "pm25": 10.0,
        "pm10": 20.0,
        "so2": 5.0,
        "no2": 10.0,
        "o3": o3,
        "co": 0.5,
        "aqi": None,
        **_lineage(key, hour + 1, upload=f"{day} 16:00:00", ingested=f"{day} 18:00:00"),
    }


def _o3(hour: int) -> float:
    return 170.0 if 8 <= hour <= 14 else 20.0


def _air_rows() -> list[dict]:
    key = f"ecology/air_quality_hourly/{AQ_DAY}/a.jsonl"
    rows = [_aq("S_MISS", "370402", AQ_DAY, h, _o3(h), key) for h in range(24) if h != 7]
    rows += [_aq("S_EMPTY", "370403", AQ_DAY, h, None if h == 7 else _o3(h), key) for h in range(24)]
    rows += [_aq("S_FEW", "370404", AQ_DAY, h, 20.0 if h % 2 == 0 else None, key) for h in range(24)]
    # ingested after the 03-04 files: the newest rows left once cor.jsonl's rows are deleted
    rows = [{**r, "_ingested_at": _utc(f"{COR_DAY} 20:00:00")} for r in rows]
    rows += [_aq("S_COR", "370405", COR_DAY, h, 20.0, AQ_COR_KEY) for h in range(24)]
    # an earlier upload of the same date also sent S_COR 00:00 (O3 30); cor.jsonl's version wins
    early = _aq("S_COR", "370405", COR_DAY, 0, 30.0, AQ_EARLY_KEY)
    return [*rows, {**early, "_uploaded_at": _utc(f"{COR_DAY} 15:00:00")}]


# --- traffic: k.csv 08:00–09:55 (10 vehicles), k2.csv re-sends 08:05 later (30 vehicles) ---
K_KEY = f"transport/traffic_flow/{COR_DAY}/k.csv"
K2_KEY = f"transport/traffic_flow/{COR_DAY}/k2.csv"


def _flow(minute: int, vehicles: int, key: str, row: int, upload: str) -> dict:
    return {
        "checkpoint_id": "K1",
        "road_name": "解放路",
        "district_code": "370402",
        "interval_start": _ts(f"{COR_DAY} 08:00:00") + timedelta(minutes=minute),
        "vehicle_count": vehicles,
        "avg_speed_kmh": 40.0,
        "congestion_index": 2.0,
        **_lineage(key, row, upload=f"{COR_DAY} {upload}", ingested=f"{COR_DAY} 18:00:00"),
    }


def _traffic_rows() -> list[dict]:
    rows = [_flow(5 * i, 10, K_KEY, i + 1, "16:00:00") for i in range(24)]
    return [*rows, _flow(5, 30, K2_KEY, 1, "16:30:00")]


# --- pipe pressure: p.jsonl hours 10 (a breach: 0.7 > 0.6) and 11 --------------------------
P_KEY = f"utilities/pipe_pressure/{COR_DAY}/p.jsonl"


PREV_DAY_HOUR = -1  # a late reading of the day before (23:00), sent in the same file


def _pipe_rows(hours: tuple[int, ...], version: int, ingested: str) -> list[dict]:
    pressures = {10: [0.4, 0.7, 0.5], 11: [0.3, 0.35, 0.4], PREV_DAY_HOUR: [0.9]}
    rows = []
    for hour in hours:
        day = COR_DAY if hour != PREV_DAY_HOUR else f"{COR_DAY[:-2]}{int(COR_DAY[-2:]) - 1:02d}"
        for m, p in enumerate(pressures[hour]):
            rows.append(
                {
                    "sensor_id": "P1",
                    "network_type": "供水",
                    "district_code": "370403",
                    "measured_at": _ts(f"{day} {hour % 24:02d}:{m:02d}:00"),
                    "pressure_mpa": p,
                    "threshold_low": 0.2,
                    "threshold_high": 0.6,
                    **_lineage(P_KEY, len(rows) + 1, upload=ingested, ingested=ingested, version=version),
                }
            )
    return rows


# --- file registry ------------------------------------------------------------------------
# hotline.tickets (due D+1 09:00): 03-02 accepted 22:00 local; 03-03 and 03-04 the same
# header-only bytes again (duplicate, no-op) at 22:00; 03-05 accepted at 22:00, its
# deadline 03-06 09:00 is after the report time but it arrived on time → counts (v1.3).
# → 4 dates due, 4 on time. Its calendar starts at 03-02 (its first submission), not at
# 02-10 (emergency's first); no February row.
# emergency.incidents: 02-10 accepted (header only), on time; 03-03 accepted.
#   February: 02-10 … 02-28 = 19 dates, 1 on time.
# grid.events: 02-20 a no-op identical file, 03-02 accepted.
# govservice.cases and community.service_requests: never submitted (their raw rows here
# come without registry rows) → no on-time rows; listed as not submitted.
def _reg(key: str, status: str, uploaded_utc: str, processed_utc: str | None = None, *, version: int = 1,
         rows: int = 0) -> dict:  # fmt: skip
    bureau, dataset, day, _ = key.split("/", 3)
    up = _utc(uploaded_utc)
    return {
        "source_key": key,
        "source_etag": f"etag-{version}-{key}",
        "file_sha256": _sha(key, version),
        "bureau": bureau,
        "dataset": dataset,
        "business_date": date.fromisoformat(day),
        "status": status,
        "rows_received": rows,
        "rows_accepted": rows if status == "accepted" else 0,
        "rows_quarantined": 0,
        "rows_superseded": 0,
        "raw_table_version": version,
        "contract_version": "1.0.0",
        "uploaded_at": up,
        "processed_at": _utc(processed_utc) if processed_utc else up + timedelta(minutes=5),
        "run_id": f"run-{version}",
        "receipt_key": f"{key}.receipt.json",
        "reason": None,
    }


def _registry() -> list[dict]:
    return [
        _reg("hotline/tickets/2026-03-02/a.csv", "accepted", "2026-03-02 14:00:00", rows=2),
        _reg("hotline/tickets/2026-03-03/a.csv", "duplicate", "2026-03-03 14:00:00"),
        _reg("hotline/tickets/2026-03-04/a.csv", "duplicate", "2026-03-04 14:00:00"),
        _reg("hotline/tickets/2026-03-05/a.csv", "accepted", "2026-03-05 14:00:00"),
        _reg("emergency/incidents/2026-02-10/a.csv", "accepted", "2026-02-10 20:00:00"),
        _reg("emergency/incidents/2026-03-03/a.csv", "accepted", "2026-03-03 12:00:00", rows=1),
        _reg("grid/events/2026-02-20/a.csv", "duplicate", "2026-02-20 12:00:00"),
        _reg("grid/events/2026-03-02/a.csv", "accepted", "2026-03-02 12:00:00", rows=2),
        _reg("grid/grids/2026-02-02/a.csv", "accepted", "2026-02-02 12:00:00", rows=3),
        _reg(f"ecology/air_quality_hourly/{AQ_DAY}/a.jsonl", "accepted", f"{AQ_DAY} 16:00:00",
             f"{AQ_DAY} 18:05:00", rows=71),
        _reg(AQ_EARLY_KEY, "accepted", f"{COR_DAY} 15:00:00", f"{COR_DAY} 18:05:00", rows=1),
        _reg(AQ_COR_KEY, "accepted", f"{COR_DAY} 16:00:00", f"{COR_DAY} 18:05:00", rows=24),
        _reg(K_KEY, "accepted", f"{COR_DAY} 16:00:00", f"{COR_DAY} 18:05:00", rows=24),
        _reg(K2_KEY, "accepted", f"{COR_DAY} 16:30:00", f"{COR_DAY} 18:05:00", rows=1),
        _reg(P_KEY, "accepted", f"{COR_DAY} 18:00:00", f"{COR_DAY} 18:05:00", rows=7),
    ]  # fmt: skip


def _write(lake: Path, dataset: str, rows: list[dict], mode: str = "error") -> None:
    bureau, name = dataset.split(".")
    table = pa.Table.from_pylist(rows, schema=_schema(dataset))
    write_deltalake(str(lake / "raw" / bureau / name), table, mode=mode)


def _replace_key_rows(lake: Path, dataset: str, key: str, rows: list[dict]) -> None:
    """Replace exactly one object key's raw rows (none: a version whose rows were all quarantined),
    in one overwrite-with-predicate commit as ``lake.replace_source_rows`` makes it."""
    bureau, name = dataset.split(".")
    table = pa.Table.from_pylist(rows, schema=_schema(dataset))
    write_deltalake(str(lake / "raw" / bureau / name), table, mode="overwrite", predicate=f"_source_key = '{key}'")


def _ensure_raw_tables(lake: Path) -> None:
    """The empty raw tables of the datasets the test wrote nothing for (``lake.ensure_raw_tables``)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHUZHONG_LAKE_URI", str(lake))
        from pipelines import lake as lake_zone

        lake_zone.ensure_raw_tables()


def _write_registry(lake: Path, rows: list[dict], mode: str = "overwrite") -> None:
    from pipelines import lake as lake_zone

    write_deltalake(str(lake / "_meta" / "files"), pa.Table.from_pylist(rows, schema=lake_zone.REGISTRY_SCHEMA),
                    mode=mode)  # fmt: skip


def _dbt(tmp: Path, lake: Path, *args: str) -> str:
    return run_dbt(tmp, lake, *args, pii_key=PII_KEY, report_at=REPORT_AT)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("dbt_kpi_findings")
    lake = tmp / "lake"
    (tmp / "warehouse").mkdir()
    _write(lake, "grid.grids", _grid_rows())
    _write(lake, "emergency.incidents", _incident_rows())
    _write(lake, "grid.events", _event_rows())
    _write(lake, "community.service_requests", _community_rows())
    _write(lake, "hotline.tickets", _ticket_rows())
    _write(lake, "govservice.cases", _case_rows())
    _write(lake, "ecology.air_quality_hourly", _air_rows())
    _write(lake, "transport.traffic_flow", _traffic_rows())
    _write(lake, "utilities.pipe_pressure", _pipe_rows((10, 11, PREV_DAY_HOUR), 1, f"{COR_DAY} 18:00:00"))
    _write_registry(lake, _registry())
    _ensure_raw_tables(lake)
    _dbt(tmp, lake, "build")
    db = tmp / "warehouse" / "work.duckdb"
    before = {
        "hourly_s_cor": query(db, "select count(*) from fct_air_quality_hourly where station_code = 'S_COR'")[0][0],
        "traffic_hourly": query(db, "select strftime(hour_start, '%H'), interval_count, vehicle_count"
                                    " from fct_traffic_flow_hourly order by 1"),
        "pipe_hours": query(db, "select strftime(hour_start, '%H'), is_breach"
                                " from fct_pipe_pressure_hourly order by 1"),
        "good_day_370405": _scorecard(db, "air_quality_good_day_ratio", "370405", "district")[0],
    }  # fmt: skip
    return {"tmp": tmp, "lake": lake, "db": db, "before": before}


def _scorecard(db: Path, kpi: str, code: str, dim: str, month: str = "2026-03-01") -> tuple:
    rows = query(
        db,
        "select kpi_value, numerator, denominator, is_target_met from kpi_scorecard_monthly"
        f" where kpi_month = date '{month}' and kpi_code = '{kpi}' and dimension_type = '{dim}'"
        f" and dimension_code = '{code}'",
    )
    assert len(rows) == 1, (kpi, code, dim, month, rows)
    return rows[0]


def test_ev_charging_zero_numerator_is_zero(built: dict) -> None:
    """Finding 1: no incident in a district (or in a whole month) is 0 per 10k households."""
    db = built["db"]
    rate = "ev_charging_incidents_per_10k_households"
    # March: 1 incident in 370402 / (1000 / 10,000) = 10; 370403 and 370404 have none → 0, target met.
    assert _scorecard(db, rate, "370402", "district") == (pytest.approx(10.0), 1, pytest.approx(0.1), False)
    assert _scorecard(db, rate, "370403", "district") == (0.0, 0, pytest.approx(0.2), True)
    assert _scorecard(db, rate, "370404", "district") == (0.0, 0, pytest.approx(0.05), True)
    # No households (no grid): no denominator, no value.
    assert _scorecard(db, rate, "370405", "district")[0] is None
    # February: the bureau submitted (02-10) but there was no incident anywhere → rows of 0.
    for d in HOUSEHOLDS:
        assert _scorecard(db, rate, d, "district", "2026-02-01")[:2] == (0.0, 0)
    # Hazards found: March 370402 1 (the event on a grid outside the districts is no one's);
    # every other district 0; February (a no-op file on 02-20) 0 everywhere.
    hazards = "ev_charging_hazards_found"
    assert _scorecard(db, hazards, "370402", "district")[:2] == (1.0, 1)
    for d in DISTRICTS[1:]:
        assert _scorecard(db, hazards, d, "district")[:2] == (0.0, 0)
    for d in DISTRICTS:
        assert _scorecard(db, hazards, d, "district", "2026-02-01")[:2] == (0.0, 0)


def _dq(db: Path, bureau: str, dataset: str) -> dict:
    rows = query(
        db,
        "select strftime(kpi_month, '%Y-%m'), kpi_value, dates_due, dates_on_time, dates_missing"
        " from kpi_bureau_data_quality_monthly"
        f" where kpi_code = 'dq_on_time_rate' and bureau = '{bureau}' and dataset = '{dataset}'",
    )
    return {r[0]: r[1:] for r in rows}


def test_no_op_identical_file_counts_on_time(built: dict) -> None:
    """Finding 2 (+ v1.3): duplicates count for timeliness; an on-time file counts before its deadline."""
    assert _dq(built["db"], "hotline", "tickets")["2026-03"] == (1.0, 4, 4, 0)


def test_dq_calendar_per_dataset_and_not_submitted(built: dict) -> None:
    """Finding 5: each dataset's calendar starts at its first submission; never submitted → listed."""
    db = built["db"]
    assert set(_dq(db, "hotline", "tickets")) == {"2026-03"}  # no February: first submission 03-02
    assert _dq(db, "emergency", "incidents")["2026-02"] == (pytest.approx(1 / 19), 19, 1, 18)
    for bureau, dataset in (("govservice", "cases"), ("community", "service_requests")):
        assert _dq(db, bureau, dataset) == {}
    pending = query(db, "select dataset_key, submission_status from kpi_bureau_data_quality_not_submitted")
    keys = {k for k, _ in pending}
    assert {"govservice.cases", "community.service_requests", "emergency.risk_warnings"} <= keys
    assert not keys & {"hotline.tickets", "emergency.incidents", "grid.events", "grid.grids", "market.enterprises"}
    assert {s for _, s in pending} == {"not_submitted"}


def test_hotline_kpis_by_department(built: dict) -> None:
    """Finding 6: on-time closure and satisfaction broken down by department."""
    db = built["db"]
    rows = query(
        db,
        "select kpi_code, dimension_name, numerator, denominator, kpi_value from kpi_scorecard_monthly"
        " where kpi_month = date '2026-03-01' and district_code = '370402' and dimension_type = 'department'"
        " and kpi_code in ('hotline_on_time_closure_rate', 'citizen_satisfaction_score')",
    )
    got = {(r[0], r[1]): r[2:] for r in rows}
    assert got == {
        ("hotline_on_time_closure_rate", HOUSING): (1, 1, 1.0),
        ("hotline_on_time_closure_rate", URBAN): (0, 1, 0.0),
        ("citizen_satisfaction_score", HOUSING): (80, 1, 80.0),
        ("citizen_satisfaction_score", URBAN): (20, 1, 20.0),
        ("citizen_satisfaction_score", APPROVAL): (100, 1, 100.0),
    }
    # the district totals are unchanged: on time 1 / 2, satisfaction (80 + 20 + 100) / 3
    assert _scorecard(db, "hotline_on_time_closure_rate", "370402", "district")[:3] == (0.5, 1, 2)
    assert _scorecard(db, "citizen_satisfaction_score", "370402", "district")[:3] == (pytest.approx(200 / 3), 200, 3)


def test_grid_code_outside_districts_is_no_ones(built: dict) -> None:
    """Finding 4 (marts): a grid code whose first six digits are no district counts nowhere."""
    db = built["db"]
    assert query(db, "select district_code from fct_grid_events where event_id = 'EV-BAD'") == [(None,)]
    assert query(db, "select district_code from fct_community_requests where request_id = 'CR-BAD'") == [(None,)]
    outside = query(
        db,
        "select distinct district_code from kpi_scorecard_monthly"
        f" where district_code not in ({', '.join(repr(d) for d in DISTRICTS)}, '370400')",
    )
    assert outside == []
    # the department breakdown holds the same events as the district total (EV-1 only, 6 h)
    dept = query(
        db,
        "select denominator, kpi_value from kpi_scorecard_monthly where kpi_month = date '2026-03-01'"
        " and kpi_code = 'grid_event_handling_hours_mean' and dimension_type = 'department'",
    )
    assert dept == [(1, 6.0)]
    assert _scorecard(db, "community_request_good_rating_share", "370402", "district")[:3] == (0.0, 0, 1)


def test_o3_8h_window_missing_hour_and_empty_value(built: dict) -> None:
    """Finding 7: HJ 663-2013 windows ending 07:00 … 23:00, >= 6 valid of 8."""
    rows = query(
        built["db"],
        "select station_code, o3_8h_max, iaqi_o3, aqi, is_good_day from fct_air_quality_daily"
        f" where observation_date = date '{AQ_DAY}' order by 1",
    )
    by = {r[0]: r[1:] for r in rows}
    assert by["S_MISS"] == (pytest.approx(170.0), 110, 110, False)  # missing 07:00 row
    assert by["S_EMPTY"] == by["S_MISS"]  # an empty O3 value is the same as a missing row
    assert by["S_FEW"][0] is None  # fewer than 6 valid hours in every window


def test_corrections_that_remove_rows_reach_the_facts(built: dict) -> None:
    """Finding 3: corrections replace their key's rows in every downstream fact, whatever they hold.

    - cor.jsonl (air quality) is corrected by a file whose rows are all quarantined: its
      24 hours leave the hourly fact, the daily AQI and the good-day ratio of 370405; its
      00:00 shows the earlier upload's version (cor-early.jsonl) again.
    - k.csv (traffic) likewise: its intervals leave the 5-minute fact; hour 09 (k.csv only)
      leaves the hourly fact and hour 08 keeps k2.csv's 08:05 (1 interval, 30 vehicles).
    - p.jsonl (pipe pressure) is corrected with hour 11 only: hour 10 and its breach go, and so
      does the late reading of the day before (23:00) that its first version also held: an
      hour outside the file's business date is recomputed too.
    """
    db, lake, tmp, before = built["db"], built["lake"], built["tmp"], built["before"]
    assert before["hourly_s_cor"] == 24 and before["good_day_370405"] == 1.0
    assert before["traffic_hourly"] == [("08", 12, 140), ("09", 12, 120)]
    assert before["pipe_hours"] == [("10", True), ("11", False), ("23", True)]

    later = f"{COR_DAY[:-2]}05"  # the corrections are processed the next day
    for dataset, key in (("ecology.air_quality_hourly", AQ_COR_KEY), ("transport.traffic_flow", K_KEY)):
        _replace_key_rows(lake, dataset, key, [])
    _replace_key_rows(lake, "utilities.pipe_pressure", P_KEY, _pipe_rows((11,), 2, f"{later} 03:00:00"))
    _write_registry(
        lake,
        [
            {
                **_reg(AQ_COR_KEY, "accepted", f"{later} 02:00:00", f"{later} 03:05:00", version=2),
                "rows_received": 24,
                "rows_quarantined": 24,
            },
            {
                **_reg(K_KEY, "accepted", f"{later} 02:00:00", f"{later} 03:05:00", version=2),
                "rows_received": 24,
                "rows_quarantined": 24,
            },
            _reg(P_KEY, "accepted", f"{later} 02:00:00", f"{later} 03:05:00", version=2, rows=3),
        ],  # fmt: skip
        mode="append",
    )
    _dbt(tmp, lake, "build", "--select", "fct_air_quality_hourly+", "fct_traffic_flow_5min+",
         "fct_pipe_pressure_hourly+")  # fmt: skip

    # only 00:00 of the earlier upload is left (its version was superseded by cor.jsonl's)
    s_cor = query(db, "select strftime(observed_at, '%H'), o3, source_file_id from fct_air_quality_hourly"
                      " where station_code = 'S_COR'")  # fmt: skip
    assert s_cor == [("00", 30.0, source_file_id(AQ_EARLY_KEY))]
    assert query(db, "select has_daily_aqi from fct_air_quality_daily where station_code = 'S_COR'") == [(False,)]
    assert _scorecard(db, "air_quality_good_day_ratio", "370405", "district")[0] is None
    # the other stations are untouched
    assert query(db, "select count(*) from fct_air_quality_hourly where station_code <> 'S_COR'") == [(71,)]

    five = query(
        db, "select strftime(interval_start, '%H:%M'), vehicle_count, source_file_id from fct_traffic_flow_5min"
    )
    assert five == [("08:05", 30, source_file_id(K2_KEY))]
    hourly = query(
        db, "select strftime(hour_start, '%H'), interval_count, vehicle_count from fct_traffic_flow_hourly order by 1"
    )
    assert hourly == [("08", 1, 30)]

    pipe = query(db, "select strftime(hour_start, '%H'), is_breach, reading_count from fct_pipe_pressure_hourly")
    assert pipe == [("11", False, 3)]
    assert _scorecard(db, "pipe_pressure_breach_sensor_hours", "370403", "district")[:3] == (0.0, 0, 1)


pytestmark = pytest.mark.dbt  # runs dbt builds: deselected by make test-fast
