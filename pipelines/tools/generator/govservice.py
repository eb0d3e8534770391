"""govservice.cases — 政务服务事项办件 (spec section 4.2).

A catalogue of 150 service items with a skewed (Zipf-like) volume, so the "100
highest-volume items of the trailing 12 months" is a real selection; the share handled
via 掌上 differs by item. Cases are exported when applied for and again when completed
and rated. 自然人 applicants carry a resident ID (sometimes with lower-case ``x``),
法人 applicants the USCC of an enterprise of market.enterprises (same seed).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from pathlib import Path

from . import base as b
from . import common as c

SPEC_COLUMNS = (
    ("case_id", "办件编号"),
    ("item_code", "事项编码"),
    ("item_name", "事项名称"),
    ("channel", "办理渠道"),
    ("applied_at", "申请时间"),
    ("completed_at", "办结时间"),
    ("promised_days", "承诺时限(工作日)"),
    ("dept", "办理部门"),
    ("district_code", "所属区县"),
    ("applicant_type", "申请人类型"),
    ("applicant_id", "申请人证件号"),
    ("visits", "跑动次数"),
    ("rating", "好差评"),
)
CHANNELS = ("窗口", "网上", "掌上", "自助终端")
APPLICANT_TYPES = ("自然人", "法人")
RATINGS = ("非常满意", "满意", "基本满意", "不满意", "非常不满意", "未评价")
RATING_WEIGHTS = (66, 14, 4, 1.2, 0.5, 14)

DIRTY_KINDS: dict[str, str] = {
    "missing_required": "a required value (事项编码, 事项名称 or 办理部门) is missing",
    "bad_enum": "办理渠道, 申请人类型 or 好差评 holds a value outside its enum",
    "bad_district": "所属区县 is not one of the six county-level codes",
    "completed_before_applied": "办结时间 is earlier than 申请时间",
    "negative_count": "承诺时限(工作日) or 跑动次数 is negative",
    "bad_applicant_id": "申请人证件号 fails its check: 身份证号 of a 自然人 or 统一社会信用代码 of a 法人",
}
_BAD_ENUM = {
    "channel": ("现场", "APP", "电话", "爱山东"),
    "applicant_type": ("个人", "企业", "其他组织"),
    "rating": ("一般", "好评", "差评", "较满意"),
}

SPEC = b.Spec(
    "govservice.cases",
    SPEC_COLUMNS,
    "枣庄市政务服务事项办件明细表",
    ("办件明细_{d}.{ext}", "zwfw_bj_{d}.{ext}", "政务服务办件导出_{iso}.{ext}", "BJ_EXPORT_{stamp}.{ext}"),
    DIRTY_KINDS,
    {"csv_gbk": 58, "csv_utf8_bom": 10, "csv_gb18030": 6, "csv_utf8": 6, "xlsx": 20},
)

# (item name, dept kind, item type, promised working days, 掌上 share, 法人 share)
_BASES = (
    ("社会保障卡申领", "hrss", "GG", (0, 5), 0.93, 0.0),
    ("城乡居民基本医疗保险参保登记", "medinsure", "GG", (0,), 0.95, 0.0),
    ("异地就医备案", "medinsure", "GG", (0, 1), 0.96, 0.0),
    ("住房公积金提取", "m:provident", "JF", (0, 3), 0.94, 0.0),
    ("个人权益记录查询打印", "hrss", "GG", (0,), 0.97, 0.0),
    ("灵活就业人员参保登记", "hrss", "GG", (0, 3), 0.9, 0.0),
    ("养老保险待遇申领", "hrss", "JF", (5, 10), 0.7, 0.0),
    ("失业保险金申领", "hrss", "JF", (5,), 0.85, 0.0),
    ("居民身份证换领", "police", "QR", (0, 20), 0.35, 0.0),
    ("户口迁移", "police", "XK", (1, 5), 0.5, 0.0),
    ("出生登记", "police", "QR", (0, 1), 0.6, 0.0),
    ("无犯罪记录证明开具", "police", "GG", (0, 3), 0.92, 0.0),
    ("机动车驾驶证换证", "m:police", "XK", (0, 1), 0.9, 0.0),
    ("门诊慢特病待遇认定", "medinsure", "QR", (5, 10), 0.75, 0.0),
    ("生育津贴申领", "medinsure", "JF", (5, 10), 0.88, 0.0),
    ("最低生活保障申请", "civil", "JF", (15, 20), 0.45, 0.0),
    ("高龄津贴申领", "civil", "JF", (10,), 0.6, 0.0),
    ("残疾人两项补贴申请", "civil", "JF", (10, 15), 0.55, 0.0),
    ("婚姻登记", "m:civilaffairs_reg", "QR", (0,), 0.05, 0.0),
    ("不动产转移登记", "m:nature", "QR", (1, 5), 0.6, 0.1),
    ("不动产抵押登记", "m:nature", "QR", (1, 3), 0.7, 0.3),
    ("不动产权属证明查询", "m:nature", "GG", (0,), 0.93, 0.1),
    ("企业设立登记", "approval", "XK", (0, 1), 0.85, 1.0),
    ("企业变更登记", "approval", "XK", (0, 1), 0.85, 1.0),
    ("企业注销登记", "approval", "XK", (1, 3), 0.7, 1.0),
    ("个体工商户设立登记", "approval", "XK", (0,), 0.9, 0.0),
    ("食品经营许可", "approval", "XK", (5, 10), 0.65, 0.9),
    ("建筑工程施工许可", "approval", "XK", (3, 7), 0.3, 1.0),
    ("道路运输经营许可", "approval", "XK", (10, 20), 0.2, 0.9),
    ("增值税发票领用", "m:tax", "GG", (0,), 0.9, 1.0),
    ("个人所得税综合所得汇算", "m:tax", "GG", (0,), 0.97, 0.0),
    ("教师资格认定", "education", "QR", (15, 20), 0.6, 0.0),
    ("出生医学证明办理", "health", "GG", (0, 3), 0.4, 0.0),
    ("医师执业注册", "health", "XK", (10, 20), 0.5, 0.0),
    ("职工参保登记", "hrss", "GG", (0, 1), 0.88, 1.0),
    ("就业创业证申领", "hrss", "GG", (0, 5), 0.9, 0.0),
    ("二手房交易网签备案", "housing", "QR", (0, 1), 0.5, 0.0),
    ("公共租赁住房申请", "housing", "JF", (15, 20), 0.55, 0.0),
    ("燃气经营许可", "approval", "XK", (15, 20), 0.2, 1.0),
    ("排污许可", "ecology", "XK", (15, 20), 0.3, 1.0),
    ("残疾人证办理", "civil", "QR", (10, 20), 0.4, 0.0),
    ("水电气暖过户", "m:watersupply", "GG", (0, 1), 0.8, 0.1),
    ("电动自行车登记上牌", "police", "QR", (0,), 0.3, 0.0),
    ("居住证办理", "police", "QR", (5, 10), 0.6, 0.0),
    ("新生儿入户联办", "police", "QR", (1, 3), 0.8, 0.0),
    ("职业资格证书补发", "hrss", "GG", (5, 10), 0.7, 0.0),
    ("企业开办一件事", "approval", "XK", (0, 1), 0.92, 1.0),
    ("退休一件事", "hrss", "JF", (5, 10), 0.86, 0.0),
    ("医保关系转移接续", "medinsure", "GG", (10, 15), 0.9, 0.0),
    ("建设用地规划许可", "m:nature", "XK", (10, 20), 0.15, 1.0),
)
_VARIANTS = ("", "（补办）", "（变更）")
_TYPE_DIGIT = {"XK": "01", "QR": "07", "JF": "05", "GG": "20"}


@dataclass(frozen=True)
class ServiceItem:
    code: str
    name: str
    dept_kind: str
    promised_days: tuple[int, ...]
    mobile_share: float
    legal_share: float
    weight: float


@cache
def service_items() -> tuple[ServiceItem, ...]:
    """The fixed catalogue of 150 items (same for every seed), with Zipf-like volume weights."""
    rng = random.Random(0x5E41)
    items = []
    for vi, variant in enumerate(_VARIANTS):
        for bi, (name, dept, typ, days, mob, legal) in enumerate(_BASES):
            code = f"37040000{_TYPE_DIGIT[typ]}{typ}{bi + 1:03d}{vi:02d}"
            mob_v = max(0.02, min(0.99, mob - 0.1 * vi + rng.uniform(-0.05, 0.05)))
            items.append(ServiceItem(code, name + variant, dept, days, round(mob_v, 3), legal, 0.0))
    order = list(range(len(items)))
    # the base items are the popular ones; variants are rarer
    order.sort(key=lambda i: (i // len(_BASES), i % len(_BASES) + rng.uniform(0, 12)))
    ranked = [None] * len(items)
    for rank, i in enumerate(order, start=1):
        it = items[i]
        ranked[rank - 1] = ServiceItem(
            it.code, it.name, it.dept_kind, it.promised_days, it.mobile_share, it.legal_share, 1.0 / rank**1.15
        )
    return tuple(ranked)


@cache
def _item_cum_weights() -> tuple[float, ...]:
    acc, out = 0.0, []
    for it in service_items():
        acc += it.weight
        out.append(acc)
    return tuple(out)


def _dept(kind: str, district: str) -> str:
    if kind.startswith("m:"):
        return c.MUNICIPAL_DEPTS[kind[2:]]
    return c.district_dept(kind, district)


def _add_working_days(start: date, n: int) -> date:
    d = start
    while n > 0:
        d += timedelta(days=1)
        if d.weekday() < 5:
            n -= 1
    return d


def make_case(seed: int, day: date, seq: int) -> tuple[dict, dict, date | None]:
    rng = random.Random(c.deterministic_seed(seed, 0x60F, day.toordinal(), seq))
    item = service_items()[rng.choices(range(150), cum_weights=_item_cum_weights())[0]]
    r = rng.random()
    if r < item.mobile_share:
        channel = "掌上"
    else:
        channel = rng.choices(("窗口", "网上", "自助终端"), (55, 35, 10))[0]
    legal = rng.random() < item.legal_share
    if legal:
        ent = c.pick_enterprise(rng, seed)
        district, applicant = ent.district_code, ent.uscc
    else:
        district = rng.choices(c.DISTRICT_CODES, c.DISTRICT_WEIGHTS)[0]
        applicant = c.resident_id(rng)
        if applicant.endswith("X") and rng.random() < 0.3:
            applicant = applicant[:-1] + "x"
    if channel in ("掌上", "网上"):
        applied = b.ts_on(day, rng.uniform(6, 23.9) * 3600)
    else:
        applied = b.office_time(rng, day)
        if day.weekday() >= 5 and rng.random() < 0.7:
            applied = b.ts_on(day, rng.uniform(9, 12) * 3600)  # weekend windows open mornings
    promised = rng.choice(item.promised_days)
    fate = rng.random()
    if promised == 0:
        completed = applied + timedelta(minutes=rng.randint(3, 240))
    elif fate < 0.01:
        completed = None  # still pending / withdrawn
    else:
        used = rng.randint(0, promised) if fate < 0.96 else promised + rng.randint(1, 5)  # a few overdue
        done_day = _add_working_days(applied.date(), used)
        completed = max(applied + timedelta(minutes=5), b.office_time(rng, done_day))
    visits = 0 if channel in ("掌上", "网上") and rng.random() < 0.93 else 1 if rng.random() < 0.85 else 2
    rating = rng.choices(RATINGS, RATING_WEIGHTS)[0]
    final = {
        "case_id": f"ZW{day:%Y%m%d}{seq:07d}",
        "item_code": item.code,
        "item_name": item.name,
        "channel": channel,
        "applied_at": applied,
        "completed_at": completed,
        "promised_days": promised,
        "dept": _dept(item.dept_kind, district),
        "district_code": district,
        "applicant_type": "法人" if legal else "自然人",
        "applicant_id": applicant,
        "visits": visits,
        "rating": rating if completed else None,
    }
    open_v = dict(final, completed_at=None, rating=None)
    return open_v, final, completed.date() if completed else None


def make_dirty(v: dict, kind: str, rng: random.Random) -> dict | None:
    v = dict(v)
    if kind == "missing_required":
        v[rng.choice(("item_code", "item_name", "dept"))] = None
    elif kind == "bad_enum":
        col = rng.choice(tuple(_BAD_ENUM))
        v[col] = rng.choice(_BAD_ENUM[col])
    elif kind == "bad_district":
        v["district_code"] = rng.choice(c.BAD_DISTRICT_CODES)
    elif kind == "completed_before_applied":
        v["completed_at"] = v["applied_at"] - timedelta(minutes=rng.randint(61, 5 * 24 * 60))
    elif kind == "negative_count":
        v[rng.choice(("promised_days", "visits"))] = -rng.randint(1, 5)
    elif kind == "bad_applicant_id":
        if v["applicant_type"] == "自然人":
            v["applicant_id"] = c.bad_resident_id(rng)
        else:
            v["applicant_id"] = c.bad_uscc(rng, v["district_code"])
    else:  # pragma: no cover
        raise ValueError(kind)
    return v


def generate_cases(
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
    """``rows_per_day`` new cases a day, plus the day's completions of earlier cases."""
    b.check_formats(SPEC, formats)
    prog = b.Progress(SPEC.name, progress, days * rows_per_day)
    life = b.Lifecycle(lambda d, s: make_case(seed, d, s), start + timedelta(days=days - 1))
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
