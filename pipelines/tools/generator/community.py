"""community.service_requests — 智慧社区服务请求 (spec section 4.11).

Residents are partly the hotline's recurring callers (``hotline.recurring_caller`` of
the same seed: same phone, same grid), so the hashed phone joins across bureaus.
Requests are exported when submitted and again when completed and rated (1–5).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

from . import base as b
from . import common as c
from .hotline import recurring_caller

SPEC_COLUMNS = (
    ("request_id", "请求编号"),
    ("community_name", "社区名称"),
    ("grid_code", "网格编码"),
    ("service_type", "服务类型"),
    ("channel", "提交渠道"),
    ("submitted_at", "提交时间"),
    ("completed_at", "完成时间"),
    ("resident_phone", "居民电话"),
    ("rating", "评分"),
)
SERVICE_TYPES = ("一键报修", "预约物业", "费用查询", "投诉建议")
CHANNELS = ("手机APP", "电话", "现场")
SHARED_CALLER_SHARE = 0.35  # residents who are also hotline callers

DIRTY_KINDS: dict[str, str] = {
    "missing_required": "a required value (社区名称, 网格编码 or 提交时间) is missing",
    "bad_enum": "服务类型 or 提交渠道 holds a value outside its enum",
    "completed_before_submitted": "完成时间 is earlier than 提交时间",
    "bad_phone": "居民电话 is neither an 11-digit mobile nor area code + 7–8 digits",
    "bad_rating": "评分 is outside 1–5",
    "bad_grid_code": "网格编码 is not 15 digits",
}

SPEC = b.Spec(
    "community.service_requests",
    SPEC_COLUMNS,
    "智慧社区服务请求明细",
    ("社区服务请求_{d}.{ext}", "zhsq_fwqq_{d}.{ext}", "service_requests_{iso}.{ext}"),
    DIRTY_KINDS,
    {"csv_utf8": 30, "csv_utf8_bom": 20, "csv_gbk": 35, "xlsx": 15},
    phone_cols=("resident_phone",),
)


def make_request(seed: int, day: date, seq: int, pool: int) -> tuple[dict, dict, date | None]:
    rng = random.Random(c.deterministic_seed(seed, 0xC0A, day.toordinal(), seq))
    if rng.random() < SHARED_CALLER_SHARE:
        caller = recurring_caller(seed, rng.randrange(pool))
        grid, phone = caller.grid, caller.phone
    else:
        grid, phone = c.pick_grid(rng), c.phone(rng, 0.05)
    stype = rng.choices(SERVICE_TYPES, (40, 20, 25, 15))[0]
    channel = rng.choices(CHANNELS, (60, 30, 10))[0]
    submitted = b.ts_on(day, rng.uniform(7, 22) * 3600) if channel == "手机APP" else b.office_time(rng, day)
    minutes = {
        "一键报修": rng.lognormvariate(6.0, 1.0),
        "预约物业": rng.lognormvariate(7.0, 0.8),
        "费用查询": rng.uniform(2, 60),
        "投诉建议": rng.lognormvariate(7.5, 1.0),
    }[stype]
    completed = submitted + timedelta(minutes=int(minutes) + 1) if rng.random() > 0.03 else None
    rating = rng.choices((5, 4, 3, 2, 1), (36, 24, 20, 10, 10))[0] if rng.random() < 0.7 else None
    final = {
        "request_id": f"SQ{day:%Y%m%d}{seq:06d}",
        "community_name": grid.community_name,
        "grid_code": grid.code,
        "service_type": stype,
        "channel": channel,
        "submitted_at": submitted,
        "completed_at": completed,
        "resident_phone": phone if rng.random() > 0.03 else None,
        "rating": rating if completed else None,
    }
    return dict(final, completed_at=None, rating=None), final, completed.date() if completed else None


def make_dirty(v: dict, kind: str, rng: random.Random) -> dict | None:
    v = dict(v)
    if kind == "missing_required":
        v[rng.choice(("community_name", "grid_code", "submitted_at"))] = None
    elif kind == "bad_enum":
        if rng.random() < 0.5:
            v["service_type"] = rng.choice(("报修", "缴费", "咨询", "物业报修"))
        else:
            v["channel"] = rng.choice(("小程序", "微信", "APP端", "上门"))
    elif kind == "completed_before_submitted":
        v["completed_at"] = v["submitted_at"] - timedelta(minutes=rng.randint(61, 48 * 60))
    elif kind == "bad_phone":
        m = c.mobile(rng)
        v["resident_phone"] = rng.choice((m[:10], m + "8", f"{m[:3]}****{m[7:]}", "2" + m[1:9], "0632-12345"))
    elif kind == "bad_rating":
        v["rating"] = rng.choice((0, 6, 10, -1))
    elif kind == "bad_grid_code":
        g = v["grid_code"]
        v["grid_code"] = rng.choice((g[:14], g + "0", g[:9] + "ABC" + g[12:], g[:12]))
    else:  # pragma: no cover
        raise ValueError(kind)
    return v


def generate_requests(
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
    """``rows_per_day`` new requests a day, plus the day's completions of earlier ones.
    Shared residents are hotline recurring callers 0..max(100, rows_per_day)-1 of the same seed
    (all of them callers of a hotline run with at least as many rows a day)."""
    b.check_formats(SPEC, formats)
    prog = b.Progress(SPEC.name, progress, days * rows_per_day)
    pool = max(100, rows_per_day)
    life = b.Lifecycle(lambda d, s: make_request(seed, d, s, pool), start + timedelta(days=days - 1))
    out = []
    for i in range(days):
        day = start + timedelta(days=i)
        plan = b.plan_file(SPEC, Path(out_dir), seed, day, formats, big=rows_per_day > 400_000)
        out.append(
            b.write_records(
                plan, life.states(day, rows_per_day, plan.dup_rng), make_dirty, dirty_share, chunk_size, prog
            )
        )
    return out
