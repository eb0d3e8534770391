"""End to end for the ten non-hotline datasets: local raw Delta tables → `dbt build` → marts.

Like ``test_dbt_hotline``: no S3 server, the lake is a local directory
(``SHUZHONG_LAKE_URI``) and the raw schemas come from the data contracts exactly as
ingestion writes them. Values asserted here are worked out by hand: HJ 633-2012 AQI,
latest-version wins, PII hashed/masked/scrubbed, and an incremental second run that only
adds the new day's rows to the large facts.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from pipelines.ingest.keys import source_file_id
from tests.helpers import query, run_dbt

PII_KEY = "test-pii-key-datasets-5d81f0"
REPORT_AT = "2026-04-01 09:00:00"

PHONE = "13800001234"
PHONE_SPELLED = "+86 138-0000-1234"  # same number, another spelling → same hash
LANDLINE = "0632-3312345"
ID_NUMBER = "37040219900101122X"  # valid resident ID (check character X)
USCC = "91370400MA3C0XXXX0"  # shape only; a 法人 applicant's code is public and kept
ENTERPRISE_USCC = "91370402MA3N7ABC1K"
LEGAL_REP_ID = "370481198505052317"
NAME = "欧阳娜娜"


def _hmac(value: str) -> str:
    return hmac.new(PII_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()


def _schema(dataset: str) -> pa.Schema:
    from pipelines import lake
    from pipelines.contracts import all_contracts

    return lake.raw_schema(all_contracts()[dataset])


def _ts(s: str) -> datetime:
    return datetime.fromisoformat(s)


def _lineage(
    bureau: str, dataset: str, day: str, file: str, row: int, upload: str = "20:00:00", ingested: str | None = None
) -> dict:
    ingested_at = _ts(ingested) if ingested else _ts(f"{day} 23:00:00")
    return {
        "_source_key": f"{bureau}/{dataset}/{day}/{file}",
        "_source_etag": f"etag-{day}-{file}",
        "_file_sha256": hashlib.sha256(f"{bureau}/{dataset}/{day}/{file}".encode()).hexdigest(),
        "_row_number": row,
        "_business_date": date.fromisoformat(day),
        "_uploaded_at": _ts(f"{day} {upload}").replace(tzinfo=UTC),
        "_ingested_at": ingested_at.replace(tzinfo=UTC),
        "_run_id": f"run-{day}",
        "_contract_version": "1.0.0",
    }


# --- hotline (needed by dim_departments) ------------------------------------------------


def _hotline_rows() -> list[dict]:
    return [
        {
            "ticket_id": "ZZ12345-20260301-000001",
            "received_at": _ts("2026-03-01 09:00:00"),
            "channel": "电话",
            "request_type": "投诉",
            "topic": "市政设施",
            "district_code": "370402",
            "grid_code": "370402001001001",
            "caller_name": NAME,
            "caller_phone": PHONE,
            "content": f"电话{PHONE}",
            "first_receiver_dept": "市12345热线",
            "handling_dept": "市住建局",
            "transfer_count": 0,
            "closed_at": None,
            "deadline_hours": 24,
            "satisfaction": None,
            **_lineage("hotline", "tickets", "2026-03-01", "a.csv", 1),
        }
    ]


# --- govservice.cases -----------------------------------------------------------------


def _case(
    case_id: str,
    day: str,
    *,
    completed: str | None,
    rating: str | None,
    applicant_type: str,
    applicant_id: str,
    channel: str = "掌上",
    row: int = 1,
    file: str = "a.csv",
) -> dict:
    return {
        "case_id": case_id,
        "item_code": "11370400MB28X0001",
        "item_name": "不动产登记",
        "channel": channel,
        "applied_at": _ts("2026-03-01 10:00:00"),
        "completed_at": _ts(completed) if completed else None,
        "promised_days": 5,
        "dept": " 市自然资源和规划局 ",
        "district_code": "370402",
        "applicant_type": applicant_type,
        "applicant_id": applicant_id,
        "visits": 0,
        "rating": rating,
        **_lineage("govservice", "cases", day, file, row),
    }


GOVSERVICE = [
    # C1: open on 03-01, completed and rated in the 03-02 file → the 03-02 version wins.
    _case("GS-001", "2026-03-01", completed=None, rating=None, applicant_type="自然人", applicant_id=ID_NUMBER),
    _case(
        "GS-001",
        "2026-03-02",
        completed="2026-03-02 15:00:00",
        rating="满意",
        applicant_type="自然人",
        applicant_id=ID_NUMBER.lower(),
    ),
    # C2: 法人 applicant: the USCC is public and kept.
    _case(
        "GS-002",
        "2026-03-01",
        completed="2026-03-01 16:00:00",
        rating="非常满意",
        applicant_type="法人",
        applicant_id=USCC,
        channel="窗口",
        row=2,
    ),
]

# --- market.enterprises ---------------------------------------------------------------

MARKET = [
    {
        "uscc": ENTERPRISE_USCC,
        "name": "枣庄市某某科技有限公司",
        "legal_rep_name": NAME,
        "legal_rep_id": LEGAL_REP_ID,
        "entity_type": "有限责任公司",
        "industry_code": "I6510",
        "registered_capital_10k_cny": 100.0,
        "established_on": date(2020, 5, 1),
        "status": "存续",
        "address": "市中区光明路1号",
        "district_code": "370402",
        **_lineage("market", "enterprises", "2026-03-01", "a.csv", 1),
    },
    # Later registration change: capital raised, status 在业.
    {
        "uscc": ENTERPRISE_USCC,
        "name": "枣庄市某某科技有限公司",
        "legal_rep_name": NAME,
        "legal_rep_id": LEGAL_REP_ID,
        "entity_type": "有限责任公司",
        "industry_code": "I6510",
        "registered_capital_10k_cny": 500.0,
        "established_on": date(2020, 5, 1),
        "status": "在业",
        "address": "市中区光明路1号",
        "district_code": "370402",
        **_lineage("market", "enterprises", "2026-03-05", "a.csv", 1),
    },
]

# --- ecology.air_quality_hourly ---------------------------------------------------------
# S1 on 2026-03-01, 24 hours, all six pollutants. Base hour: PM2.5 80, PM10 100, SO2 10,
# NO2 50, O3 120, CO 1. Hourly IAQIs (1-hour breakpoints; PM 24-hour):
#   PM2.5 80  → ceil(100 + (80-75)*50/40)   = ceil(106.25) = 107
#   PM10 100  → 50 + (100-50)*50/100        = 75
#   SO2 10    → ceil(10*50/150)             = ceil(3.33)  = 4
#   NO2 50    → 50*50/100                   = 25
#   O3 120    → ceil(120*50/160)            = ceil(37.5)  = 38
#   CO 1      → 1*50/5                      = 10
#   → AQI 107, primary PM2.5.
# Hour 10: SO2 900 > 800 → 24-hour breakpoints: ceil(200 + (900-800)*100/800) = ceil(212.5) = 213,
#   AQI 213, primary SO2.
# Hour 14: O3 1300 above the top 1-hour breakpoint (1200) → IAQI 500, AQI 500, primary O3.
# Hour 3: submitted AQI 42 → aqi = 42 (submitted wins), aqi_computed still 107.
# Hour 5 is submitted twice; the later upload (PM2.5 35 → IAQI 50, max 75 from PM10) wins.
# Daily (24 valid hours):
#   PM2.5 24h avg: (23*80 + 35)/24 = 78.125 → ceil(100 + 3.125*50/40) = ceil(103.90625) = 104
#   O3 8h max: windows containing hour 14 → (7*120 + 1300)/8 = 267.5 > 265 →
#     ceil(200 + 2.5*100/535) = ceil(200.467) = 201  → daily AQI 201, primary O3, not a good day.
# S2 on 2026-03-01: only 19 hours → no daily AQI.


def _aq(
    station: str,
    hour: datetime,
    *,
    day: str,
    file: str = "s1.jsonl",
    row: int = 1,
    upload: str = "01:00:00",
    **over: float | int | None,
) -> dict:
    values = {"pm25": 80.0, "pm10": 100.0, "so2": 10.0, "no2": 50.0, "o3": 120.0, "co": 1.0, "aqi": None}
    values.update(over)
    return {
        "station_code": station,
        "station_name": f"站点{station}",
        "observed_at": hour,
        "district_code": "370402",
        **values,
        **_lineage("ecology", "air_quality_hourly", day, file, row, upload=upload, ingested=f"{day} 02:00:00"),
    }


def _air_rows(day: str) -> list[dict]:
    d0 = _ts(f"{day} 00:00:00")
    rows = []
    for h in range(24):
        over: dict = {}
        if h == 10:
            over["so2"] = 900.0
        if h == 14:
            over["o3"] = 1300.0
        if h == 3:
            over["aqi"] = 42
        rows.append(_aq("S1", d0 + timedelta(hours=h), day=day, row=h + 1, **over))
    # correction of hour 5 in a later upload (another file of the same date)
    rows.append(_aq("S1", d0 + timedelta(hours=5), day=day, file="s1-fix.jsonl", upload="01:30:00", pm25=35.0))
    rows += [_aq("S2", d0 + timedelta(hours=h), day=day, file="s2.jsonl", row=h + 1) for h in range(19)]
    return rows


# --- transport.traffic_flow -------------------------------------------------------------


def _traffic_rows(day: str) -> list[dict]:
    rows = []
    t0 = _ts(f"{day} 08:00:00")
    for i in range(12):  # 08:00–08:55, 10 vehicles at 40 km/h, congestion 2.0 (interval 0: 4.0)
        rows.append(
            {
                "checkpoint_id": "K1",
                "road_name": "解放路",
                "district_code": "370402",
                "interval_start": t0 + timedelta(minutes=5 * i),
                "vehicle_count": 10,
                "avg_speed_kmh": 40.0,
                "congestion_index": 4.0 if i == 0 else 2.0,
                **_lineage(
                    "transport", "traffic_flow", day, "k.csv", i + 1, upload="01:00:00", ingested=f"{day} 02:00:00"
                ),
            }
        )
    # 08:05 re-sent in a later upload with 30 vehicles at 20 km/h → replaces the first version
    rows.append(
        {
            **rows[1],
            "vehicle_count": 30,
            "avg_speed_kmh": 20.0,
            **_lineage("transport", "traffic_flow", day, "k2.csv", 1, upload="01:30:00", ingested=f"{day} 02:00:00"),
        }
    )
    return rows


# --- utilities.pipe_pressure ------------------------------------------------------------


def _pipe_rows(day: str) -> list[dict]:
    rows = []
    for hour, pressures in ((10, [0.4, 0.7, 0.5]), (11, [0.3, 0.35, 0.4])):
        for m, p in enumerate(pressures):
            rows.append(
                {
                    "sensor_id": "P1",
                    "network_type": "供水",
                    "district_code": "370403",
                    "measured_at": _ts(f"{day} {hour:02d}:{m:02d}:00"),
                    "pressure_mpa": p,
                    "threshold_low": 0.2,
                    "threshold_high": 0.6,
                    **_lineage(
                        "utilities",
                        "pipe_pressure",
                        day,
                        "p.jsonl",
                        len(rows) + 1,
                        upload="01:00:00",
                        ingested=f"{day} 02:00:00",
                    ),
                }
            )
    return rows


# --- emergency ----------------------------------------------------------------------------

INCIDENTS = [
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
        "loss_10k_cny": 1.5,
        **_lineage("emergency", "incidents", "2026-03-03", "a.csv", 1),
    },
    {
        "incident_id": "INC-1",
        "incident_type": "电动车充电事故",
        "occurred_at": _ts("2026-03-03 21:00:00"),
        "reported_at": _ts("2026-03-03 21:10:00"),
        "district_code": "370402",
        "grid_code": "370402001001001",
        "severity": "一般",
        "deaths": 0,
        "injuries": 1,
        "loss_10k_cny": 2.0,
        **_lineage("emergency", "incidents", "2026-03-04", "a.csv", 1),
    },
]
WARNINGS = [
    {
        "warning_id": "W-1",
        "risk_type": "电动车充电事故",
        "issued_at": _ts("2026-03-03 08:00:00"),
        "district_code": "370402",
        "grid_code": "370402001001001",
        "level": "黄色",
        "window_hours": 24,
        "source": "物联感知",
        **_lineage("emergency", "risk_warnings", "2026-03-03", "a.csv", 1),
    },
]

# --- grid ----------------------------------------------------------------------------------


def _grid(code: str, day: str, households: int, row: int) -> dict:
    return {
        "grid_code": code,
        "grid_name": f"网格{code[-3:]}",
        "street_name": "光明街道",
        "community_name": "光明社区",
        "district_code": code[:6],
        "population": households * 3,
        "households": households,
        "gridworker_id": "GW001",
        **_lineage("grid", "grids", day, "grids.xlsx", row),
    }


GRIDS = [
    _grid("370402001001001", "2026-02-01", 100, 1),
    _grid("370402001001002", "2026-02-01", 200, 2),
    # new full snapshot: grid 002 dissolved, grid 001 grew
    _grid("370402001001001", "2026-03-01", 120, 1),
]
GRID_EVENTS = [
    {
        "event_id": "EV-1",
        "grid_code": "370402001001001",
        "reporter_id": "GW001",
        "reported_at": _ts("2026-03-02 09:00:00"),
        "category": "电动车充电隐患",
        "description": f"楼道飞线充电，联系人{PHONE}，身份证{ID_NUMBER}",
        "handling_dept": "市中区消防救援大队",
        "resolved_at": _ts("2026-03-02 15:30:00"),
        "status": "已办结",
        **_lineage("grid", "events", "2026-03-02", "a.csv", 1),
    },
]

# --- community -----------------------------------------------------------------------------

COMMUNITY = [
    {
        "request_id": "CR-1",
        "community_name": "光明社区",
        "grid_code": "370402001001001",
        "service_type": "一键报修",
        "channel": "手机APP",
        "submitted_at": _ts("2026-03-02 08:00:00"),
        "completed_at": None,
        "resident_phone": PHONE_SPELLED,
        "rating": None,
        **_lineage("community", "service_requests", "2026-03-02", "a.csv", 1),
    },
    {
        "request_id": "CR-1",
        "community_name": "光明社区",
        "grid_code": "370402001001001",
        "service_type": "一键报修",
        "channel": "手机APP",
        "submitted_at": _ts("2026-03-02 08:00:00"),
        "completed_at": _ts("2026-03-03 10:00:00"),
        "resident_phone": PHONE_SPELLED,
        "rating": 5,
        **_lineage("community", "service_requests", "2026-03-03", "a.csv", 1),
    },
    {
        "request_id": "CR-2",
        "community_name": "光明社区",
        "grid_code": "370402001001001",
        "service_type": "预约物业",
        "channel": "电话",
        "submitted_at": _ts("2026-03-02 09:00:00"),
        "completed_at": None,
        "resident_phone": LANDLINE,
        "rating": None,
        **_lineage("community", "service_requests", "2026-03-02", "a.csv", 2),
    },
]

DAY1 = "2026-03-01"
DAY2 = "2026-03-02"


def _write(lake: Path, dataset: str, rows: list[dict], mode: str = "overwrite") -> None:
    bureau, name = dataset.split(".")
    table = pa.Table.from_pylist(rows, schema=_schema(dataset))
    write_deltalake(str(lake / "raw" / bureau / name), table, mode=mode)


def _dbt(tmp: Path, lake: Path, *args: str) -> str:
    return run_dbt(tmp, lake, *args, pii_key=PII_KEY, report_at=REPORT_AT)


_query = query


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("dbt_datasets")
    lake = tmp / "lake"
    (tmp / "warehouse").mkdir()
    _write(lake, "hotline.tickets", _hotline_rows())
    _write(lake, "govservice.cases", GOVSERVICE)
    _write(lake, "market.enterprises", MARKET)
    _write(lake, "ecology.air_quality_hourly", _air_rows(DAY1))
    _write(lake, "transport.traffic_flow", _traffic_rows(DAY1))
    _write(lake, "utilities.pipe_pressure", _pipe_rows(DAY1))
    _write(lake, "emergency.incidents", INCIDENTS)
    _write(lake, "emergency.risk_warnings", WARNINGS)
    _write(lake, "grid.grids", GRIDS)
    _write(lake, "grid.events", GRID_EVENTS)
    _write(lake, "community.service_requests", COMMUNITY)
    out = _dbt(tmp, lake, "build")
    db = tmp / "warehouse" / "work.duckdb"
    first = {
        t: _query(db, f"select count(*) from {t}")[0][0]
        for t in (
            "fct_air_quality_hourly",
            "fct_traffic_flow_5min",
            "fct_traffic_flow_hourly",
            "fct_pipe_pressure_hourly",
        )
    }
    return {"tmp": tmp, "lake": lake, "db": db, "stdout": out, "first_counts": first}


def test_aqi_hourly_hand_worked(built: dict) -> None:
    rows = _query(
        built["db"],
        "select strftime(observed_at, '%H'), iaqi_pm25, iaqi_pm10, iaqi_so2, iaqi_no2,"
        " iaqi_o3, iaqi_co, aqi_computed, aqi, primary_pollutant, source_file_id"
        " from fct_air_quality_hourly where station_code = 'S1' and observation_date = '2026-03-01'",
    )
    by_hour = {r[0]: r[1:] for r in rows}
    assert len(by_hour) == 24 and len(rows) == 24
    assert by_hour["00"][:9] == (107, 75, 4, 25, 38, 10, 107, 107, "PM2.5")
    assert by_hour["10"][2] == 213 and by_hour["10"][6:9] == (213, 213, "SO2")
    assert by_hour["14"][4] == 500 and by_hour["14"][6:9] == (500, 500, "O3")
    assert by_hour["03"][6:9] == (107, 42, None)  # submitted AQI 42 wins; ≤ 50 → no primary
    # hour 05: the later upload (PM2.5 35 → IAQI 50) replaced the first version
    assert by_hour["05"][0] == 50 and by_hour["05"][6:9] == (75, 75, "PM10")
    assert by_hour["05"][9] == source_file_id("ecology/air_quality_hourly/2026-03-01/s1-fix.jsonl")


def test_aqi_daily_hand_worked(built: dict) -> None:
    rows = _query(
        built["db"],
        "select station_code, valid_hour_count, has_daily_aqi, iaqi_pm25, o3_8h_max,"
        " iaqi_o3, aqi, primary_pollutant, is_good_day from fct_air_quality_daily"
        " where observation_date = '2026-03-01' order by station_code",
    )
    s1, s2 = rows
    assert s1[:4] == ("S1", 24, True, 104)
    assert s1[4] == pytest.approx(267.5)
    assert s1[5:] == (201, 201, "O3", False)
    assert s2 == ("S2", 19, False, None, pytest.approx(120.0), None, None, None, None)


def test_latest_version_and_dims(built: dict) -> None:
    db = built["db"]
    gs = {
        r[0]: r[1:]
        for r in _query(
            db,
            "select case_id, is_completed, rating_score, is_mobile,"
            " applicant_id_hash, applicant_uscc, department_id, source_file_id from fct_service_cases",
        )
    }
    assert gs["GS-001"][:3] == (True, 80, True)
    assert gs["GS-001"][3] == _hmac(ID_NUMBER)  # lower-case x/X normalised; hash of the canonical ID
    assert gs["GS-001"][4] is None
    assert gs["GS-001"][6] == source_file_id("govservice/cases/2026-03-02/a.csv")
    assert gs["GS-002"][3:5] == (None, USCC)
    assert gs["GS-002"][5] == hashlib.md5("市自然资源和规划局".encode()).hexdigest()

    ent = _query(
        db,
        "select enterprise_id, legal_rep_name_masked, registered_capital_10k_cny, status, is_active"
        " from dim_enterprises",
    )
    assert ent == [(ENTERPRISE_USCC, "欧阳**", 500.0, "在业", True)]
    assert "legal_rep_id" not in {r[0] for r in _query(db, "describe dim_enterprises")}

    inc = _query(db, "select incident_id, injuries, is_ev_charging, business_date from fct_incidents")
    assert inc == [("INC-1", 1, True, date(2026, 3, 4))]

    grids = {r[0]: r[1:] for r in _query(db, "select grid_code, households, is_active from dim_grids")}
    assert grids == {"370402001001001": (120, True), "370402001001002": (200, False)}
    districts = {r[0]: r[1:] for r in _query(db, "select district_code, grid_count, households from dim_districts")}
    assert districts["370402"] == (1, 120) and districts["370403"] == (0, None)

    depts = {r[1]: r[0] for r in _query(db, "select department_id, department_name from dim_departments")}
    assert set(depts) == {"市12345热线", "市住建局", "市自然资源和规划局", "市中区消防救援大队"}
    assert all(v == hashlib.md5(k.encode()).hexdigest() for k, v in depts.items())

    ev = _query(
        db, "select district_code, handling_hours, is_ev_charging_hazard, description_scrubbed from fct_grid_events"
    )
    assert ev == [("370402", 6.5, True, "楼道飞线充电，联系人[电话]，身份证[身份证号]")]

    cr = {
        r[0]: r[1:]
        for r in _query(
            db,
            "select request_id, district_code, is_completed, rating, is_rated_good,"
            " resident_phone_hash from fct_community_requests",
        )
    }
    assert cr["CR-1"] == ("370402", True, 5, True, _hmac(PHONE))
    assert cr["CR-2"][4] == _hmac("06323312345")

    w = _query(db, "select warning_id, expires_at from fct_risk_warnings")
    assert w == [("W-1", _ts("2026-03-04 08:00:00"))]
    items = _query(db, "select item_code, item_name, case_count from dim_service_items")
    assert items == [("11370400MB28X0001", "不动产登记", 2)]


def test_traffic_and_pipe(built: dict) -> None:
    db = built["db"]
    five = {
        r[0]: r[1:]
        for r in _query(
            db, "select strftime(interval_start, '%H:%M'), vehicle_count, is_peak_hour from fct_traffic_flow_5min"
        )
    }
    assert len(five) == 12 and five["08:05"] == (30, True)
    hourly = _query(
        db,
        "select checkpoint_id, interval_count, vehicle_count, avg_speed_kmh, avg_congestion_index"
        " from fct_traffic_flow_hourly",
    )
    # 11 intervals × 10 vehicles @ 40 + 30 vehicles @ 20 → 140 vehicles, (440*10 ... ) weighted speed
    assert hourly[0][:3] == ("K1", 12, 140)
    assert hourly[0][3] == pytest.approx((110 * 40 + 30 * 20) / 140)
    assert hourly[0][4] == pytest.approx((4.0 + 11 * 2.0) / 12)
    pipe = {
        r[0]: r[1:]
        for r in _query(
            db,
            "select strftime(hour_start, '%H'), reading_count, above_high_count,"
            " is_breach, max_pressure_mpa from fct_pipe_pressure_hourly",
        )
    }
    assert pipe == {"10": (3, 1, True, 0.7), "11": (3, 0, False, 0.4)}


def test_no_clear_pii_in_marts(built: dict) -> None:
    db = built["db"]
    tables = [
        r[0] for r in _query(db, "select table_name from information_schema.tables where table_type = 'BASE TABLE'")
    ]
    assert "fct_service_cases" in tables
    # every materialised table (marts, incremental facts, seeds)
    for table in tables:
        text = repr(_query(db, f'select * from "{table}"'))
        for clear in (PHONE, "3312345", ID_NUMBER, ID_NUMBER.lower(), LEGAL_REP_ID, NAME):
            assert clear not in text, (table, "clear PII found")
    assert PII_KEY not in built["stdout"]
    for path in [*(built["tmp"] / "target").rglob("*"), *(built["tmp"] / "logs").rglob("*")]:
        if path.is_file():
            assert PII_KEY.encode() not in path.read_bytes(), path


def test_incremental_second_day_adds_only_new_rows(built: dict) -> None:
    """Day 2 arrives: the large facts append its rows and leave day 1 untouched."""
    db, lake, tmp = built["db"], built["lake"], built["tmp"]
    # Mark the day-1 rows already in the facts; an incremental run must not rewrite them.
    with duckdb.connect(str(db)) as con:
        for t in (
            "fct_air_quality_hourly",
            "fct_traffic_flow_5min",
            "fct_traffic_flow_hourly",
            "fct_pipe_pressure_hourly",
        ):
            con.execute(f"update {t} set file_sha256 = 'day1-marker'")
    ingested = lambda rows: [{**r, "_ingested_at": r["_ingested_at"] + timedelta(days=1)} for r in rows]  # noqa: E731
    _write(lake, "ecology.air_quality_hourly", ingested(_air_rows(DAY2)), mode="append")
    _write(lake, "transport.traffic_flow", ingested(_traffic_rows(DAY2)), mode="append")
    _write(lake, "utilities.pipe_pressure", ingested(_pipe_rows(DAY2)), mode="append")
    _dbt(
        tmp, lake, "build", "--select", "fct_air_quality_hourly+", "fct_traffic_flow_5min+", "fct_pipe_pressure_hourly+"
    )

    first = built["first_counts"]
    for table, per_day in (
        ("fct_air_quality_hourly", 43),
        ("fct_traffic_flow_5min", 12),
        ("fct_traffic_flow_hourly", 1),
        ("fct_pipe_pressure_hourly", 2),
    ):
        markers = dict(_query(db, f"select file_sha256 = 'day1-marker', count(*) from {table} group by 1"))
        assert first[table] == per_day, table
        assert markers == {True: per_day, False: per_day}, table  # day 1 kept, day 2 added
    daily = _query(db, "select observation_date, aqi from fct_air_quality_daily where station_code = 'S1' order by 1")
    assert daily == [(date(2026, 3, 1), 201), (date(2026, 3, 2), 201)]


def test_incremental_correction_replaces_the_files_rows(built: dict) -> None:
    """Day 2's k.csv is re-submitted with only 08:00–08:25: its other intervals disappear.

    Runs after the incremental test (module state): the same overwrite-with-predicate
    commit as ``lake.replace_source_rows``.
    """

    db, lake, tmp = built["db"], built["lake"], built["tmp"]
    key = f"transport/traffic_flow/{DAY2}/k.csv"
    corrected = [
        {**r, "vehicle_count": 50, "_ingested_at": r["_ingested_at"] + timedelta(days=2)}
        for r in _traffic_rows(DAY2)
        if r["_source_key"] == key and r["interval_start"].minute < 30
    ]
    assert len(corrected) == 6
    write_deltalake(
        str(lake / "raw" / "transport" / "traffic_flow"),
        pa.Table.from_pylist(corrected, schema=_schema("transport.traffic_flow")),
        mode="overwrite",
        predicate=f"_source_key = '{key}'",
    )
    _dbt(tmp, lake, "build", "--select", "fct_traffic_flow_5min+")
    day2 = _query(
        db,
        "select strftime(interval_start, '%H:%M'), vehicle_count, source_file_id"
        f" from fct_traffic_flow_5min where interval_date = '{DAY2}' order by 1",
    )
    # 08:05 keeps the k2.csv version (later upload of the same date); the rest come from
    # the corrected k.csv; 08:30–08:55 are gone with the old version of k.csv.
    assert [r[0] for r in day2] == ["08:00", "08:05", "08:10", "08:15", "08:20", "08:25"]
    assert dict((r[0], r[1]) for r in day2) == {
        "08:00": 50,
        "08:05": 30,
        "08:10": 50,
        "08:15": 50,
        "08:20": 50,
        "08:25": 50,
    }
    hourly = _query(db, f"select interval_count, vehicle_count from fct_traffic_flow_hourly where hour_date = '{DAY2}'")
    assert hourly == [(6, 5 * 50 + 30)]
    # day 1 untouched
    assert _query(db, "select count(*) from fct_traffic_flow_5min where file_sha256 = 'day1-marker'") == [(12,)]


pytestmark = pytest.mark.dbt  # runs dbt builds: deselected by make test-fast
