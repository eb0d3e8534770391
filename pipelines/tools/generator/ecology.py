"""ecology.air_quality_hourly — 空气质量小时监测 (spec section 4.4).

``rows_per_day // 24`` stations (about 20 at 480 rows a day; the first 20 are the
city's fixed monitoring stations, more are micro-stations), one file per day per
station group (the stations of one district), JSON Lines or CSV. Concentrations follow
a daily weather level, a diurnal cycle (O3 peaks in the afternoon, NO2 at rush hours)
and a station offset. Some station-days lose a block of hours (fewer than 20 valid
hours → no daily AQI); the AQI column is missing from some files and some rows, to be
computed downstream (HJ 633-2012, :func:`hourly_aqi`). Machine feeds only append.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path

from . import base as b
from . import common as c

SPEC_COLUMNS = (
    ("station_code", "站点编码"),
    ("station_name", "站点名称"),
    ("observed_at", "监测时间"),
    ("district_code", "所属区县"),
    ("pm25", "PM2.5"),
    ("pm10", "PM10"),
    ("so2", "SO2"),
    ("no2", "NO2"),
    ("o3", "O3"),
    ("co", "CO"),
    ("aqi", "AQI"),
)
RANGES = {"pm25": 1000, "pm10": 2000, "so2": 10000, "no2": 4000, "o3": 2000, "co": 200, "aqi": 500}

DIRTY_KINDS: dict[str, str] = {
    "missing_required": "所属区县 is missing",
    "not_on_hour": "监测时间 is not on the hour",
    "out_of_range": "a concentration or AQI is outside its plausibility range (e.g. PM2.5 0–1000, AQI 0–500)",
    "bad_district": "所属区县 is not one of the six county-level codes",
}

SPEC = b.Spec(
    "ecology.air_quality_hourly",
    SPEC_COLUMNS,
    "枣庄市空气质量小时监测数据",
    ("aqi_{tag}_{d}.{ext}", "kqzl_hour_{tag}_{iso}.{ext}", "AirQuality_{tag}_{stamp}.{ext}"),
    DIRTY_KINDS,
    {"jsonl": 50, "csv_utf8": 25, "csv_gbk": 25},
    machine=True,
)

# HJ 633-2012 breakpoints: IAQI levels and concentration limits
_IAQI = (0, 50, 100, 150, 200, 300, 400, 500)
_BP = {
    "so2_1h": (0, 150, 500, 650, 800),
    "so2_24h": (0, 50, 150, 475, 800, 1600, 2100, 2620),
    "no2": (0, 100, 200, 700, 1200, 2340, 3090, 3840),
    "pm10": (0, 50, 150, 250, 350, 420, 500, 600),
    "co": (0, 5, 10, 35, 60, 90, 120, 150),
    "o3": (0, 160, 200, 300, 400, 800, 1000, 1200),
    "pm25": (0, 35, 75, 115, 150, 250, 350, 500),
}


def iaqi(bp: Sequence[float], conc: float) -> int:
    if conc >= bp[-1]:
        return 500
    for i in range(1, len(bp)):
        if conc <= bp[i]:
            lo, hi = bp[i - 1], bp[i]
            return math.ceil((_IAQI[i] - _IAQI[i - 1]) / (hi - lo) * (conc - lo) + _IAQI[i - 1])
    return 500  # pragma: no cover


def hourly_aqi(v: dict) -> int | None:
    """Hourly AQI (spec 4.4): max IAQI of the pollutants present; None if none is."""
    subs = []
    for p in ("pm25", "pm10", "no2", "co", "o3"):
        if v.get(p) is not None:
            subs.append(iaqi(_BP[p], v[p]))
    if v.get("so2") is not None:
        subs.append(iaqi(_BP["so2_24h"] if v["so2"] > 800 else _BP["so2_1h"], v["so2"]))
    return max(subs) if subs else None


@dataclass(frozen=True)
class Station:
    code: str
    name: str
    district_code: str
    offset: float  # pollution level factor


_FIXED = (
    ("370402", "市环保局"),
    ("370402", "市政府"),
    ("370402", "光明广场"),
    ("370403", "薛城区政府"),
    ("370403", "新城"),
    ("370403", "常庄"),
    ("370404", "峄城区政府"),
    ("370404", "榴园"),
    ("370405", "台儿庄区政府"),
    ("370405", "古城"),
    ("370406", "山亭区政府"),
    ("370406", "翼云湖"),
    ("370481", "滕州市环保局"),
    ("370481", "滕州一中"),
    ("370481", "荆河"),
    ("370481", "北辛"),
    ("370481", "善国"),
    ("370402", "税郭"),
    ("370403", "沙沟"),
    ("370481", "官桥"),
)


@cache
def stations(n: int) -> tuple[Station, ...]:
    rng = random.Random(0xA1B)
    out = []
    for k in range(n):
        if k < len(_FIXED):
            d, place = _FIXED[k]
            name = f"{place}站"
        else:
            d = rng.choices(c.DISTRICT_CODES, c.DISTRICT_WEIGHTS)[0]
            g = rng.choice(c.city().grids_by_district[d])
            name = f"{g.street_name}{g.community_name}微站"
        out.append(Station(f"{d}A{k + 1:03d}", name, d, rng.uniform(0.8, 1.25)))
    return tuple(out)


def _day_level(seed: int, day: date) -> float:
    """A weather factor shared by all stations on a day (winter is worse)."""
    rng = random.Random(c.deterministic_seed(seed, 0xA1D, day.toordinal()))
    winter = 1.5 if day.month in (11, 12, 1, 2) else 1.15 if day.month in (3, 10) else 0.8
    return winter * rng.lognormvariate(0, 0.45)


def _hours(rng: random.Random) -> list[int]:
    """Hours with data: sometimes a block of hours is lost (→ fewer than 20 valid hours)."""
    hours = list(range(24))
    if rng.random() < 0.08:
        start = rng.randrange(24)
        lost = {(start + i) % 24 for i in range(rng.randint(5, 9))}
        hours = [h for h in hours if h not in lost]
    return [h for h in hours if rng.random() > 0.01]


def station_day(seed: int, st: Station, day: date) -> list[dict]:
    rng = random.Random(c.deterministic_seed(seed, 0xA1F, int(st.code[:6]), int(st.code[7:]), day.toordinal()))
    level = _day_level(seed, day) * st.offset
    out = []
    for h in _hours(rng):
        rush = 1.35 if h in (7, 8, 9, 17, 18, 19) else 1.0
        night = 1.15 if h < 6 or h > 21 else 1.0
        sun = max(0.0, math.sin((h - 6) / 13 * math.pi)) if 6 <= h <= 19 else 0.0
        pm25 = max(1.0, 38 * level * night * rng.lognormvariate(0, 0.18))
        v = {
            "station_code": st.code,
            "station_name": st.name if rng.random() > 0.02 else None,
            "observed_at": datetime(day.year, day.month, day.day, h),
            "district_code": st.district_code,
            "pm25": round(pm25),
            "pm10": round(pm25 * rng.uniform(1.5, 2.1)),
            "so2": round(max(2.0, 10 * level * rng.lognormvariate(0, 0.3))),
            "no2": round(max(3.0, 28 * level * rush * rng.lognormvariate(0, 0.2))),
            "o3": round(max(2.0, (25 + 120 * sun / level**0.5) * rng.lognormvariate(0, 0.15))),
            "co": round(max(0.1, 0.7 * level * rush * rng.lognormvariate(0, 0.2)), 1),
        }
        for p in ("pm25", "pm10", "so2", "no2", "o3", "co"):
            if rng.random() < 0.005:
                v[p] = None  # analyser fault
        v["aqi"] = hourly_aqi(v) if rng.random() > 0.05 else None
        out.append(v)
    return out


def make_dirty(v: dict, kind: str, rng: random.Random) -> dict | None:
    v = dict(v)
    if kind == "missing_required":
        v["district_code"] = None
    elif kind == "not_on_hour":
        v["observed_at"] = v["observed_at"] + timedelta(minutes=rng.randint(1, 59))
    elif kind == "out_of_range":
        col = rng.choice(tuple(RANGES))
        v[col] = -rng.randint(1, 50) if rng.random() < 0.4 else RANGES[col] + rng.randint(1, 999)
    elif kind == "bad_district":
        v["district_code"] = rng.choice(c.BAD_DISTRICT_CODES)
    else:  # pragma: no cover
        raise ValueError(kind)
    return v


def generate_air_quality(
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
    """``rows_per_day // 24`` stations (at least 1), one file per district group a day."""
    b.check_formats(SPEC, formats)
    prog = b.Progress(SPEC.name, progress, days * rows_per_day)
    sts = stations(max(1, rows_per_day // 24))
    groups = [(d, [s for s in sts if s.district_code == d]) for d in c.DISTRICT_CODES]
    out = []
    for i in range(days):
        day = start + timedelta(days=i)
        for gi, (dcode, members) in enumerate(groups):
            if not members:
                continue
            plan = b.plan_file(SPEC, Path(out_dir), seed, day, formats, tag=gi, tag_text=dcode)
            if plan.rng.random() < 0.2:
                plan.omit("aqi")  # this station group's system does not compute AQI
            if plan.rng.random() < 0.3:
                plan.omit("station_name")

            def records(members=members, day=day, plan=plan):
                for st in members:
                    for v in station_day(seed, st, day):
                        if plan.dup_rng.random() < 0.004:  # an hour re-sent with a corrected value
                            stale = dict(v, pm25=None if v["pm25"] is None else v["pm25"] + 3)
                            stale["aqi"] = None if v["aqi"] is None else hourly_aqi(stale)
                            yield stale, b.SUPERSEDED
                            yield v, b.WINNER
                        else:
                            yield v, b.NORMAL

            out.append(b.write_records(plan, records(), make_dirty, dirty_share, chunk_size, prog))
    return out
