"""Concurrent ingestion runs commit in any order: the incremental facts lose nothing (real dbt builds).

Two ingestion runs start after the transform sensor saw none active (its ``visible_through``):
run A stamps k.csv's rows at 19:10 and commits late; run B stamps b.csv's at 19:20 and commits
first. A correction of k2.csv (every row quarantined: it lands no row) is registered at 19:12,
also committed late. The transform in between sees B only. A fact whose watermark is its newest
row (19:20) would never read A's rows (19:10) or see the correction (19:12); the build mark
(hub_build_marks, the transform's ``visible_through``) is 19:00, so the next build reads both.
The transform asset hands the instant to dbt in ``SHUZHONG_VISIBLE_THROUGH``, as ``_build`` does.

Expected values by hand: checkpoint K1 gets k.csv's 24 intervals 08:00–09:55, 10 vehicles each
(k2.csv's 08:05 with 30 vehicles is gone with its correction): hours 08 and 09 of 12 intervals
and 120 vehicles; K9 gets b.csv's 10:00 (7 vehicles).
"""

from __future__ import annotations

from datetime import datetime

import pytest

from pipelines.defs.transform.dbt_assets import VISIBLE_THROUGH_ENV
from pipelines.ingest.keys import source_file_id
from tests.helpers import query, run_dbt
from tests.test_dbt_kpi_findings import (
    COR_DAY,
    K2_KEY,
    K_KEY,
    PII_KEY,
    REPORT_AT,
    _ensure_raw_tables,
    _flow,
    _reg,
    _replace_key_rows,
    _utc,
    _write,
    _write_registry,
)

B_KEY = f"transport/traffic_flow/{COR_DAY}/b.csv"
T0, T1, T2 = (f"{COR_DAY}T{t}+00:00" for t in ("18:30:00", "19:00:00", "19:30:00"))
TRAFFIC = "transport.traffic_flow"
INCREMENTAL = ("fct_air_quality_hourly", "fct_pipe_pressure_hourly", "fct_traffic_flow_5min", "fct_traffic_flow_hourly")


def _stamped(rows: list[dict], ingested: str, **changes) -> list[dict]:
    return [{**r, **changes, "_ingested_at": _utc(f"{COR_DAY} {ingested}")} for r in rows]


def _build(tmp, lake, *args: str, visible_through: str | None) -> str:
    """``dbt build`` as the transform asset runs it (the sensor's instant in the environment)."""
    extra = {VISIBLE_THROUGH_ENV: visible_through} if visible_through else None
    return run_dbt(tmp, lake, "build", *args, pii_key=PII_KEY, report_at=REPORT_AT, extra_env=extra)


def _marks(db) -> dict[str, datetime]:
    return dict(query(db, "select model_name, visible_through from hub_build_marks"))


