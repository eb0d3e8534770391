"""market.enterprises — 市场主体登记信息 (spec section 4.3).

Reference data submitted when registrations change: each business date's file holds
``rows_per_day`` changed entities in their latest state. The first file is the initial
load of the enterprises that already exist (``common.ENTERPRISE_CORE`` of them, the
法人 applicants of govservice.cases); later files mix new registrations (established
on or just before the business date) with changes (status, capital, address) of
existing ones. Legal representatives mostly hold a resident ID; some a passport or a
港澳台 permit, a few a 外国人永久居留身份证 (18 characters, passes the ID check).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

from . import base as b
from . import common as c

SPEC_COLUMNS = (
    ("uscc", "统一社会信用代码"),
    ("name", "企业名称"),
    ("legal_rep_name", "法定代表人"),
    ("legal_rep_id", "法定代表人证件号"),
    ("entity_type", "企业类型"),
    ("industry_code", "行业代码"),
    ("registered_capital_10k_cny", "注册资本(万元)"),
    ("established_on", "成立日期"),
    ("status", "登记状态"),
    ("address", "住所"),
    ("district_code", "所属区县"),
)
STATUSES = ("存续", "在业", "吊销", "注销", "迁出")
NEW_SHARE = 0.35

DIRTY_KINDS: dict[str, str] = {
    "missing_required": "a required value (企业名称 or 成立日期) is missing",
    "bad_uscc": "统一社会信用代码 has a wrong check character",
    "bad_legal_rep_id": "法定代表人证件号 has 18 characters but is not a valid 身份证号",
    "bad_industry_code": "行业代码 is not a section letter + 2 to 4 digits",
    "negative_capital": "注册资本(万元) is negative",
    "future_established": "成立日期 is in the future",
    "bad_enum": "登记状态 holds a value outside its enum",
    "bad_district": "所属区县 is not one of the six county-level codes",
}

SPEC = b.Spec(
    "market.enterprises",
    SPEC_COLUMNS,
    "枣庄市市场主体登记信息变更明细",
    ("市场主体变更_{d}.{ext}", "scztdj_{d}.{ext}", "企业登记信息导出_{iso}.{ext}", "QYDJ_{stamp}.{ext}"),
    DIRTY_KINDS,
    {"csv_gbk": 50, "csv_utf8_bom": 10, "xlsx": 40},
    thousands_cols=("registered_capital_10k_cny",),
)


def record(e: c.Enterprise, rng: random.Random, status: str, established: date | None = None) -> dict:
    return {
        "uscc": e.uscc,
        "name": e.name,
        "legal_rep_name": e.legal_rep_name if rng.random() > 0.01 else None,
        "legal_rep_id": e.legal_rep_id,
        "entity_type": e.entity_type,
        "industry_code": e.industry_code,
        "registered_capital_10k_cny": e.capital_10k,
        "established_on": established or e.established_on,
        "status": status,
        "address": e.address if rng.random() > 0.02 else None,
        "district_code": e.district_code,
    }


def _changed(seed: int, index: int, day: date) -> dict:
    """Existing enterprise ``index`` as changed on ``day``."""
    rng = random.Random(c.deterministic_seed(seed, 0xC4A9, index, day.toordinal()))
    e = c.enterprise(seed, index)
    status = rng.choices(STATUSES, (62, 25, 4, 7, 2))[0]
    v = record(e, rng, status)
    if rng.random() < 0.2:
        v["registered_capital_10k_cny"] = round(e.capital_10k * rng.choice((1.5, 2, 5, 10)), 2)
    return v


def _new(seed: int, index: int, day: date) -> dict:
    rng = random.Random(c.deterministic_seed(seed, 0x9E3, index))
    e = c.enterprise(seed, index)
    return record(e, rng, "存续", day - timedelta(days=rng.choice((0, 0, 0, 1, 1, 2, 3))))


def make_dirty(v: dict, kind: str, rng: random.Random) -> dict | None:
    v = dict(v)
    if kind == "missing_required":
        v[rng.choice(("name", "established_on"))] = None
    elif kind == "bad_uscc":
        v["uscc"] = c.wrong_check(v["uscc"], "0123456789ABCDEFGHJKLMNPQRTUWXY", v["uscc"][17], rng)
    elif kind == "bad_legal_rep_id":
        v["legal_rep_id"] = c.bad_resident_id(rng)
    elif kind == "bad_industry_code":
        code = v["industry_code"]
        v["industry_code"] = rng.choice((code[1:], code[:2], code[0] + "31301", code[0] + "-" + code[1:], "99"))
    elif kind == "negative_capital":
        v["registered_capital_10k_cny"] = -round(rng.uniform(1, 500), 2)
    elif kind == "future_established":
        v["established_on"] = v["_day"] + timedelta(days=rng.randint(400, 3000))
    elif kind == "bad_enum":
        v["status"] = rng.choice(("正常", "开业", "停业", "撤销"))
    elif kind == "bad_district":
        v["district_code"] = rng.choice(c.BAD_DISTRICT_CODES)
    else:  # pragma: no cover
        raise ValueError(kind)
    return v


def generate_enterprises(
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
    """``rows_per_day`` changed entities a day (the first day: the initial load)."""
    b.check_formats(SPEC, formats)
    prog = b.Progress(SPEC.name, progress, days * rows_per_day)
    cursor = 0  # next existing enterprise to change (round robin over the core)
    next_new = c.ENTERPRISE_CORE
    out = []
    for i in range(days):
        day = start + timedelta(days=i)
        plan = b.plan_file(SPEC, Path(out_dir), seed, day, formats, big=rows_per_day > 400_000)
        n_new = 0 if i == 0 else round(rows_per_day * NEW_SHARE)
        n_new = max(n_new, rows_per_day - c.ENTERPRISE_CORE)  # an enterprise at most once a file
        changed = []
        for _ in range(rows_per_day - n_new):
            changed.append(cursor)
            cursor = (cursor + 1) % c.ENTERPRISE_CORE
        new = list(range(next_new, next_new + n_new))
        next_new += n_new

        def records(changed=changed, new=new, day=day, plan=plan, first=i == 0):
            for idx in changed:
                v = (
                    _changed(seed, idx, day)
                    if not first
                    else record(c.enterprise(seed, idx), random.Random(c.deterministic_seed(seed, 0x1A, idx)), "存续")
                )
                if idx < c.ENTERPRISE_CORE and plan.dup_rng.random() < 0.01:
                    # the same entity twice in one export: an earlier state, then the latest
                    yield dict(v, status="存续", _day=day), b.SUPERSEDED
                    yield dict(v, _day=day), b.WINNER
                else:
                    yield dict(v, _day=day), b.NORMAL
            for idx in new:
                yield dict(_new(seed, idx, day), _day=day), b.NORMAL

        out.append(b.write_records(plan, records(), make_dirty, dirty_share, chunk_size, prog))
    return out
