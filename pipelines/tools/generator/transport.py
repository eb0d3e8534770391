"""transport.traffic_flow — 卡口交通流量 (spec section 4.5).

The largest feed: ``rows_per_day // 288`` checkpoints (at least 1) × 288 five-minute
intervals a day, one CSV per district a day (never xlsx). Rows are computed with numpy
per checkpoint-day and rendered directly, so tens of millions of rows stream through in
constant memory. Volumes follow a double-peaked daily profile (07–09 and 17–19 h) and
a checkpoint capacity; speed falls and the congestion index rises with the
volume/capacity ratio. About 0.3 % of intervals are missing (device offline).
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
    ("checkpoint_id", "卡口编号"),
    ("road_name", "路段名称"),
    ("district_code", "所属区县"),
    ("interval_start", "统计时段开始"),
    ("vehicle_count", "车流量"),
    ("avg_speed_kmh", "平均车速(km/h)"),
    ("congestion_index", "拥堵指数"),
)

DIRTY_KINDS: dict[str, str] = {
    "missing_required": "所属区县 is missing",
    "bad_interval": "统计时段开始 is not a multiple of 5 minutes",
    "out_of_range": "车流量 outside 0–5000, 平均车速(km/h) outside 0–200 or 拥堵指数 outside 0–10",
    "bad_district": "所属区县 is not one of the six county-level codes",
}

SPEC = b.Spec(
    "transport.traffic_flow",
    SPEC_COLUMNS,
    "枣庄市卡口交通流量统计",
    ("kkll_{tag}_{d}.{ext}", "traffic_flow_{tag}_{iso}.{ext}", "卡口流量_{tag}_{d}.{ext}"),
    DIRTY_KINDS,
    {"csv_gbk": 55, "csv_utf8": 35, "csv_utf8_bom": 10},
    machine=True,
)

# relative volume by hour
_HOUR = np.array(
    [
        0.12,
        0.08,
        0.06,
        0.05,
        0.07,
        0.18,
        0.45,
        0.95,
        1.0,
        0.7,
        0.6,
        0.62,
        0.6,
        0.55,
        0.58,
        0.62,
        0.72,
        0.98,
        1.0,
        0.75,
        0.55,
        0.42,
        0.3,
        0.2,
    ]
)
_PROFILE = np.repeat(_HOUR, 12)  # 288 intervals
_SUFFIX = ("与{x}交叉口", "{x}路口", "K{k}+{m}处", "收费站", "桥")


@dataclass(frozen=True)
class Checkpoint:
    id: str
    road: str
    district_code: str
    capacity: float  # vehicles per 5 minutes at the saturation point
    free_speed: float


@cache
def checkpoints(n: int) -> tuple[Checkpoint, ...]:
    rng = random.Random(0x7AF)
    out = []
    for k in range(n):
        d = rng.choices(c.DISTRICT_CODES, c.DISTRICT_WEIGHTS)[0]
        road = rng.choice(c.ROADS[d])
        x = rng.choice([r for r in c.ROADS[d] if r != road] or [road])
        kind = rng.choice(_SUFFIX).format(x=x, k=rng.randint(1, 40), m=rng.randint(0, 999))
        highway = kind in ("收费站",) or kind.startswith("K")
        out.append(
            Checkpoint(
                f"KK{d}{k + 1:05d}",
                road + kind,
                d,
                rng.uniform(250, 600) if highway else rng.uniform(80, 320),
                rng.uniform(70, 100) if highway else rng.uniform(40, 60),
            )
        )
    return tuple(out)


def checkpoint_day(seed: int, cp: Checkpoint, index: int, day: date) -> tuple[np.ndarray, ...]:
    """(interval indices present, counts, speeds, congestion) for one checkpoint-day."""
    g = np.random.default_rng(c.deterministic_seed(seed, 0x7F, index, day.toordinal()))
    weekend = 0.8 if day.weekday() >= 5 else 1.0
    demand = _PROFILE * cp.capacity * weekend * g.lognormal(0, 0.08) * 0.9
    counts = g.poisson(demand * g.lognormal(0, 0.12, 288)).astype(np.int64)
    ratio = counts / cp.capacity
    congestion = np.clip(ratio**2 * 8 + g.normal(0, 0.15, 288), 0, 9.99)
    speed = np.clip(cp.free_speed * (1 - 0.75 * np.clip(ratio, 0, 1.2) ** 2) + g.normal(0, 2, 288), 3, 150)
    present = g.random(288) > 0.003
    idx = np.nonzero(present)[0]
    return idx, counts[idx], np.round(speed[idx], 1), np.round(congestion[idx], 2)


def make_dirty(v: dict, kind: str, rng: random.Random) -> dict | None:
    v = dict(v)
    if kind == "missing_required":
        v["district_code"] = None
    elif kind == "bad_interval":
        v["interval_start"] = v["interval_start"] + timedelta(minutes=rng.randint(1, 4))
    elif kind == "out_of_range":
        col = rng.choice(("vehicle_count", "avg_speed_kmh", "congestion_index"))
        hi = {"vehicle_count": 5000, "avg_speed_kmh": 200, "congestion_index": 10}[col]
        if rng.random() < 0.4:
            v[col] = -rng.randint(1, 20) if col == "vehicle_count" else -round(rng.uniform(0.1, 20), 1)
        else:
            v[col] = hi + rng.randint(1, 999) if col == "vehicle_count" else round(hi + rng.uniform(0.5, 50), 1)
    elif kind == "bad_district":
        v["district_code"] = rng.choice(c.BAD_DISTRICT_CODES)
    else:  # pragma: no cover
        raise ValueError(kind)
    return v


def _rows(
    seed: int, members: list[tuple[int, Checkpoint]], day: date, plan: b.FilePlan, dirty_share: float
) -> Iterator[tuple[list, str | None, bool]]:
    base = datetime(day.year, day.month, day.day)
    stamps = [base + timedelta(minutes=5 * i) for i in range(288)]
    ts_text = [c.fmt_timestamp(t, plan.style.timestamp_style) for t in stamps]
    with_road = "road_name" in plan.names
    rng = plan.dirty_rng
    kinds = tuple(DIRTY_KINDS)
    for index, cp in members:
        idx, counts, speeds, cong = checkpoint_day(seed, cp, index, day)
        cnt_s = counts.astype(str).tolist()
        spd_s = [f"{x:.1f}" for x in speeds.tolist()]
        con_s = [f"{x:.2f}" for x in cong.tolist()]
        slots = idx.tolist()
        for j, slot in enumerate(slots):
            if dirty_share and rng.random() < dirty_share:
                kind = rng.choice(kinds)
                v = {
                    "checkpoint_id": cp.id,
                    "road_name": cp.road,
                    "district_code": cp.district_code,
                    "interval_start": stamps[slot],
                    "vehicle_count": int(counts[j]),
                    "avg_speed_kmh": float(speeds[j]),
                    "congestion_index": float(cong[j]),
                }
                yield b.render(make_dirty(v, kind, rng), plan), kind, False
            else:
                row = [cp.id, cp.road, cp.district_code, ts_text[slot], cnt_s[j], spd_s[j], con_s[j]]
                if not with_road:
                    del row[1]
                yield row, None, False


def generate_traffic_flow(
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
    """``rows_per_day // 288`` checkpoints (at least 1) × 288 intervals, one CSV per district a day."""
    b.check_formats(SPEC, formats)
    prog = b.Progress(SPEC.name, progress, days * rows_per_day)
    cps = checkpoints(max(1, rows_per_day // 288))
    groups = [(d, [(i, cp) for i, cp in enumerate(cps) if cp.district_code == d]) for d in c.DISTRICT_CODES]
    out = []
    for i in range(days):
        day = start + timedelta(days=i)
        for gi, (dcode, members) in enumerate(groups):
            if not members:
                continue
            plan = b.plan_file(SPEC, Path(out_dir), seed, day, formats, tag=gi, tag_text=dcode, big=True)
            if plan.rng.random() < 0.3:
                plan.omit("road_name")
            out.append(b.write_rows(plan, _rows(seed, members, day, plan, dirty_share), chunk_size, prog))
    return out
