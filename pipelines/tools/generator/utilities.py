"""utilities.pipe_pressure — 地下管网压力监测 (spec section 4.6).

Minute-level IoT feed, always JSON Lines: ``round(rows_per_day / 1440)`` sensors (at
least 1), one file per network type a day. Each sensor has the operating thresholds of
its network (供水 0.20–0.60 MPa, 燃气 中压 0.10–0.40, 供热 0.30–1.20, 排水 0–0.25);
some sensor-days carry an anomaly (a leak drop below the low threshold or a surge
above the high one) lasting minutes to hours, so breaches are real but rare. A few
readings are missing (device offline).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path

import numpy as np

from . import base as b
from . import common as c

SPEC_COLUMNS = (
    ("sensor_id", "传感器编号"),
    ("network_type", "管网类型"),
    ("district_code", "所属区县"),
    ("measured_at", "监测时间"),
    ("pressure_mpa", "压力(MPa)"),
    ("threshold_low", "阈值下限"),
    ("threshold_high", "阈值上限"),
)
NETWORK_TYPES = ("供水", "排水", "燃气", "供热")
_NET = {  # weight, low, high, normal level, noise, code
    "供水": (40, 0.20, 0.60, 0.40, 0.015, "GS"),
    "排水": (20, 0.00, 0.25, 0.10, 0.010, "PS"),
    "燃气": (25, 0.10, 0.40, 0.25, 0.008, "RQ"),
    "供热": (15, 0.30, 1.20, 0.75, 0.030, "GR"),
}

DIRTY_KINDS: dict[str, str] = {
    "missing_required": "所属区县 is missing",
    "bad_enum": "管网类型 holds a value outside its enum",
    "out_of_range": "压力(MPa) is outside 0–4",
    "bad_thresholds": "阈值上限 is not greater than 阈值下限",
    "bad_district": "所属区县 is not one of the six county-level codes",
}

SPEC = b.Spec(
    "utilities.pipe_pressure",
    SPEC_COLUMNS,
    "枣庄市地下管网压力监测",
    ("pressure_{tag}_{d}.{ext}", "gwyl_{tag}_{iso}.{ext}", "iot_pressure_{tag}_{stamp}.{ext}"),
    DIRTY_KINDS,
    {"jsonl": 1},
    machine=True,
)


@dataclass(frozen=True)
class Sensor:
    id: str
    network_type: str
    district_code: str
    low: float
    high: float
    level: float
    noise: float
    second: int  # the second of the minute this sensor reports at


@cache
def sensors(n: int) -> tuple[Sensor, ...]:
    rng = random.Random(0x9E55)
    out = []
    for k in range(n):
        net = rng.choices(NETWORK_TYPES, [v[0] for v in _NET.values()])[0]
        _, low, high, level, noise, code = _NET[net]
        d = rng.choices(c.DISTRICT_CODES, c.DISTRICT_WEIGHTS)[0]
        out.append(
            Sensor(
                f"{code}{d}{k + 1:05d}",
                net,
                d,
                low,
                high,
                level * rng.uniform(0.9, 1.1),
                noise,
                rng.choice((0, 0, 0, rng.randrange(60))),
            )
        )
    return tuple(out)


def sensor_day(seed: int, s: Sensor, index: int, day: date) -> tuple[list[int], list[float]]:
    """(minutes present, pressures) for one sensor-day."""
    g = np.random.default_rng(c.deterministic_seed(seed, 0x9E, index, day.toordinal()))
    t = np.arange(1440)
    demand = 1 - 0.08 * np.sin((t / 1440 - 0.3) * 2 * np.pi)  # higher pressure at night
    p = s.level * demand + np.cumsum(g.normal(0, s.noise / 8, 1440)) * 0.2 + g.normal(0, s.noise, 1440)
    if g.random() < 0.04:  # an anomaly episode
        start, length = int(g.integers(0, 1380)), int(g.integers(5, 180))
        if g.random() < 0.6:
            p[start : start + length] = s.low * g.uniform(0.3, 0.9) if s.low > 0 else 0.0
        else:
            p[start : start + length] = s.high * g.uniform(1.05, 1.4)
    p = np.clip(p, 0, 3.9)
    present = np.nonzero(g.random(1440) > 0.004)[0]
    return present.tolist(), np.round(p[present], 3).tolist()


def make_dirty(v: dict, kind: str, rng: random.Random) -> dict | None:
    v = dict(v)
    if kind == "missing_required":
        v["district_code"] = None
    elif kind == "bad_enum":
        v["network_type"] = rng.choice(("自来水", "天然气", "雨水", "热力", "污水"))
    elif kind == "out_of_range":
        v["pressure_mpa"] = -round(rng.uniform(0.01, 1), 3) if rng.random() < 0.5 else round(rng.uniform(4.1, 99), 2)
    elif kind == "bad_thresholds":
        lo, hi = v["threshold_low"], v["threshold_high"]
        v["threshold_low"], v["threshold_high"] = (hi, lo) if rng.random() < 0.7 else (hi, hi)
    elif kind == "bad_district":
        v["district_code"] = rng.choice(c.BAD_DISTRICT_CODES)
    else:  # pragma: no cover
        raise ValueError(kind)
    return v


def _rows(
    seed: int, members: list[tuple[int, Sensor]], day: date, plan: b.FilePlan, dirty_share: float
) -> Iterator[tuple[list, str | None, bool]]:
    base = datetime(day.year, day.month, day.day)
    rng = plan.dirty_rng
    kinds = tuple(DIRTY_KINDS)
    style = plan.style.timestamp_style
    for index, s in members:
        minutes, values = sensor_day(seed, s, index, day)
        low, high = s.low, s.high
        for m, p in zip(minutes, values, strict=True):
            ts = base + timedelta(minutes=m, seconds=s.second)
            if dirty_share and rng.random() < dirty_share:
                kind = rng.choice(kinds)
                v = {
                    "sensor_id": s.id,
                    "network_type": s.network_type,
                    "district_code": s.district_code,
                    "measured_at": ts,
                    "pressure_mpa": p,
                    "threshold_low": low,
                    "threshold_high": high,
                }
                yield b.render(make_dirty(v, kind, rng), plan), kind, False
            else:
                text = c.fmt_timestamp(ts, style) if s.second == 0 or style != "iso_min" else f"{ts:%Y-%m-%d %H:%M:%S}"
                yield [s.id, s.network_type, s.district_code, text, p, low, high], None, False


def generate_pipe_pressure(
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
    """``round(rows_per_day / 1440)`` sensors (at least 1), one JSON Lines file per network type a day."""
    b.check_formats(SPEC, formats)
    prog = b.Progress(SPEC.name, progress, days * rows_per_day)
    ss = sensors(max(1, round(rows_per_day / 1440)))
    groups = [(net, [(i, s) for i, s in enumerate(ss) if s.network_type == net]) for net in NETWORK_TYPES]
    out = []
    for i in range(days):
        day = start + timedelta(days=i)
        for gi, (net, members) in enumerate(groups):
            if not members:
                continue
            plan = b.plan_file(SPEC, Path(out_dir), seed, day, formats, tag=gi, tag_text=_NET[net][5], big=True)
            out.append(b.write_rows(plan, _rows(seed, members, day, plan, dirty_share), chunk_size, prog))
    return out
