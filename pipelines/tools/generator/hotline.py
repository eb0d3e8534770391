"""hotline.tickets — 12345 政务服务便民热线工单 (spec section 4.1).

Every ticket is a pure function of (seed, received date, sequence number), so a ticket
closed days after it was received is regenerated on its closing date instead of being
held in memory; only a compact index of pending closures (4 bytes a ticket) is kept.

Lifecycle: a ticket is exported open on its received date, and again — closed and
rated — on the date it is closed. A ticket closed on its received date is exported
once, closed (a few are exported twice in that file: the open row first, then the
closed row, which wins). About 3 % are never closed, and some close after their
deadline.
"""

from __future__ import annotations

import random
from array import array
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from . import common as c
from .writers import FORMATS, choose_format, write_file

DATASET = "hotline.tickets"
BUREAU = "hotline"
TITLE = "枣庄市12345热线工单明细表"

CHANNELS = ("电话", "微信", "爱山东APP", "网站", "信件")
CHANNEL_WEIGHTS = (64, 12, 14, 9, 1)
REQUEST_TYPES = ("咨询", "求助", "投诉", "举报", "建议", "表扬")
SATISFACTION = ("非常满意", "满意", "基本满意", "不满意", "非常不满意", "未评价")
SATISFACTION_WEIGHTS = (52, 24, 9, 4, 2, 9)
DEADLINES = (24, 72, 120, 360)

# Per-hour intake profile (0–23 h): 12345 answers around the clock, peaks in office hours.
_HOUR_WEIGHTS = (1, 0.6, 0.4, 0.3, 0.3, 0.6, 1.5, 4, 8, 10, 10, 8, 5, 5, 8, 9, 9, 8, 6, 5, 5, 4, 3, 2)

DIRTY_KINDS: dict[str, str] = {
    "missing_required": "a required value (事项分类, 诉求内容 or 首接单位) is missing",
    "bad_enum": "来源渠道, 诉求类型 or 满意度 holds a value outside its enum",
    "bad_district": "所属区县 is not one of the six county-level codes",
    "closed_before_received": "办结时间 is earlier than 受理时间",
    "negative_transfer": "转办次数 is negative",
    "bad_ticket_id": "工单编号 does not match ZZ12345-YYYYMMDD-NNNNNN",
    "bad_phone": "联系电话 is neither an 11-digit mobile nor area code + 7–8 digits",
    "bad_grid_code": "网格编码 is not 15 digits",
    "bad_deadline": "办理时限(小时) is not > 0",
}

_BAD_ENUM = {
    "channel": ("短信", "来访", "政务服务网", "12345热线"),
    "request_type": ("意见", "求决", "其他", "反映"),
    "satisfaction": ("一般", "较满意", "很满意", "满意度高"),
}


@dataclass(frozen=True)
class Topic:
    name: str
    weight: float
    dept: tuple[str, ...]  # district dept kinds, "street", or "m:<municipal key>"
    deadlines: tuple[int, ...]  # choices (repeat for weight)
    types: tuple[int, ...]  # weights of REQUEST_TYPES
    templates: tuple[str, ...]
    winter: bool = False  # only in the heating season (15 Nov – 15 Mar)


