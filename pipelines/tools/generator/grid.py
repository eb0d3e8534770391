"""grid.grids and grid.events (spec sections 4.9 and 4.10).

grid.grids is the snapshot of ``common.city()`` grids with population, households
(the denominator of the EV-charging KPI) and grid worker: a full snapshot on the first
business date and again on the (few) dates it changes, with a small population drift.
``rows_per_day`` does not apply to it (a snapshot is the whole city, ~1,570 grids).

grid.events are reported by the grid's worker (reporter_id = its gridworker_id) and
exported when reported (待处置/处置中) and again when resolved (已办结/已关闭).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

from . import base as b
from . import common as c

GRID_COLUMNS = (
    ("grid_code", "网格编码"),
    ("grid_name", "网格名称"),
    ("street_name", "所属镇街"),
    ("community_name", "所属社区"),
    ("district_code", "所属区县"),
    ("population", "常住人口"),
    ("households", "户数"),
    ("gridworker_id", "网格员编号"),
)
EVENT_COLUMNS = (
    ("event_id", "事件编号"),
    ("grid_code", "网格编码"),
    ("reporter_id", "上报人编号"),
    ("reported_at", "上报时间"),
    ("category", "事件类别"),
    ("description", "事件描述"),
    ("handling_dept", "处置部门"),
    ("resolved_at", "处置完成时间"),
    ("status", "处置状态"),
)
CATEGORIES = ("安全隐患", "电动车充电隐患", "环境卫生", "矛盾纠纷", "市政设施", "违章建筑", "其他")
CATEGORY_WEIGHTS = (14, 8, 30, 12, 18, 7, 11)
STATUSES = ("待处置", "处置中", "已办结", "已关闭")
SNAPSHOT_CHANGE_SHARE = 0.15  # share of later dates with a new snapshot

GRID_DIRTY_KINDS: dict[str, str] = {
    "missing_required": "a required value (网格名称, 所属镇街 or 所属社区) is missing",
    "bad_grid_code": "网格编码 is not 15 digits",
    "grid_prefix_mismatch": "网格编码 does not start with 所属区县",
    "negative_count": "常住人口 or 户数 is negative",
}
EVENT_DIRTY_KINDS: dict[str, str] = {
    "missing_required": "a required value (网格编码 or 上报时间) is missing",
    "bad_enum": "事件类别 or 处置状态 holds a value outside its enum",
    "resolved_before_reported": "处置完成时间 is earlier than 上报时间",
}

GRID_SPEC = b.Spec(
    "grid.grids",
    GRID_COLUMNS,
    "枣庄市网格基础信息表",
    ("网格基础信息_{d}.{ext}", "wgjcxx_{d}.{ext}", "网格信息全量_{iso}.{ext}"),
    GRID_DIRTY_KINDS,
    {"csv_gbk": 50, "csv_utf8_bom": 5, "xlsx": 45},
)
EVENT_SPEC = b.Spec(
    "grid.events",
    EVENT_COLUMNS,
    "枣庄市网格化服务管理事件明细",
    ("网格事件_{d}.{ext}", "wgsj_{d}.{ext}", "网格事件导出_{iso}.{ext}", "GridEvent_{stamp}.{ext}"),
    EVENT_DIRTY_KINDS,
    {"csv_gbk": 60, "csv_utf8_bom": 10, "csv_gb18030": 5, "xlsx": 25},
)


def snapshot_dates(seed: int, start: date, days: int) -> list[date]:
    out = [start]
    for i in range(1, days):
        d = start + timedelta(days=i)
        if random.Random(c.deterministic_seed(seed, 0x6D5, d.toordinal())).random() < SNAPSHOT_CHANGE_SHARE:
            out.append(d)
    return out


def grid_record(seed: int, g: c.Grid, version: int) -> dict:
    st = c.grid_stats(g.code)
    rng = random.Random(c.deterministic_seed(seed, 0x6D6, int(g.code), version))
    drift = 1 + 0.002 * version * rng.uniform(-1, 1.5)
    return {
        "grid_code": g.code,
        "grid_name": g.name,
        "street_name": g.street_name,
        "community_name": g.community_name,
        "district_code": g.district_code,
        "population": round(st.population * drift),
        "households": round(st.households * drift),
        "gridworker_id": st.gridworker_id if rng.random() > 0.02 else None,
    }


def grid_dirty(v: dict, kind: str, rng: random.Random) -> dict | None:
    v = dict(v)
    g = v["grid_code"]
    if kind == "missing_required":
        v[rng.choice(("grid_name", "street_name", "community_name"))] = None
    elif kind == "bad_grid_code":  # one-to-one, so two broken codes never collide (grid_code is the key)
        v["grid_code"] = rng.choice((g + str(rng.randrange(10)), g[:6] + "-" + g[6:], g[:12] + "A" + g[13:]))
    elif kind == "grid_prefix_mismatch":
        v["district_code"] = rng.choice([d for d in c.DISTRICT_CODES if d != v["district_code"]])
    elif kind == "negative_count":
        v[rng.choice(("population", "households"))] = -rng.randint(1, 500)
    else:  # pragma: no cover
        raise ValueError(kind)
    return v


def generate_grids(
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
    """Full snapshots of the city's grids on ``start`` and on the dates they change
    (``rows_per_day`` is ignored: a snapshot is every grid)."""
    b.check_formats(GRID_SPEC, formats)
    prog = b.Progress(GRID_SPEC.name, progress, 0)
    out = []
    for version, day in enumerate(snapshot_dates(seed, start, days)):
        plan = b.plan_file(GRID_SPEC, Path(out_dir), seed, day, formats)

        def records(version=version, plan=plan):
            for g in c.city().grids:
                v = grid_record(seed, g, version)
                if plan.dup_rng.random() < 0.003:  # listed twice: a stale row, then the current one
                    yield dict(v, population=v["population"] - 7), b.SUPERSEDED
                    yield v, b.WINNER
                else:
                    yield v, b.NORMAL

        out.append(b.write_records(plan, records(), grid_dirty, dirty_share, chunk_size, prog))
    return out


_DESCRIPTIONS = {
    "安全隐患": ("{place}{unit}楼道堆放杂物，堵塞消防通道。", "{place}沿街商铺液化气罐存放不规范，存在安全隐患。"),
    "电动车充电隐患": (
        "{place}{unit}有居民飞线充电，电线从{floor}楼窗户垂下给电动车充电。",
        "{place}{unit}楼道内停放电动车并充电，已劝离。",
        "{place}车棚充电桩线路老化，存在起火风险。",
    ),
    "环境卫生": ("{road}路边垃圾堆积，未及时清运。", "{place}绿化带内有大量建筑垃圾。"),
    "矛盾纠纷": (
        "{place}{unit}邻里因漏水问题发生纠纷，需调解。",
        "{place}居民与物业因停车费发生争执，联系人电话{phone}。",
    ),
    "市政设施": ("{road}窨井盖破损缺失。", "{road}路灯不亮，共{n}盏。", "{place}门口人行道砖松动。"),
    "违章建筑": ("{place}{unit}楼顶私搭乱建彩钢房。", "{place}一楼住户私自扩建院墙。"),
    "其他": ("{place}流浪犬伤人隐患，已上报。", "{place}空置房屋门窗破损。"),
}
_DEPT_KIND = {
    "安全隐患": ("emergency", "street"),
    "电动车充电隐患": ("street", "emergency"),
    "环境卫生": ("enforcement", "street"),
    "矛盾纠纷": ("street",),
    "市政设施": ("m:urban", "housing"),
    "违章建筑": ("enforcement",),
    "其他": ("street",),
}


def _dept(kind: str, g: c.Grid) -> str:
    if kind == "street":
        return c.city().street_of(g).office
    if kind.startswith("m:"):
        return c.MUNICIPAL_DEPTS[kind[2:]]
    return c.district_dept(kind, g.district_code)


def make_event(seed: int, day: date, seq: int) -> tuple[dict, dict, date | None]:
    rng = random.Random(c.deterministic_seed(seed, 0x6E7, day.toordinal(), seq))
    g = c.pick_grid(rng)
    cat = rng.choices(CATEGORIES, CATEGORY_WEIGHTS)[0]
    reported = b.office_time(rng, day)
    place = g.community_name + ("" if g.community_name.endswith("村") else rng.choice(("", "小区")))
    desc = rng.choice(_DESCRIPTIONS[cat]).format(
        place=place,
        unit=f"{rng.randint(1, 30)}号楼{rng.randint(1, 6)}单元",
        floor=rng.randint(2, 6),
        road=rng.choice(c.ROADS[g.district_code]),
        n=rng.randint(2, 9),
        phone=c.mobile(rng),
    )
    dept = _dept(rng.choice(_DEPT_KIND[cat]), g)
    fate = rng.random()
    resolved = None
    if fate > 0.04:
        hours = rng.lognormvariate(2.6, 1.1)  # median ≈ 13.5 h
        resolved = reported + timedelta(minutes=max(15, int(hours * 60)))
    final = {
        "event_id": f"WG{day:%Y%m%d}{seq:06d}",
        "grid_code": g.code,
        "reporter_id": c.grid_stats(g.code).gridworker_id if rng.random() > 0.1 else None,
        "reported_at": reported,
        "category": cat,
        "description": desc if rng.random() > 0.02 else None,
        "handling_dept": dept,
        "resolved_at": resolved,
        "status": ("已办结" if rng.random() < 0.85 else "已关闭") if resolved else "处置中",
    }
    open_v = dict(
        final,
        resolved_at=None,
        status=rng.choice(("待处置", "处置中")),
        handling_dept=dept if rng.random() < 0.6 else None,
    )
    return open_v, final, resolved.date() if resolved else None


def event_dirty(v: dict, kind: str, rng: random.Random) -> dict | None:
    v = dict(v)
    if kind == "missing_required":
        v[rng.choice(("grid_code", "reported_at"))] = None
    elif kind == "bad_enum":
        if rng.random() < 0.5:
            v["category"] = rng.choice(("安全生产", "治安", "消防隐患", "民生服务"))
        else:
            v["status"] = rng.choice(("已处理", "办理中", "待受理", "完成"))
    elif kind == "resolved_before_reported":
        v["resolved_at"] = v["reported_at"] - timedelta(minutes=rng.randint(61, 72 * 60))
    else:  # pragma: no cover
        raise ValueError(kind)
    return v


def generate_events(
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
    """``rows_per_day`` new events a day, plus the day's resolutions of earlier events."""
    b.check_formats(EVENT_SPEC, formats)
    prog = b.Progress(EVENT_SPEC.name, progress, days * rows_per_day)
    life = b.Lifecycle(lambda d, s: make_event(seed, d, s), start + timedelta(days=days - 1))
    out = []
    for i in range(days):
        day = start + timedelta(days=i)
        plan = b.plan_file(EVENT_SPEC, Path(out_dir), seed, day, formats, big=rows_per_day > 400_000)
        out.append(
            b.write_records(
                plan, life.states(day, rows_per_day, plan.dup_rng), event_dirty, dirty_share, chunk_size, prog
            )
        )
    return out
