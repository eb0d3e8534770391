"""领导驾驶舱: the KPI scorecard (``kpi_scorecard_monthly``) by month and district against targets and
baselines, trends over months, the bureaus' data-quality ranking, and the drill-down of one KPI to its
districts (and departments, communities, ...) with numerator and denominator. Read-only."""

from __future__ import annotations

import json
from datetime import date

from fastapi import APIRouter, Request

from pipelines import settings
from pipelines.web import warehouse
from pipelines.web.common import PageError, render

router = APIRouter(prefix="/cockpit")

DQ_PREFIX = "dq_"
DIMENSION_ZH = {
    "district": "区（市）",
    "department": "部门",
    "community": "社区",
    "network_type": "管网类型",
    "peak_period": "高峰时段",
    "bureau_dataset": "委办局数据集",
}
VERDICT_ZH = {True: "达标", False: "未达标", None: "无目标或无数据"}


def fmt(value) -> str:
    """A number as the cockpit shows it: integers whole, others with 4 decimals; none → —."""
    if value is None:
        return "—"
    v = float(value)
    return str(int(v)) if v.is_integer() else f"{v:.4f}"


def verdict_class(met) -> str:
    return {True: "met", False: "missed"}.get(met, "na")


def _month(months: list[date], month: str | None) -> date:
    if not months:
        raise PageError(404, "已发布的数据仓库中还没有 KPI 数据。")
    if month is None:
        return months[0]
    try:
        chosen = date.fromisoformat(month)
    except ValueError:
        raise PageError(400, "月份格式应为 YYYY-MM-01，例如 2026-03-01。") from None
    if chosen not in months:
        raise PageError(404, f"{chosen.isoformat()} 没有 KPI 数据。")
    return chosen


def _months() -> list[date]:
    try:
        return warehouse.months()
    except warehouse.NotPublished:
        raise PageError(503, "数据仓库尚未发布：请先运行数据中台（make demo）。") from None


def _trend_json(codes: list[str]) -> str:
    out = {}
    for code in codes:
        rows = warehouse.trend(code)
        months = sorted({r["kpi_month"].isoformat() for r in rows})
        series: dict[str, dict[str, float | None]] = {}
        for r in rows:
            series.setdefault(r["name"], {})[r["kpi_month"].isoformat()] = r["kpi_value"]
        target = next((r["target_value"] for r in rows if r["target_value"] is not None), None)
        baseline = next((r["baseline_value"] for r in rows if r["baseline_value"] is not None), None)
        out[code] = {
            "months": months,
            "series": {name: [vals.get(m) for m in months] for name, vals in sorted(series.items())},
            "target": target,
            "baseline": baseline,
        }
    # embedded in a <script type="application/json">: no "</script>" may come out of a name
    text = json.dumps(out, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@router.get("")
def cockpit(request: Request, month: str | None = None):
    months = _months()
    chosen = _month(months, month)
    rows = [r for r in warehouse.scorecard(chosen) if not r["kpi_code"].startswith(DQ_PREFIX)]
    districts = sorted({(r["district_code"], r["district_name"]) for r in rows})
    kpis: dict[str, dict] = {}
    for r in rows:
        k = kpis.setdefault(
            r["kpi_code"], {"code": r["kpi_code"], "name": r["kpi_name"], "unit": r["unit"], "cells": {}}
        )
        k.setdefault("target", r["target_value"])
        k.setdefault("baseline", r["baseline_value"])
        k.setdefault("comparator", r["comparator"])
        k["cells"][r["district_code"]] = r
    ranking = []
    bureaus = settings.bureaus()
    for r in warehouse.ranking(chosen):
        on_time = r["on_time_num"] / r["on_time_den"] if r["on_time_den"] else None
        accepted = r["accepted_num"] / r["accepted_den"] if r["accepted_den"] else None
        ranking.append({**r, "name": bureaus.get(r["bureau"], r["bureau"]), "on_time": on_time, "accepted": accepted})
    ranking.sort(key=lambda r: (-(r["on_time"] or 0), -(r["accepted"] or 0), r["files_rejected"] or 0, r["bureau"]))
    return render(
        request,
        "cockpit.html",
        months=months,
        month=chosen,
        districts=districts,
        kpis=list(kpis.values()),
        ranking=ranking,
        trend_json=_trend_json(list(kpis)),
        fmt=fmt,
        verdict_class=verdict_class,
        verdict_zh=VERDICT_ZH,
    )


@router.get("/kpi/{code}")
def kpi_page(request: Request, code: str, month: str | None = None):
    months = _months()
    chosen = _month(months, month)
    rows = warehouse.kpi_rows(code, chosen)
    if not rows:
        raise PageError(404, f"{chosen.isoformat()} 没有指标 {code[:60]} 的数据。")
    return render(
        request,
        "kpi.html",
        code=code,
        kpi_name=rows[0]["kpi_name"],
        unit=rows[0]["unit"],
        months=months,
        month=chosen,
        rows=rows,
        trend_json=_trend_json([code]),
        fmt=fmt,
        verdict_class=verdict_class,
        verdict_zh=VERDICT_ZH,
        dimension_zh=DIMENSION_ZH,
    )