TOPICS: tuple[Topic, ...] = (
    Topic(
        "噪音扰民",
        9,
        ("enforcement", "street", "ecology"),
        (72, 72, 120),
        (5, 10, 60, 15, 8, 2),
        (
            "来电人反映{place}附近{noise}，{when}仍有噪音，严重影响休息，请相关部门处理。",
            "市民反映{road}沿线{noise}，多次协调无果，要求尽快制止。",
        ),
    ),
    Topic(
        "供暖问题",
        8,
        ("m:heating", "housing"),
        (24, 24, 72),
        (10, 35, 45, 5, 4, 1),
        (
            "来电人反映{place}{unit}室内温度只有{temp}度，暖气不热，请供热单位尽快维修。",
            "市民咨询{place}今年供暖费缴纳标准及停暖退费办理方式。",
        ),
        winter=True,
    ),
    Topic(
        "道路破损",
        6,
        ("m:urban", "housing", "street"),
        (120, 120, 360),
        (5, 30, 35, 5, 24, 1),
        (
            "市民反映{road}与{road2}交叉口路面塌陷破损，坑洼积水，存在安全隐患，请尽快修复。",
            "来电人反映{place}门前道路年久失修，雨天泥泞，希望尽快硬化。",
        ),
    ),
    Topic(
        "物业纠纷",
        8,
        ("housing", "street"),
        (120, 120, 360),
        (15, 20, 55, 3, 6, 1),
        ("来电人反映{place}物业公司{issue}，与物业多次沟通未果，请住建部门协调处理。",),
    ),
    Topic(
        "电动车充电",
        5,
        ("emergency", "street", "enforcement"),
        (24, 72),
        (10, 25, 15, 35, 14, 1),
        (
            "来电人反映{place}{unit}楼道内有居民私拉电线给电动车充电，存在火灾隐患，请尽快处理。",
            "市民建议在{place}增设电动自行车集中充电桩，解决充电难问题。",
        ),
    ),
    Topic(
        "供水问题",
        6,
        ("m:watersupply", "m:water"),
        (24, 24, 72),
        (15, 45, 30, 2, 7, 1),
        (
            "来电人反映{place}自{when}起停水，未见停水通知，请尽快恢复供水。",
            "市民反映{place}自来水发黄有异味，担心水质问题，请检测处理。",
        ),
    ),
    Topic(
        "停车管理",
        4,
        ("police", "enforcement"),
        (72, 120),
        (20, 10, 40, 15, 14, 1),
        ("市民反映{road}两侧车辆乱停乱放，占用消防通道，请交警部门治理。",),
    ),
    Topic(
        "环境卫生",
        6,
        ("enforcement", "street"),
        (72, 120),
        (5, 15, 55, 10, 14, 1),
        ("来电人反映{place}垃圾桶满溢无人清运，气味难闻，请环卫部门处理。",),
    ),
    Topic(
        "占道经营",
        4,
        ("enforcement",),
        (72, 120),
        (3, 7, 55, 25, 10, 0),
        ("市民反映{road}早市摊贩占道经营，影响通行，请城管部门管理。",),
    ),
    Topic(
        "拖欠工资",
        6,
        ("hrss", "m:hrss"),
        (120, 360),
        (15, 50, 30, 5, 0, 0),
        ("来电人反映在{company}工作期间被拖欠工资{money}元，多次讨要未果，请求帮助追讨。",),
    ),
    Topic(
        "医疗保险",
        5,
        ("m:medinsure", "health"),
        (72, 120),
        (70, 20, 5, 1, 3, 1),
        ("来电人咨询异地就医备案及{place}居民医保缴费标准。", "市民咨询新生儿如何办理城乡居民医疗保险参保。"),
    ),
    Topic(
        "户籍办理",
        3,
        ("police",),
        (72, 120),
        (75, 15, 5, 1, 3, 1),
        ("来电人咨询子女在{district}落户需要准备哪些材料。",),
    ),
    Topic(
        "教育入学",
        4,
        ("education", "m:education"),
        (72, 120),
        (70, 10, 10, 2, 7, 1),
        (
            "市民咨询{district}今年小学入学划片范围及报名时间。",
            "来电人反映{company}校外培训机构停课后拒不退费，请求帮助。",
        ),
    ),
    Topic(
        "违章建筑",
        3,
        ("enforcement", "m:nature"),
        (120, 360),
        (3, 5, 30, 55, 7, 0),
        ("来电人举报{place}有住户在楼顶违规搭建彩钢房，请执法部门查处。",),
    ),
    Topic(
        "燃气安全",
        3,
        ("m:gas", "emergency"),
        (24,),
        (20, 40, 20, 15, 5, 0),
        ("来电人反映{place}{unit}附近闻到燃气异味，担心泄漏，请燃气公司立即上门检查。",),
    ),
    Topic(
        "公交线路",
        3,
        ("m:bus", "m:transport"),
        (72, 120),
        (30, 5, 30, 0, 34, 1),
        ("市民建议{bus}路公交车延长运营时间并在{road}增设站点。",),
    ),
    Topic(
        "食品安全",
        3,
        ("market", "m:market"),
        (72, 120),
        (5, 5, 45, 40, 5, 0),
        ("来电人反映在{road}一家餐馆就餐后出现腹泻，怀疑食材不新鲜，请市场监管部门检查。",),
    ),
    Topic(
        "房屋质量",
        3,
        ("housing", "m:housing"),
        (120, 360),
        (10, 25, 55, 5, 5, 0),
        ("来电人反映{place}新交付房屋墙体开裂、卫生间渗水，开发商拖延维修。",),
    ),
    Topic(
        "油烟污染",
        3,
        ("ecology", "enforcement"),
        (72, 120),
        (3, 7, 60, 25, 5, 0),
        ("市民反映{road}沿街饭店油烟直排，未安装净化设施，请处理。",),
    ),
    Topic(
        "路灯故障",
        3,
        ("m:urban", "street"),
        (72, 120),
        (3, 40, 35, 0, 21, 1),
        ("来电人反映{road}有多盏路灯不亮，夜间出行不便，请尽快维修。",),
    ),
    Topic(
        "工作人员表扬",
        1,
        ("street", "gov"),
        (120,),
        (0, 0, 0, 0, 0, 1),
        ("来电人表扬{dept}工作人员热情负责，帮助解决了{topic2}问题。",),
    ),
)
_NOISE = ("建筑工地夜间施工", "广场舞音响声音过大", "商铺高音喇叭促销", "KTV夜间营业", "楼上住户装修")
_ISSUE = ("私自上调物业费", "不清运垃圾", "电梯长期故障不修", "强制收取停车费", "公共收益不公开")
_COMPANIES = (
    "枣庄某建筑劳务公司",
    "滕州某商贸有限公司",
    "薛城某餐饮店",
    "市中区某物流公司",
    "某教育培训学校",
    "某装饰工程公司",
)


