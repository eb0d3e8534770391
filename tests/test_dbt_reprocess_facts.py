"""A reprocess reaches the incremental machine-feed facts (a local lake + file registry → `dbt build`).

A reprocess re-validates a key's archived bytes against the current contract and replaces the
key's raw rows with what passes now; the registry gets a row of status ``reprocessed`` with the
same ``file_sha256`` (pipelines.ingest.reprocess). Here the lake is written as that leaves it:

- traffic ``k.csv`` (08:00–09:55, 10 vehicles each) is reprocessed and every row is now
  quarantined: its raw rows are gone and nothing new lands. ``k2.csv`` (08:05, 30 vehicles,
  a later upload) is untouched.
- pipe pressure ``p.jsonl`` (hours 10 — a breach —, 11 and 23 of the day before — a breach —)
  is reprocessed and only its hour-11 readings pass now: they land again, newly ingested.

Expected values are worked out by hand: the 5-minute fact keeps k2.csv's 08:05 only; the
hourly fact one 08 hour of 1 interval and 30 vehicles; the pipe fact hour 11 only, no breach.
"""

from __future__ import annotations

import pytest

from pipelines.ingest.keys import source_file_id
from tests.helpers import query
from tests.test_dbt_kpi_findings import (
    COR_DAY,
    K2_KEY,
    K_KEY,
    P_KEY,
    PREV_DAY_HOUR,
    _dbt,
    _ensure_raw_tables,
    _pipe_rows,
    _reg,
    _replace_key_rows,
    _traffic_rows,
    _utc,
    _write,
    _write_registry,
)

LATER = f"{COR_DAY[:-2]}05"  # the reprocess runs the next day

FACTS = ("fct_traffic_flow_5min+", "fct_pipe_pressure_hourly+")


def _five_minute(db) -> list[tuple]:
    return query(
        db,
        "select strftime(interval_start, '%H:%M'), vehicle_count, source_file_id from fct_traffic_flow_5min order by 1",
    )


def _hourly(db) -> list[tuple]:
    return query(
        db, "select strftime(hour_start, '%H'), interval_count, vehicle_count from fct_traffic_flow_hourly order by 1"
    )


def _pipe(db) -> list[tuple]:
    return query(
        db, "select strftime(hour_start, '%H'), is_breach, reading_count from fct_pipe_pressure_hourly order by 1"
    )


@pytest.fixture(scope="module")
def reprocessed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("dbt_reprocess_facts")
    lake = tmp / "lake"
    (tmp / "warehouse").mkdir()
    _write(lake, "transport.traffic_flow", _traffic_rows())
    _write(lake, "utilities.pipe_pressure", _pipe_rows((10, 11, PREV_DAY_HOUR), 1, f"{COR_DAY} 18:00:00"))
    _write_registry(
        lake,
        [
            _reg(K_KEY, "accepted", f"{COR_DAY} 16:00:00", f"{COR_DAY} 18:05:00", rows=24),
            _reg(K2_KEY, "accepted", f"{COR_DAY} 16:30:00", f"{COR_DAY} 18:05:00", rows=1),
            _reg(P_KEY, "accepted", f"{COR_DAY} 18:00:00", f"{COR_DAY} 18:05:00", rows=7),
        ],
    )
    _ensure_raw_tables(lake)
    _dbt(tmp, lake, "build")
    db = tmp / "warehouse" / "work.duckdb"
    before = {"five": _five_minute(db), "hourly": _hourly(db), "pipe": _pipe(db)}

    # the reprocess: k.csv lands no row; p.jsonl's hour 11 lands again (same bytes, same version)
    _replace_key_rows(lake, "transport.traffic_flow", K_KEY, [])
    upload = _utc(f"{COR_DAY} 18:00:00")  # a reprocessed row keeps its file's upload time
    again = [{**r, "_uploaded_at": upload} for r in _pipe_rows((11,), 1, f"{LATER} 03:00:00")]
    _replace_key_rows(lake, "utilities.pipe_pressure", P_KEY, again)
    _write_registry(
        lake,
        [
            {
                **_reg(K_KEY, "reprocessed", f"{COR_DAY} 16:00:00", f"{LATER} 03:05:00"),
                "rows_received": 24,
                "rows_quarantined": 24,
            },
            {
                **_reg(P_KEY, "reprocessed", f"{COR_DAY} 18:00:00", f"{LATER} 03:05:00", rows=3),
                "rows_received": 7,
                "rows_quarantined": 4,
            },
        ],  # fmt: skip
        mode="append",
    )
    _dbt(tmp, lake, "build", "--select", *FACTS)
    after = {"five": _five_minute(db), "hourly": _hourly(db), "pipe": _pipe(db)}
    _dbt(tmp, lake, "build", "--select", *FACTS)  # nothing new: the same facts
    return {"db": db, "before": before, "after": after}


def test_the_facts_before_the_reprocess(reprocessed: dict) -> None:
    before = reprocessed["before"]
    assert len(before["five"]) == 24
    assert ("08:05", 30, source_file_id(K2_KEY)) in before["five"]  # k2.csv's later upload wins
    assert before["hourly"] == [("08", 12, 11 * 10 + 30), ("09", 12, 12 * 10)]
    assert before["pipe"] == [("10", True, 3), ("11", False, 3), ("23", True, 1)]


def test_a_reprocess_that_quarantines_every_row_removes_the_key_from_the_facts(reprocessed: dict) -> None:
    assert reprocessed["after"]["five"] == [("08:05", 30, source_file_id(K2_KEY))]
    assert reprocessed["after"]["hourly"] == [("08", 1, 30)]


def test_a_reprocess_that_keeps_some_rows_recomputes_every_hour_of_the_key(reprocessed: dict) -> None:
    # hour 10 and the day before's 23:00 (both breaches) are gone, hour 11 holds the new rows
    assert reprocessed["after"]["pipe"] == [("11", False, 3)]
    rows = query(reprocessed["db"], "select strftime(ingested_at, '%Y-%m-%d') from fct_pipe_pressure_hourly")
    assert rows == [(LATER,)]


def test_a_build_without_new_data_keeps_the_reprocessed_facts(reprocessed: dict) -> None:
    db = reprocessed["db"]
    assert _five_minute(db) == reprocessed["after"]["five"]
    assert _hourly(db) == reprocessed["after"]["hourly"]
    assert _pipe(db) == reprocessed["after"]["pipe"]


pytestmark = pytest.mark.dbt  # runs dbt builds: deselected by make test-fast
