"""The working-day calendar (spec §1, v1.3): seed vs chinese-calendar, deadlines, missing-year report.

Expected deadlines are written by hand from the State Council's 2026 holiday notice
(国办发明电〔2025〕7号): 劳动节 5月1日至5日放假调休，5月9日（周六）上班；国庆节 10月1日至7日
放假调休，9月20日（周日）、10月10日（周六）上班. 2027 has no notice in the calendar yet.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest
from dagster import SkipReason, build_sensor_context
from deltalake import write_deltalake

from pipelines import workdays
from pipelines.defs.operations import status
from tests.helpers import query, run_dbt

SH = ZoneInfo("Asia/Shanghai")


def at(y: int, m: int, d: int, hh: int) -> datetime:
    return datetime(y, m, d, hh, tzinfo=SH)


# -- the configuration file -----------------------------------------------------------


def test_committed_calendar_matches_chinese_calendar() -> None:
    cal = workdays.load()
    assert {2024, 2025, 2026} <= cal.years
    assert workdays.library_mismatches() == []
    text = workdays.CALENDAR_PATH.read_text(encoding="utf-8")
    assert workdays.generate(sorted(cal.years)) == text  # `shuzhong calendar generate` is a no-op
    # Spot checks from the 2026 notice, by hand.
    assert "2026-10-07,holiday,国庆节,2026" in text
    assert "2026-10-10,makeup_workday,国庆节,2026" in text
    assert "2026-09-20,makeup_workday,国庆节,2026" in text
    assert "2026-05-09,makeup_workday,劳动节,2026" in text


def test_a_year_added_by_hand_is_kept_and_the_library_stops_at_2026(tmp_path: Path) -> None:
    with pytest.raises(NotImplementedError):
        workdays.library_rows(2027)
    path = tmp_path / "cal.csv"
    text = workdays.CALENDAR_PATH.read_text(encoding="utf-8")
    path.write_text(text + "2027-01-01,holiday,元旦,2027\n", encoding="utf-8")
    assert workdays.library_mismatches(path) == []  # 2027 is not the library's to check
    regenerated = workdays.generate([2026], path)
    assert regenerated.endswith("2027-01-01,holiday,元旦,2027\n")
    assert workdays.parse(regenerated).holds(2027)


def test_a_malformed_row_is_refused() -> None:
    with pytest.raises(ValueError):
        workdays.parse("date,kind,name,year\n2026-10-01,day_off,国庆节,2026\n")
    with pytest.raises(ValueError):
        workdays.parse("date,kind,name,year\n2026-10-01,holiday,国庆节,2027\n")


# -- deadlines (Python) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("cadence", "business_date", "due", "provisional"),
    [
        ("daily", date(2026, 9, 30), at(2026, 10, 8, 9), False),  # 国庆 Oct 1–7 off
        ("daily", date(2026, 10, 9), at(2026, 10, 10, 9), False),  # Sat Oct 10: make-up working day
        ("daily", date(2026, 10, 10), at(2026, 10, 12, 9), False),  # Sun Oct 11 off
        ("daily", date(2026, 4, 30), at(2026, 5, 6, 9), False),  # across the month: 劳动节 May 1–5
        ("daily", date(2026, 1, 30), at(2026, 2, 2, 9), False),  # Fri → Mon, across the month
        ("daily", date(2026, 3, 4), at(2026, 3, 5, 9), False),  # an ordinary Wednesday
        ("hourly", date(2026, 9, 30), at(2026, 10, 1, 2), False),  # machine feeds: calendar days
        ("5min", date(2026, 10, 3), at(2026, 10, 4, 2), False),
        ("daily", date(2026, 12, 31), at(2027, 1, 1, 9), True),  # 2027 not held: Mon–Fri
        ("daily", date(2027, 1, 8), at(2027, 1, 11, 9), True),  # Fri → Mon, provisional
    ],
)
def test_deadline_for(cadence: str, business_date: date, due: datetime, provisional: bool) -> None:
    assert workdays.deadline_for(cadence, business_date) == (due, provisional)


def test_deadline_from_the_contract_and_reference_data() -> None:
    hotline = {"day_offset": 1, "time": "09:00", "timezone": "Asia/Shanghai"}
    assert workdays.deadline_for("daily", date(2026, 9, 30), hotline) == (at(2026, 10, 8, 9), False)
    assert workdays.deadline_for("reference", date(2026, 9, 30)) is None


# -- the missing next year ------------------------------------------------------------


def test_missing_next_year_is_reported_from_december_first(monkeypatch: pytest.MonkeyPatch) -> None:
    assert workdays.missing_year_message(date(2026, 11, 30)) is None
    message = workdays.missing_year_message(date(2026, 12, 1))
    assert message and "2027" in message and "cn_workday_calendar.csv" in message
    assert status.duty_warnings(today=date(2026, 12, 1)) == [message]
    assert status.duty_warnings(today=date(2026, 11, 30)) == []
    assert workdays.missing_year_message(date(2025, 12, 1)) is None  # 2026 is held

    from pipelines.defs.ingestion.sensors import calendar_sensor

    monkeypatch.setattr(workdays, "today", lambda: date(2026, 12, 1))
    result = calendar_sensor(build_sensor_context())
    assert isinstance(result, SkipReason) and result.skip_message == message
    monkeypatch.setattr(workdays, "today", lambda: date(2026, 6, 1))
    assert "2027" not in calendar_sensor(build_sensor_context()).skip_message


def test_shuzhong_status_prints_the_warning(capsys: pytest.CaptureFixture[str]) -> None:
    from pipelines.tools import cli

    assert cli.main(["status", "--today", "2026-12-01"]) == 0
    assert "WARNING working-day calendar has no 2027" in capsys.readouterr().out
    assert cli.main(["status", "--today", "2026-11-30"]) == 0
    assert "no warnings" in capsys.readouterr().out


# -- deadlines in the data-quality mart (dbt, the committed seed) ---------------------

REPORT_AT = "2027-01-20 10:00:00"  # Asia/Shanghai
# (business date, first accepted upload as Asia/Shanghai wall time)
HOTLINE = [
    ("2026-04-30", "2026-05-06 08:30"),  # due 05-06 09:00 → on time (D+1 would be late)
    ("2026-09-30", "2026-10-08 08:59"),  # due 10-08 09:00 → on time
    ("2026-10-09", "2026-10-10 09:30"),  # due Sat 10-10 09:00 (make-up day) → late
    ("2027-01-08", "2027-01-11 08:00"),  # due Mon 01-11 09:00, provisional → on time
]
AIR = [("2026-09-30", "2026-10-01 01:30")]  # machine feed: D+1 02:00 on a holiday → on time


def _registry() -> pa.Table:
    from pipelines import lake

    rows = []
    for i, (dataset, day, uploaded) in enumerate(
        [("hotline.tickets", d, u) for d, u in HOTLINE] + [("ecology.air_quality_hourly", d, u) for d, u in AIR]
    ):
        bureau, name = dataset.split(".")
        key = f"{bureau}/{name}/{day}/f{i}.csv"
        up = datetime.fromisoformat(uploaded).replace(tzinfo=SH).astimezone(UTC)
        rows.append(
            {
                "source_key": key,
                "source_etag": f"e{i}",
                "file_sha256": hashlib.sha256(key.encode()).hexdigest(),
                "bureau": bureau,
                "dataset": name,
                "business_date": date.fromisoformat(day),
                "status": "accepted",
                "rows_received": 1,
                "rows_accepted": 1,
                "rows_quarantined": 0,
                "rows_superseded": 0,
                "raw_table_version": i,
                "contract_version": "1.0.0",
                "uploaded_at": up,
                "processed_at": up + timedelta(minutes=1),
                "run_id": f"r{i}",
                "receipt_key": f"{key}.json",
                "reason": None,
            }
        )
    return pa.Table.from_pylist(rows, schema=lake.REGISTRY_SCHEMA)


@pytest.fixture(scope="module")
def dq_mart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("dbt_calendar")
    lake = tmp / "lake"
    (tmp / "warehouse").mkdir()
    write_deltalake(str(lake / "_meta" / "files"), _registry())
    run_dbt(
        tmp,
        lake,
        "build",
        "--select",
        "+kpi_bureau_data_quality_monthly",
        "--exclude-resource-type",
        "unit_test",
        "--exclude-resource-type",
        "test",
        pii_key="k" * 32,
        report_at=REPORT_AT,
    )
    return tmp / "warehouse" / "work.duckdb"


def _on_time(db: Path, dataset: str, month: str) -> tuple:
    rows = query(
        db,
        "select dates_on_time, dates_late, is_deadline_provisional from kpi_bureau_data_quality_monthly"
        f" where bureau || '.' || dataset = '{dataset}' and kpi_month = date '{month}'"
        " and kpi_code = 'dq_on_time_rate'",
    )
    assert len(rows) == 1, rows
    return rows[0]


@pytest.mark.dbt
def test_dq_mart_deadlines_follow_the_working_day_calendar(dq_mart: Path) -> None:
    assert _on_time(dq_mart, "hotline.tickets", "2026-04-01") == (1, 0, False)
    assert _on_time(dq_mart, "hotline.tickets", "2026-09-01") == (1, 0, False)
    assert _on_time(dq_mart, "hotline.tickets", "2026-10-01") == (0, 1, False)
    assert _on_time(dq_mart, "hotline.tickets", "2026-12-01")[2] is True  # Dec 31 → due in 2027
    assert _on_time(dq_mart, "hotline.tickets", "2027-01-01") == (1, 0, True)
    assert _on_time(dq_mart, "ecology.air_quality_hourly", "2026-09-01") == (1, 0, False)


# -- receipts (real S3 and Delta, through ingest.process) -----------------------------


@pytest.mark.parametrize(
    ("business_date", "deadline", "provisional"),
    [
        ("2027-01-04", "2027-01-05T09:00:00+08:00", True),  # 2027 not in the calendar: Mon–Fri
        ("2026-09-30", "2026-10-08T09:00:00+08:00", False),  # 国庆 Oct 1–7 off
    ],
)
def test_receipt_carries_the_deadline(
    lake_root: str, unique: str, business_date: str, deadline: str, provisional: bool
) -> None:
    from pipelines import ingest
    from tests.helpers import csv_bytes, submit_and_ingest, ticket

    ymd = business_date.replace("-", "")
    rows = [ticket(1, 工单编号=f"ZZ12345-{ymd}-000001", 受理时间=f"{business_date} 09:00")]
    key = f"hotline/tickets/{business_date}/calendar-{unique}.csv"
    receipt = submit_and_ingest(key, csv_bytes(rows))
    assert receipt.status == "accepted" and receipt.rows_accepted == 1  # intake goes on
    read = ingest.read_receipt(key, identity="hotline")  # as the bureau reads it back
    assert read is not None
    assert (read["deadline"], read["deadline_provisional"]) == (deadline, provisional)
    assert ("暂定" in receipt.summary_zh()) is provisional