@lru_cache(maxsize=512)
def _season_cum_weights(d: date) -> tuple[float, ...]:
    """Cumulative topic weights on a date (heating complaints only in the heating season)."""
    winter = (d.month, d.day) >= (11, 15) or (d.month, d.day) <= (3, 15)
    acc, out = 0.0, []
    for t in TOPICS:
        acc += t.weight if (winter or not t.winter) else t.weight * 0.05
        out.append(acc)
    return tuple(out)


_TOPIC_INDEX = range(len(TOPICS))


@dataclass(frozen=True)
class Caller:
    name: str | None
    phone: str | None  # canonical digits
    grid: c.Grid
    topic: int  # index in TOPICS (used by recurring callers)


@lru_cache(maxsize=65536)
def recurring_caller(seed: int, index: int) -> Caller:
    rng = random.Random(c.deterministic_seed(seed, 0xCA11, index))
    topic = rng.choices(range(len(TOPICS)), [t.weight for t in TOPICS])[0]
    return Caller(c.person_name(rng, 0.002), c.phone(rng), c.pick_grid(rng), topic)


def _received_at(day: date, seq: int, n: int, u: float) -> datetime:
    """Monotone in seq: the (seq-1+u)/n quantile of the daily intake profile."""
    q = (seq - 1 + u) / n * sum(_HOUR_WEIGHTS)
    acc = 0.0
    for hour, w in enumerate(_HOUR_WEIGHTS):
        if acc + w >= q:
            secs = int(hour * 3600 + (q - acc) / w * 3600)
            return datetime(day.year, day.month, day.day) + timedelta(seconds=min(secs, 86399))
        acc += w
    return datetime(day.year, day.month, day.day, 23, 59, 59)


def _dept(kind: str, grid: c.Grid) -> str:
    if kind == "street":
        return c.city().street_of(grid).office
    if kind.startswith("m:"):
        return c.MUNICIPAL_DEPTS[kind[2:]]
    return c.district_dept(kind, grid.district_code)


@dataclass
class Ticket:
    """Canonical values of one ticket, both states, derived from (seed, day, seq)."""

    values: dict  # closed state (closed_at may be None: never closed)
    open_values: dict
    closed_at: datetime | None


