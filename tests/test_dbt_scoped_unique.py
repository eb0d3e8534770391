"""The uniqueness test of fct_traffic_flow_5min looks only at keys that can have changed (real dbt).

Once the test has passed, its mark in ``hub_tested_marks`` (the fact's build mark then) records up to where the fact's
rows are tested. The next test counts, over the whole fact, the keys of rows ingested after it
and of rows on the business dates of files corrected after it (a correction uncovers older
versions, with their old ``ingested_at``). A duplicate needs one such row, so each case below
plants one by hand into the built fact (as a faulty model would) and expects the test to fail;
a failed test leaves the mark, and a rebuild from scratch clears it (the whole fact is tested).

Timeline (UTC, day COR_DAY): k.csv's 24 rows ingested 18:00, first build with visible_through
T0 = 18:30.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from pipelines.defs.transform.dbt_assets import VISIBLE_THROUGH_ENV
from tests import test_dbt_kpi_findings as kf
from tests.helpers import query, run_dbt

T0 = f"{kf.COR_DAY}T18:30:00+00:00"
TEST = "fct_traffic_flow_5min,test_name:unique_combination"  # the fact's uniqueness test


def _dbt(tmp, lake, *args: str, check: bool = True) -> str:
    return run_dbt(
        tmp, lake, *args, pii_key=kf.PII_KEY, report_at=kf.REPORT_AT, extra_env={VISIBLE_THROUGH_ENV: T0}, check=check
    )


def _tested_through(db) -> datetime | None:
    rows = query(db, "select tested_through from hub_tested_marks where model_name = 'fct_traffic_flow_5min'")
    return rows[0][0] if rows else None


def _plant(db, ingested_utc: str, business_date: str | None = None) -> None:
    """A second row for K1 08:00 (a copy of the first), stamped as ingested at ``ingested_utc``."""
    import duckdb

    day = f"'{business_date}'::date" if business_date else "business_date"
    con = duckdb.connect(str(db))
    try:
        con.execute("set TimeZone = 'UTC'")
        con.execute(
            "insert into fct_traffic_flow_5min select * replace ("
            f"'{ingested_utc}'::timestamptz as ingested_at, {day} as business_date)"
            " from fct_traffic_flow_5min where checkpoint_id = 'K1' and interval_start = (select min(interval_start)"
            " from fct_traffic_flow_5min) limit 1"
        )
    finally:
        con.close()


def _unplant(db) -> None:
    import duckdb

    con = duckdb.connect(str(db))
    try:
        con.execute(
            "delete from fct_traffic_flow_5min where (checkpoint_id, interval_start, ingested_at) in ("
            " select checkpoint_id, interval_start, max(ingested_at) from fct_traffic_flow_5min"
            " group by 1, 2 having count(*) > 1)"
        )
    finally:
        con.close()


def _test_passes(tmp, lake) -> bool:
    out = _dbt(tmp, lake, "test", "--select", TEST, check=False)
    assert "unique_combination_fct_traffic_flow_5min" in out, out[-3000:]
    return "FAIL 1" not in out and "Completed successfully" in out


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("dbt_scoped_unique")
    lake = tmp / "lake"
    (tmp / "warehouse").mkdir()
    kf._write(lake, "transport.traffic_flow", [kf._flow(5 * i, 10, kf.K_KEY, i + 1, "16:00:00") for i in range(24)])
    day = kf.COR_DAY
    kf._write_registry(lake, [kf._reg(kf.K_KEY, "accepted", f"{day} 16:00:00", f"{day} 18:00:00", rows=24)])
    kf._ensure_raw_tables(lake)
    _dbt(tmp, lake, "seed")
    _dbt(tmp, lake, "build", "--select", "+fct_traffic_flow_5min")
    return {"tmp": tmp, "lake": lake, "db": tmp / "warehouse" / "work.duckdb"}


def test_a_passed_test_records_the_mark_it_tested_through(built: dict) -> None:
    assert _tested_through(built["db"]) == datetime.fromisoformat(T0)
    assert query(built["db"], "select count(*) from fct_traffic_flow_5min") == [(24,)]


def test_a_duplicate_of_a_row_ingested_after_the_mark_fails_and_keeps_the_mark(built: dict) -> None:
    db = built["db"]
    _plant(db, f"{kf.COR_DAY} 19:10:00")
    try:
        assert not _test_passes(built["tmp"], built["lake"])
        assert not _test_passes(built["tmp"], built["lake"])  # still looked at: the mark stayed
        assert _tested_through(db) == datetime.fromisoformat(T0)
    finally:
        _unplant(db)
    assert _test_passes(built["tmp"], built["lake"])


def test_a_duplicate_on_the_date_of_a_file_corrected_since_fails(built: dict) -> None:
    """An older version a correction uncovered keeps its old ingested_at: the corrected file's
    business date brings it into scope (k2.csv: a new version registered after the mark)."""
    db, lake = built["db"], built["lake"]
    _plant(db, f"{kf.COR_DAY} 17:00:00")  # before the mark
    try:
        assert _test_passes(built["tmp"], lake)  # out of scope until a file of that date is corrected
        kf._write_registry(
            lake,
            [
                kf._reg(kf.K2_KEY, "accepted", f"{kf.COR_DAY} 16:30:00", f"{kf.COR_DAY} 18:10:00", rows=1),
                kf._reg(kf.K2_KEY, "accepted", f"{kf.COR_DAY} 19:00:00", f"{kf.COR_DAY} 19:05:00", version=2),
            ],
            mode="append",
        )
        assert not _test_passes(built["tmp"], lake)
    finally:
        _unplant(db)
    assert _test_passes(built["tmp"], lake)


def test_a_rebuild_from_scratch_is_tested_whole(built: dict) -> None:
    db, tmp, lake = built["db"], built["tmp"], built["lake"]
    _dbt(tmp, lake, "run", "--full-refresh", "--select", "fct_traffic_flow_5min")
    assert _tested_through(db) is None
    _plant(db, f"{kf.COR_DAY} 17:00:00", business_date="2026-03-01")  # old, on a date nobody corrected
    try:
        assert not _test_passes(tmp, lake)
    finally:
        _unplant(db)
    assert _test_passes(tmp, lake)
    assert _tested_through(db) == datetime.fromisoformat(T0)