@pytest.fixture(scope="module")
def raced(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("dbt_build_marks")
    lake = tmp / "lake"
    (tmp / "warehouse").mkdir()
    db = tmp / "warehouse" / "work.duckdb"
    _write(lake, TRAFFIC, _stamped([_flow(5, 30, K2_KEY, 1, "16:30:00")], "18:00:00"))
    _write_registry(lake, [_reg(K2_KEY, "accepted", f"{COR_DAY} 16:30:00", f"{COR_DAY} 18:05:00", rows=1)])
    _ensure_raw_tables(lake)
    _build(tmp, lake, visible_through=T0)
    first = {"marks": _marks(db), "five": query(db, "select vehicle_count from fct_traffic_flow_5min")}

    # The transform of T1 sees run B's commit only.
    b_rows = _stamped([_flow(120, 7, B_KEY, 1, "19:15:00")], "19:20:00", checkpoint_id="K9")
    _write(lake, TRAFFIC, b_rows, mode="append")
    _write_registry(
        lake, [_reg(B_KEY, "accepted", f"{COR_DAY} 19:15:00", f"{COR_DAY} 19:21:00", rows=1)], mode="append"
    )
    _build(tmp, lake, "--select", "fct_traffic_flow_5min+", visible_through=T1)
    between = query(db, "select checkpoint_id, vehicle_count from fct_traffic_flow_5min order by 1")

    # Then run A commits k.csv (stamped 19:10) and the correction of k2.csv (registered 19:12).
    _write(lake, TRAFFIC, _stamped([_flow(5 * i, 10, K_KEY, i + 1, "19:05:00") for i in range(24)], "19:10:00"),
           mode="append")  # fmt: skip
    _replace_key_rows(lake, TRAFFIC, K2_KEY, [])
    _write_registry(
        lake,
        [
            _reg(K_KEY, "accepted", f"{COR_DAY} 19:05:00", f"{COR_DAY} 19:11:00", rows=24),
            {
                **_reg(K2_KEY, "accepted", f"{COR_DAY} 19:05:00", f"{COR_DAY} 19:12:00", version=2),
                "rows_received": 1,
                "rows_quarantined": 1,
            },
        ],  # fmt: skip
        mode="append",
    )
    output = _build(tmp, lake, "--select", "fct_traffic_flow_5min+", visible_through=T2)
    after = {"marks": _marks(db), "output": output}
    _build(tmp, lake, "--select", "fct_traffic_flow_5min+", visible_through=None)  # by hand: no instant
    return {"db": db, "first": first, "between": between, "after": after}


def test_a_transform_records_its_visible_through_as_the_facts_build_mark(raced: dict) -> None:
    first = raced["first"]["marks"]
    assert set(first) == set(INCREMENTAL)
    assert {m.isoformat() for m in first.values()} == {datetime.fromisoformat(T0).isoformat()}
    assert raced["first"]["five"] == [(30,)]
    after = raced["after"]["marks"]
    # the selected facts moved to T2; the others keep T0
    assert after["fct_traffic_flow_5min"] == after["fct_traffic_flow_hourly"] == datetime.fromisoformat(T2)
    assert after["fct_pipe_pressure_hourly"] == after["fct_air_quality_hourly"] == datetime.fromisoformat(T0)


def test_the_build_between_saw_run_b_only(raced: dict) -> None:
    assert raced["between"] == [("K1", 30), ("K9", 7)]


def test_rows_committed_after_a_later_stamped_run_are_not_lost(raced: dict) -> None:
    db = raced["db"]
    five = query(
        db,
        "select checkpoint_id, strftime(interval_start, '%H:%M'), vehicle_count, source_file_id"
        " from fct_traffic_flow_5min order by 1, 2",
    )
    k1 = [r for r in five if r[0] == "K1"]
    assert [r[1] for r in k1] == [f"{8 + m // 60:02d}:{m % 60:02d}" for m in range(0, 120, 5)]
    assert {(r[2], r[3]) for r in k1} == {(10, source_file_id(K_KEY))}  # the correction of k2.csv reached it
    assert [r for r in five if r[0] == "K9"] == [("K9", "10:00", 7, source_file_id(B_KEY))]
    hourly = query(
        db,
        "select checkpoint_id, strftime(hour_start, '%H'), interval_count, vehicle_count"
        " from fct_traffic_flow_hourly order by 1, 2",
    )
    assert hourly == [("K1", "08", 12, 120), ("K1", "09", 12, 120), ("K9", "10", 1, 7)]


def test_a_build_without_the_instant_keeps_the_marks(raced: dict) -> None:
    assert _marks(raced["db"]) == raced["after"]["marks"]


def test_a_new_instant_keeps_dbt_partial_parsing(raced: dict) -> None:
    # a dbt var that changed every run would make dbt parse the whole project again, saying
    # "Unable to do partial parsing because config vars, config profile, or config target have changed"
    assert "Unable to do partial parsing" not in raced["after"]["output"]


pytestmark = pytest.mark.dbt  # runs dbt builds: deselected by make test-fast