def make_ticket(seed: int, day: date, seq: int, n_day: int, recurring_pool: int) -> Ticket:
    rng = random.Random(c.deterministic_seed(seed, day.toordinal(), seq))
    received = _received_at(day, seq, n_day, rng.random())
    if rng.random() < 0.10:
        caller = recurring_caller(seed, rng.randrange(recurring_pool))
        topic_i = caller.topic if rng.random() < 0.85 else None
    else:
        caller = Caller(c.person_name(rng, 0.0003), c.phone(rng), c.pick_grid(rng), 0)
        topic_i = None
    if topic_i is None:
        topic_i = rng.choices(_TOPIC_INDEX, cum_weights=_season_cum_weights(day))[0]
    topic = TOPICS[topic_i]
    grid = caller.grid if rng.random() < 0.9 else c.pick_grid(rng)
    name = caller.name if rng.random() > 0.05 else None  # anonymous callers
    phone = caller.phone if rng.random() > 0.02 else None
    channel = rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0]
    rtype = rng.choices(REQUEST_TYPES, topic.types)[0]
    district = c.DISTRICTS[grid.district_code]
    comm_place = grid.community_name + rng.choice(
        ("", "" if grid.community_name.endswith("村") else "小区", f"{rng.randint(1, 30)}号楼")
    )
    roads = c.ROADS[grid.district_code]
    first_kind = rng.choice(topic.dept)
    first = _dept(first_kind, grid)
    content = rng.choice(topic.templates).format(
        place=comm_place,
        road=rng.choice(roads),
        road2=rng.choice(roads),
        noise=rng.choice(_NOISE),
        issue=rng.choice(_ISSUE),
        company=rng.choice(_COMPANIES),
        when=rng.choice(("晚上10点", "凌晨", "中午", "昨天", "本周一")),
        unit=f"{rng.randint(1, 6)}单元",
        temp=rng.randint(8, 16),
        money=f"{rng.randint(2, 60) * 1000:,}",
        district=district,
        bus=rng.randint(1, 80),
        dept=first,
        topic2=rng.choice(("供暖", "供水", "物业", "入学")),
    )
    r = rng.random()
    if r < 0.08 and phone:
        content += f"来电人要求回电{c.fmt_phone(phone, rng)}。"
    elif r < 0.11:
        content += f"联系电话：{c.phone(rng)}。"
    elif r < 0.13:
        content += f"本人身份证号{c.resident_id(rng)}，请核实。"
    if rng.random() < 0.005:
        content += "\n补充：" + rng.choice(("情况紧急。", "已多次反映。", "请回电告知结果。"))
    t = rng.random()
    transfers = 0 if t < 0.82 else 1 if t < 0.95 else 2 if t < 0.99 else 3
    handling = first
    if transfers:
        other = [k for k in topic.dept if k != first_kind] or ["gov"]
        handling = _dept(rng.choice(other), grid)
    deadline = rng.choice(topic.deadlines)
    if deadline == 72 and rng.random() < 0.1:
        deadline = 24  # urgent
    fate = rng.random()
    if fate < 0.03:
        closed = None
    else:
        factor = rng.uniform(1.0, 2.5) if fate < 0.10 else rng.betavariate(1.2, 3.5)
        closed = received + timedelta(minutes=max(10, int(deadline * 60 * factor)))
    satisfaction = rng.choices(SATISFACTION, SATISFACTION_WEIGHTS)[0]
    values = {
        "ticket_id": f"ZZ12345-{day:%Y%m%d}-{seq:06d}",
        "received_at": received,
        "channel": channel,
        "request_type": rtype,
        "topic": topic.name,
        "district_code": grid.district_code,
        "grid_code": grid.code if rng.random() > 0.08 else None,
        "caller_name": name,
        "caller_phone": phone,
        "content": content,
        "first_receiver_dept": first,
        "handling_dept": handling,
        "transfer_count": transfers,
        "closed_at": closed,
        "deadline_hours": deadline,
        "satisfaction": satisfaction if closed else None,
    }
    open_values = dict(
        values,
        closed_at=None,
        satisfaction=None,
        transfer_count=min(transfers, 1) if rng.random() < 0.3 else 0,
        handling_dept=first if rng.random() < 0.7 else None,
    )
    return Ticket(values, open_values, closed)


