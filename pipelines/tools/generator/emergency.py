"""emergency.incidents and emergency.risk_warnings (spec sections 4.7 and 4.8).

Both come from one deterministic stream of risk *episodes* — ``rows_per_day`` a day,
a function of (seed, day, index) — so generating the two datasets separately (same
seed, start and rows_per_day) gives correlated files:

* 58 % of episodes: a warning, then within its ``window_hours`` an incident of the same
  type in the same district (a hit);
* 15 %: a warning and no incident of its own (a false alarm) → precision ≈ 80 % by
  construction, higher at large ``rows_per_day`` where another episode's incident of the
  same type and district often falls in a false alarm's window by chance;
* 27 %: an incident without a warning → recall ≈ 68 % (likewise a lower bound).

Measured (same type, same district, occurred within the window): precision/recall ≈
0.82/0.79 at 20 episodes a day, 0.85/0.83 at 30, 0.87/0.88 at 60, 0.95/0.94 at 200 —
keep rows_per_day at a city's realistic few dozen for a meaningful KPI.

An incident is exported on the date it is reported. 电动车充电事故 is one of the types
(EV-charging KPI per 10,000 households of grid.grids).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from . import base as b
from . import common as c

INCIDENT_COLUMNS = (
    ("incident_id", "事件编号"),
    ("incident_type", "事件类型"),
    ("occurred_at", "发生时间"),
    ("reported_at", "接报时间"),
    ("district_code", "所属区县"),
    ("grid_code", "网格编码"),
    ("severity", "事件等级"),
    ("deaths", "死亡人数"),
    ("injuries", "受伤人数"),
    ("loss_10k_cny", "直接经济损失(万元)"),
)
WARNING_COLUMNS = (
    ("warning_id", "预警编号"),
    ("risk_type", "风险类型"),
    ("issued_at", "发布时间"),
    ("district_code", "所属区县"),
    ("grid_code", "网格编码"),
    ("level", "预警级别"),
    ("window_hours", "预警时效(小时)"),
    ("source", "预警来源"),
)
TYPES = ("火灾", "危化品泄漏", "生产安全事故", "交通事故", "自然灾害", "管网事故", "电动车充电事故", "其他")
TYPE_WEIGHTS = (22, 4, 12, 26, 5, 10, 13, 8)
SEVERITIES = ("一般", "较大", "重大", "特别重大")
LEVELS = ("蓝色", "黄色", "橙色", "红色")
SOURCES = ("物联感知", "模型研判", "人工上报")
WINDOWS = (2, 4, 6, 6, 12, 12, 24, 48)
HIT, FALSE_ALARM, UNWARNED = "hit", "false_alarm", "unwarned"
HIT_SHARE, FALSE_ALARM_SHARE = 0.58, 0.15  # the rest: incidents without a warning
LOOKBACK_DAYS = 4  # an incident is reported at most this many days after its episode's day

INCIDENT_DIRTY_KINDS: dict[str, str] = {
    "missing_required": "a required value (发生时间 or 所属区县) is missing",
    "bad_enum": "事件类型 or 事件等级 holds a value outside its enum",
    "reported_before_occurred": "接报时间 is earlier than 发生时间",
    "negative_count": "死亡人数, 受伤人数 or 直接经济损失(万元) is negative",
    "bad_district": "所属区县 is not one of the six county-level codes",
    "bad_grid_code": "网格编码 is not 15 digits",
}
WARNING_DIRTY_KINDS: dict[str, str] = {
    "missing_required": "a required value (发布时间 or 所属区县) is missing",
    "bad_enum": "风险类型, 预警级别 or 预警来源 holds a value outside its enum",
    "bad_window": "预警时效(小时) is outside 1–720",
    "bad_district": "所属区县 is not one of the six county-level codes",
    "bad_grid_code": "网格编码 is not 15 digits",
}

INCIDENT_SPEC = b.Spec(
    "emergency.incidents",
    INCIDENT_COLUMNS,
    "枣庄市突发事件信息报送表",
    ("突发事件_{d}.{ext}", "tfsj_{d}.{ext}", "突发事件信息_{iso}.{ext}"),
    INCIDENT_DIRTY_KINDS,
    {"csv_gbk": 55, "csv_gb18030": 10, "csv_utf8_bom": 10, "xlsx": 25},
    thousands_cols=("loss_10k_cny",),
)
WARNING_SPEC = b.Spec(
    "emergency.risk_warnings",
    WARNING_COLUMNS,
    "枣庄市城市运行风险预警发布记录",
    ("风险预警_{d}.{ext}", "fxyj_{d}.{ext}", "城市运行风险预警_{iso}.{ext}", "YJ_{stamp}.{ext}"),
    WARNING_DIRTY_KINDS,
    {"csv_gbk": 60, "csv_utf8_bom": 15, "xlsx": 25},
)


@dataclass(frozen=True)
class Episode:
    kind: str  # HIT, FALSE_ALARM or UNWARNED
    warning: dict | None
    incident: dict | None


def _source(rtype: str, rng: random.Random) -> str:
    if rtype in ("管网事故", "电动车充电事故", "火灾"):
        return rng.choices(SOURCES, (70, 20, 10))[0]
    return rng.choices(SOURCES, (20, 55, 25))[0]


def _incident(rng: random.Random, iid: str, rtype: str, occurred: datetime, grid: c.Grid) -> dict:
    severity = rng.choices(SEVERITIES, (90, 8, 1.8, 0.2))[0]
    scale = {"一般": 1, "较大": 6, "重大": 30, "特别重大": 120}[severity]
    deaths = 0 if severity == "一般" or rng.random() < 0.4 else rng.randint(1, 3) * (scale // 6 or 1)
    injuries = 0 if rng.random() < 0.55 else rng.randint(1, 3 * scale)
    loss = round(rng.lognormvariate(1.5, 1.3) * scale, 2)
    return {
        "incident_id": iid,
        "incident_type": rtype,
        "occurred_at": occurred,
        "reported_at": occurred + timedelta(minutes=rng.randint(2, 150)),
        "district_code": grid.district_code,
        "grid_code": grid.code if rng.random() > 0.05 else None,
        "severity": severity,
        "deaths": deaths,
        "injuries": injuries,
        "loss_10k_cny": loss if rng.random() > 0.03 else None,
    }


@lru_cache(maxsize=4096)
def episode(seed: int, day_ordinal: int, index: int) -> Episode:
    rng = random.Random(c.deterministic_seed(seed, 0xE3E, day_ordinal, index))
    day = date.fromordinal(day_ordinal)
    r = rng.random()
    kind = HIT if r < HIT_SHARE else FALSE_ALARM if r < HIT_SHARE + FALSE_ALARM_SHARE else UNWARNED
    rtype = rng.choices(TYPES, TYPE_WEIGHTS)[0]
    grid = c.pick_grid(rng)
    t0 = b.ts_on(day, rng.uniform(0, 86400))
    warning = incident = None
    suffix = f"{day:%Y%m%d}-{index + 1:05d}"
    if kind in (HIT, FALSE_ALARM):
        window = rng.choice(WINDOWS)
        warning = {
            "warning_id": f"FXYJ-{suffix}",
            "risk_type": rtype,
            "issued_at": t0,
            "district_code": grid.district_code,
            "grid_code": grid.code if rng.random() < 0.6 else None,
            "level": rng.choices(LEVELS, (45, 35, 15, 5))[0],
            "window_hours": window,
            "source": _source(rtype, rng),
        }
        if kind == HIT:
            occurred = t0 + timedelta(seconds=int(window * 3600 * rng.uniform(0.03, 0.95)))
            near = grid if rng.random() < 0.5 else rng.choice(c.city().grids_by_district[grid.district_code])
            incident = _incident(rng, f"TFSJ-{suffix}", rtype, occurred, near)
    else:
        incident = _incident(rng, f"TFSJ-{suffix}", rtype, t0, grid)
    return Episode(kind, warning, incident)


def incidents_reported_on(seed: int, day: date, n: int, first_day: date) -> list[dict]:
    """Incidents of the episodes of ``first_day`` onwards that are reported on ``day``."""
    out = []
    for back in range(LOOKBACK_DAYS + 1):
        eday = day - timedelta(days=back)
        if eday < first_day:
            break
        for i in range(n):
            inc = episode(seed, eday.toordinal(), i).incident
            if inc is not None and inc["reported_at"].date() == day:
                out.append(inc)
    out.sort(key=lambda v: (v["reported_at"], v["incident_id"]))
    return out


def _bad_grid(v: dict, rng: random.Random) -> str:
    g = v["grid_code"] or rng.choice(c.city().grids_by_district.get(v["district_code"], c.city().grids)).code
    return rng.choice((g[:14], g + "0", g[:9] + "ABC" + g[12:], g[:12]))


def incident_dirty(v: dict, kind: str, rng: random.Random) -> dict | None:
    v = dict(v)
    if kind == "missing_required":
        v[rng.choice(("occurred_at", "district_code"))] = None
    elif kind == "bad_enum":
        if rng.random() < 0.5:
            v["incident_type"] = rng.choice(("火情", "车祸", "燃气泄漏", "触电"))
        else:
            v["severity"] = rng.choice(("轻微", "严重", "Ⅳ级", "一级"))
    elif kind == "reported_before_occurred":
        v["reported_at"] = v["occurred_at"] - timedelta(minutes=rng.randint(61, 24 * 60))
    elif kind == "negative_count":
        col = rng.choice(("deaths", "injuries", "loss_10k_cny"))
        v[col] = -rng.randint(1, 5) if col != "loss_10k_cny" else -round(rng.uniform(0.5, 50), 2)
    elif kind == "bad_district":
        v["district_code"] = rng.choice(c.BAD_DISTRICT_CODES)
    elif kind == "bad_grid_code":
        v["grid_code"] = _bad_grid(v, rng)
    else:  # pragma: no cover
        raise ValueError(kind)
    return v


_BAD_WARNING_ENUM = {
    "risk_type": ("火情", "燃气泄漏", "内涝"),
    "level": ("绿色", "紫色", "Ⅰ级"),
    "source": ("视频监控", "群众举报"),
}


def warning_dirty(v: dict, kind: str, rng: random.Random) -> dict | None:
    v = dict(v)
    if kind == "missing_required":
        v[rng.choice(("issued_at", "district_code"))] = None
    elif kind == "bad_enum":
        col = rng.choice(("risk_type", "level", "source"))
        v[col] = rng.choice(_BAD_WARNING_ENUM[col])
    elif kind == "bad_window":
        v["window_hours"] = rng.choice((0, -6, 721, 1000, 8760))
    elif kind == "bad_district":
        v["district_code"] = rng.choice(c.BAD_DISTRICT_CODES)
    elif kind == "bad_grid_code":
        v["grid_code"] = _bad_grid(v, rng)
    else:  # pragma: no cover
        raise ValueError(kind)
    return v


def generate_incidents(
    out_dir: Path,
    start: date,
    days: int,
    rows_per_day: int,
    *,
    seed: int = 7,
    dirty_share: float = 0.03,
    formats: str | Sequence[str] | None = None,
    chunk_size: int = 50_000,
    progress: c.ProgressFn | None = None,
) -> list[c.GeneratedFile]:
    """Incidents of ``rows_per_day`` episodes a day (≈ 0.85 × rows_per_day incidents), by report date."""
    b.check_formats(INCIDENT_SPEC, formats)
    prog = b.Progress(INCIDENT_SPEC.name, progress, days * rows_per_day)
    out = []
    for i in range(days):
        day = start + timedelta(days=i)
        plan = b.plan_file(INCIDENT_SPEC, Path(out_dir), seed, day, formats, big=rows_per_day > 400_000)
        recs = ((v, b.NORMAL) for v in incidents_reported_on(seed, day, rows_per_day, start))
        out.append(b.write_records(plan, recs, incident_dirty, dirty_share, chunk_size, prog))
    return out


def generate_warnings(
    out_dir: Path,
    start: date,
    days: int,
    rows_per_day: int,
    *,
    seed: int = 7,
    dirty_share: float = 0.03,
    formats: str | Sequence[str] | None = None,
    chunk_size: int = 50_000,
    progress: c.ProgressFn | None = None,
) -> list[c.GeneratedFile]:
    """Warnings of ``rows_per_day`` episodes a day (≈ 0.73 × rows_per_day warnings), by issue date."""
    b.check_formats(WARNING_SPEC, formats)
    prog = b.Progress(WARNING_SPEC.name, progress, days * rows_per_day)
    out = []
    for i in range(days):
        day = start + timedelta(days=i)
        plan = b.plan_file(WARNING_SPEC, Path(out_dir), seed, day, formats, big=rows_per_day > 400_000)
        ws = [episode(seed, day.toordinal(), k).warning for k in range(rows_per_day)]
        ws = sorted((w for w in ws if w is not None), key=lambda w: (w["issued_at"], w["warning_id"]))
        out.append(b.write_records(plan, ((w, b.NORMAL) for w in ws), warning_dirty, dirty_share, chunk_size, prog))
    return out
