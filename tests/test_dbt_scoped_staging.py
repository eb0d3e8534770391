"""Row-level tests on the staging views of the raw zone read only the rows ingested since they last
passed (real dbt on a local lake).

After a transform whose tests of a staging view all passed, ``hub_tested_marks`` holds the view's
``tested_through`` (the transform's ``visible_through``) and ``tested_with`` (its set of tests).
Each case plants a raw row with an empty checkpoint_id (what a faulty ingestion would land) and
expects not_null to find it exactly when the row is in scope: ingested after the mark, or any
row once the tests changed or with ``--full-refresh``.

Timeline (UTC, day COR_DAY): k.csv's 24 rows ingested 18:00; first build with T0 = 18:30.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pytest

from pipelines.defs.transform.dbt_assets import VISIBLE_THROUGH_ENV
from tests import test_dbt_kpi_findings as kf
from tests.helpers import query, run_dbt

T0, T1 = f"{kf.COR_DAY}T18:30:00+00:00", f"{kf.COR_DAY}T19:30:00+00:00"
VIEW = "stg_transport__traffic_flow"
BAD_KEY = f"transport/traffic_flow/{kf.COR_DAY}/bad.csv"
TRAFFIC = "transport.traffic_flow"


def _dbt(env: dict, *args: str, through: str = T0, check: bool = True) -> str:
    extra = {VISIBLE_THROUGH_ENV: through}
    tmp, lake = env["tmp"], env["lake"]
    return run_dbt(tmp, lake, *args, pii_key=kf.PII_KEY, report_at=kf.REPORT_AT, extra_env=extra, check=check)


def _mark(db) -> tuple[datetime, str] | None:
    rows = query(db, f"select tested_through, tested_with from hub_tested_marks where model_name = '{VIEW}'")
    return rows[0] if rows else None


def _passes(env: dict, *args: str, through: str = T0) -> bool:
    out = _dbt(env, *(args or ("test", "--select", VIEW)), through=through, check=False)
    assert f"not_null_{VIEW}_checkpoint_id" in out, out[-3000:]
    return "Completed successfully" in out


def _plant(env: dict, ingested: str) -> None:
    """A raw row of bad.csv without a checkpoint_id, ingested at ``ingested`` (UTC, COR_DAY)."""
    row = {**kf._flow(0, 1, BAD_KEY, 1, "16:00:00"), "checkpoint_id": None}
    row["_ingested_at"] = datetime.fromisoformat(f"{kf.COR_DAY}T{ingested}+00:00")
    kf._write(env["lake"], TRAFFIC, [row], mode="append")


def _unplant(env: dict) -> None:
    kf._replace_key_rows(env["lake"], TRAFFIC, BAD_KEY, [])


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("dbt_scoped_staging")
    lake = tmp / "lake"
    (tmp / "warehouse").mkdir()
    kf._write(lake, TRAFFIC, [kf._flow(5 * i, 10, kf.K_KEY, i + 1, "16:00:00") for i in range(24)])
    day = kf.COR_DAY
    kf._write_registry(lake, [kf._reg(kf.K_KEY, "accepted", f"{day} 16:00:00", f"{day} 18:00:00", rows=24)])
    kf._ensure_raw_tables(lake)
    env = {"tmp": tmp, "lake": lake, "db": tmp / "warehouse" / "work.duckdb"}
    _dbt(env, "build", "--select", VIEW)
    return env


def test_passed_tests_record_the_transforms_instant_and_their_test_set(env: dict) -> None:
    through, tested_with = _mark(env["db"])
    assert through == datetime.fromisoformat(T0)
    assert len(tested_with) == 32  # an md5 of the view's test ids


def test_a_bad_row_ingested_after_the_mark_fails_and_keeps_the_mark(env: dict) -> None:
    before = _mark(env["db"])
    _plant(env, "19:10:00")
    try:
        assert not _passes(env, through=T1)
        assert _mark(env["db"]) == before  # failed: the next run looks at the row again
        assert not _passes(env, through=T1)
    finally:
        _unplant(env)
    assert _passes(env, through=T0)


def test_an_older_bad_row_is_found_by_a_full_refresh_and_after_the_tests_changed(env: dict) -> None:
    _plant(env, "17:00:00")  # before the mark: tested then (had it been there)
    try:
        assert _passes(env)  # out of scope
        assert not _passes(env, "build", "--full-refresh", "--select", VIEW)
        con = duckdb.connect(str(env["db"]))
        try:
            con.execute(f"update hub_tested_marks set tested_with = 'another set' where model_name = '{VIEW}'")
        finally:
            con.close()
        assert not _passes(env)
    finally:
        _unplant(env)
    assert _passes(env)
    assert _mark(env["db"])[0] == datetime.fromisoformat(T0)