def _make_dirty(values: dict, kind: str, rng: random.Random) -> dict:
    v = dict(values)
    if kind == "missing_required":
        v[rng.choice(("topic", "content", "first_receiver_dept"))] = None
    elif kind == "bad_enum":
        col = rng.choice(tuple(_BAD_ENUM))
        v[col] = rng.choice(_BAD_ENUM[col])
    elif kind == "bad_district":
        v["district_code"] = rng.choice(c.BAD_DISTRICT_CODES)
    elif kind == "closed_before_received":
        v["closed_at"] = v["received_at"] - timedelta(minutes=rng.randint(61, 48 * 60))
    elif kind == "negative_transfer":
        v["transfer_count"] = -rng.randint(1, 3)
    elif kind == "bad_ticket_id":
        tid = v["ticket_id"]
        v["ticket_id"] = rng.choice(
            (
                tid.replace("-", ""),
                tid[:-1] + "O",  # letter O for zero (one-to-one: broken ids never collide)
                tid.replace("ZZ12345", "ZZ1234"),
                tid[:8] + tid[10:],
                "GD" + tid[7:],
                tid + "-1",
            )
        )
    elif kind == "bad_phone":
        m = c.mobile(rng)
        v["caller_phone"] = rng.choice(
            (
                m[:10],
                m + str(rng.randrange(10)),
                f"{m[:3]}****{m[7:]}",
                f"0632-{rng.randrange(10**5):05d}",
                "2" + m[1:9],
            )
        )
    elif kind == "bad_grid_code":
        g = v["grid_code"] or c.pick_grid(rng).code
        v["grid_code"] = rng.choice((g[:14], g + "0", g[:9] + "ABC" + g[12:], g[:12]))
    elif kind == "bad_deadline":
        v["deadline_hours"] = rng.choice((0, -24, -72))
    else:  # pragma: no cover
        raise ValueError(kind)
    return v


def _filename(rng: random.Random, day: date, fmt: str) -> str:
    ext = "xlsx" if fmt == "xlsx" else "csv"
    made = datetime(day.year, day.month, day.day, 7) + timedelta(days=1, seconds=rng.randrange(7200))
    stamp = f"{made:%Y%m%d%H%M%S}"
    return rng.choice(
        (
            f"12345热线工单_{day:%Y%m%d}.{ext}",
            f"rxgd_{day:%Y%m%d}.{ext}",
            f"工单明细导出_{day:%Y-%m-%d}.{ext}",
            f"ZZ12345_export_{stamp}.{ext}",
        )
    )


