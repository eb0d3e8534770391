"""The published KPI scorecard equals an independent oracle, on a generated scenario.

A seeded :mod:`tests.oracle.scenarios` scenario is submitted to the real landing bucket (each bureau
with its own credentials, upload times as the sensor would pass them), ingested with the real
ingestion, transformed with ``dbt build`` (``--vars report_at``) and published by
:func:`tests.oracle.hub.build` (the hub the browser tests also read); the published
``kpi_scorecard_monthly`` and fact row sets must equal :mod:`tests.oracle.kpis`, computed from the
spec: counts, numerators and denominators exactly, ratios within 1e-9. ``SHUZHONG_ORACLE_SEED``
picks another scenario (CI: the fixed default).
"""

from __future__ import annotations

import math
import os
from datetime import date
from typing import Any

import duckdb
import pytest

from tests.oracle.kpis import Expected, Key, Oracle
from tests.oracle.scenarios import PK

SEED = int(os.environ.get("SHUZHONG_ORACLE_SEED", "20261201"))
FACTS = {
    "hotline.tickets": "fct_hotline_tickets", "govservice.cases": "fct_service_cases",
    "emergency.incidents": "fct_incidents", "emergency.risk_warnings": "fct_risk_warnings",
    "grid.events": "fct_grid_events", "community.service_requests": "fct_community_requests",
}  # fmt: skip


@pytest.fixture(scope="module")
def run(scenario_hub) -> dict[str, Any]:
    hub = scenario_hub(SEED)
    published = {}
    for path in sorted((hub.tmp / "published").rglob("*.duckdb")):
        with duckdb.connect(str(path), read_only=True) as con:
            for (name,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall():
                published.setdefault(name, path)
    return {"scenario": hub.scenario, "oracle": Oracle(hub.scenario), "published": published}


def _rows(run: dict[str, Any], sql: str, table: str) -> list[tuple]:
    with duckdb.connect(str(run["published"][table]), read_only=True) as con:
        return con.execute(sql).fetchall()


def _scorecard(run: dict[str, Any]) -> dict[Key, Expected]:
    rows = _rows(
        run,
        "SELECT kpi_month, district_code, dimension_type, dimension_code, kpi_code, kpi_value,"
        " numerator, denominator FROM kpi_scorecard_monthly",
        "kpi_scorecard_monthly",
    )
    return {r[:5]: Expected(*r[5:]) for r in rows}


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def _diff(code: str, want: dict[Key, Expected], got: dict[Key, Expected]) -> list[str]:
    """Disagreements for one KPI. A row the oracle has no denominator for (value None) may be absent."""
    out = []
    w = {k: v for k, v in want.items() if k[4] == code}
    g = {k: v for k, v in got.items() if k[4] == code}
    for k in sorted(set(w) | set(g), key=str):
        e, a = w.get(k), g.get(k)
        if e is None:
            if a is not None and a.kpi_value is not None:
                out.append(f"{k}: unexpected row {a}")
            continue
        if a is None:
            if e.kpi_value is not None:
                out.append(f"{k}: missing row, expected {e}")
            continue
        bad = not _same(e.kpi_value, a.kpi_value)
        if e.kpi_value is not None or a.kpi_value is not None:
            for f in ("numerator", "denominator"):
                if getattr(e, f) is not None and not _same(getattr(e, f), getattr(a, f)):
                    bad = True
        if bad:
            out.append(f"{k}: expected {e}, got {a}")
    return out


CODES = [
    "hotline_on_time_closure_rate", "citizen_satisfaction_score", "mobile_handling_rate", "risk_warning_accuracy",
    "risk_warning_recall", "grid_event_handling_hours_median", "grid_event_handling_hours_mean",
    "first_receiver_responsibility_rate", "repeat_request_rate", "community_request_good_rating_share",
    "community_request_mean_rating", "ev_charging_incidents_per_10k_households", "ev_charging_hazards_found",
    "air_quality_good_day_ratio", "traffic_peak_congestion_index", "pipe_pressure_breach_sensor_hours",
    "dq_on_time_rate", "dq_rows_accepted_rate", "dq_files_rejected",
]  # fmt: skip


@pytest.mark.parametrize("code", CODES)
def test_kpi_equals_oracle(run: dict[str, Any], code: str) -> None:
    want, got = run["oracle"].rows, _scorecard(run)
    assert any(k[4] == code and v.kpi_value is not None for k, v in want.items()), "the scenario exercises it"
    problems = _diff(code, want, got)
    assert not problems, f"{len(problems)} disagreement(s):\n" + "\n".join(problems[:40])


def test_scorecard_has_no_other_kpi(run: dict[str, Any]) -> None:
    assert {k[4] for k in _scorecard(run)} <= set(CODES)


@pytest.mark.parametrize("dataset", sorted(FACTS))
def test_fact_rows_equal_oracle(run: dict[str, Any], dataset: str) -> None:
    (pk,) = PK[dataset]
    want = {str(r[pk]) for r in run["oracle"].records.get(dataset, [])}
    got = {r[0] for r in _rows(run, f"SELECT {pk} FROM {FACTS[dataset]}", FACTS[dataset])}
    assert got == want, (sorted(want - got)[:10], sorted(got - want)[:10])


def test_scenario_covers_the_edge_cases(run: dict[str, Any]) -> None:
    o: Oracle = run["oracle"]
    statuses = {f.status for f in o.files}
    assert statuses == {"accepted", "duplicate", "rejected"}
    keys = [s.key for s in run["scenario"].submissions]
    assert len(keys) > len(set(keys)), "a key corrected"
    assert any(f.rows_received == 0 and f.status == "accepted" for f in o.files), "a header-only day"
    firsts = {f.dataset: min(g.business_date for g in o.files if g.dataset == f.dataset) for f in o.files}
    assert len(set(firsts.values())) > 1, "bureaus start on different dates"
    assert all(isinstance(m, date) for m in run["scenario"].months)