def generate_tickets(
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
    """Write ``days`` daily hotline exports from ``start``; ``rows_per_day`` new tickets a day
    (plus the day's closures of earlier tickets and a few in-file duplicates)."""
    if not 0 < rows_per_day <= 999_999:
        raise ValueError("rows_per_day must be between 1 and 999999 (6-digit ticket sequence)")
    for f in [formats] if isinstance(formats, str) else formats or ():
        if f not in FORMATS:
            raise ValueError(f"unknown format {f!r}; one of {sorted(FORMATS)}")
    if progress is None and days * rows_per_day >= 1_000_000:
        progress = c.stderr_progress
    run = _Run(
        Path(out_dir), seed, rows_per_day, start + timedelta(days=days - 1), dirty_share, formats, chunk_size, progress
    )
    return [run.write_day(start + timedelta(days=i)) for i in range(days)]


class _Run:
    def __init__(
        self,
        out_dir: Path,
        seed: int,
        rows_per_day: int,
        end: date,
        dirty_share: float,
        formats: str | Sequence[str] | None,
        chunk_size: int,
        progress: c.ProgressFn | None,
    ) -> None:
        self.out_dir, self.seed, self.n_day, self.end = out_dir, seed, rows_per_day, end
        self.dirty_share, self.formats, self.chunk_size = dirty_share, formats, chunk_size
        self.progress = progress
        self.cols = c.contract_columns(DATASET)
        self.names = [n for n, _ in self.cols]
        # recurring callers: each raises ~3 tickets a month, mostly on the same topic
        self.recurring_pool = max(20, rows_per_day * 10 // 100 * 30 // 3)
        # close date ordinal → received date ordinal → sequence numbers (4 bytes a ticket)
        self.pending: dict[int, dict[int, array]] = defaultdict(lambda: defaultdict(lambda: array("I")))
        self.total = 0

    def ticket(self, day: date, seq: int) -> Ticket:
        return make_ticket(self.seed, day, seq, self.n_day, self.recurring_pool)

    def states(self, day: date, dup_rng: random.Random) -> Iterator[tuple[dict, bool]]:
        """(canonical values, part of an in-file duplicate pair) in file order: the day's
        closures of earlier tickets, then the day's new tickets."""
        closures = self.pending.pop(day.toordinal(), {})
        for recv_ord in sorted(closures):
            rday = date.fromordinal(recv_ord)
            for seq in closures[recv_ord]:
                yield self.ticket(rday, seq).values, False
        for seq in range(1, self.n_day + 1):
            t = self.ticket(day, seq)
            close_day = t.closed_at.date() if t.closed_at else None
            if close_day == day:
                if dup_rng.random() < 0.02:
                    yield t.open_values, True
                    yield t.values, True
                else:
                    yield t.values, False
                continue
            if close_day is not None and close_day <= self.end:
                self.pending[close_day.toordinal()][day.toordinal()].append(seq)
            yield t.open_values, False

    def write_day(self, day: date) -> c.GeneratedFile:
        frng = random.Random(c.deterministic_seed(self.seed, day.toordinal(), 0xF11E))
        fmt_name = choose_format(frng, self.formats, self.n_day > 400_000)
        fmt, encoding = FORMATS[fmt_name]
        style = c.RenderStyle.choose(frng, fmt)
        dirty_rng = random.Random(frng.getrandbits(64))
        dup_rng = random.Random(frng.getrandbits(64))
        filename = _filename(frng, day, fmt)
        english = frng.random() < 0.05
        header = self.names if english else c.header_variant([h for _, h in self.cols], frng)
        tabler = c.person_name(frng)
        dirty_rows: list[tuple[int, str]] = []
        superseded: list[int] = []
        kinds = tuple(DIRTY_KINDS)

        def chunks() -> Iterator[list[list]]:
            rows: list[list] = []
            n = 0
            first_of_pair = True
            for values, dup in self.states(day, dup_rng):
                n += 1
                if dup:
                    if first_of_pair:
                        superseded.append(n)
                    first_of_pair = not first_of_pair
                elif self.dirty_share and dirty_rng.random() < self.dirty_share:
                    kind = dirty_rng.choice(kinds)
                    values = _make_dirty(values, kind, dirty_rng)
                    dirty_rows.append((n, kind))
                rows.append(_render(values, self.names, style))
                if len(rows) >= self.chunk_size:
                    self.total += len(rows)
                    yield rows
                    rows = []
                    if self.progress:
                        self.progress(DATASET, day, self.total)
            self.total += len(rows)
            yield rows

        made = datetime(day.year, day.month, day.day) + timedelta(days=1, hours=8)

        def footer(n: int) -> list[list[str]]:
            return [["合计", f"{n}条"], [f"制表人：{tabler}", "", f"制表时间：{c.fmt_timestamp(made, 'cn')}"]]

        path = self.out_dir / BUREAU / DATASET.split(".")[1] / day.isoformat() / filename
        xlsx = fmt == "xlsx"
        res = write_file(
            chunks(),
            path,
            fmt,
            encoding,
            header=header,
            title=TITLE if xlsx else None,
            footer=footer if xlsx else None,
            created=made,
        )
        if self.progress:
            self.progress(DATASET, day, self.total)
        return c.GeneratedFile(
            path,
            BUREAU,
            DATASET.split(".")[1],
            day,
            res.n_rows,
            res.encoding,
            fmt,
            len(dirty_rows),
            dirty_rows,
            superseded,
        )


def _render(values: dict, names: list[str], style: c.RenderStyle) -> list:
    out = []
    for name in names:
        v = values[name]
        if name == "caller_phone" and v is not None and v.isdigit() and len(v) == 11:
            out.append(c.fmt_phone(v, style.rng))
        else:
            out.append(style.render(v))
    return out
