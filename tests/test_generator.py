"""The bureau-export generator: determinism, layout, encodings, xlsx shape, ticket
lifecycle and the bookkeeping of dirty rows (checked by an independent mini-validator),
for hotline.tickets and the ten other datasets of spec section 4, plus cross-dataset
coherence (grids, phones, enterprises, warnings → incidents)."""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

from pipelines.tools.generator import (
    COLUMNS,
    DIRTY_KINDS,
    GENERATORS,
    ecology,
    emergency,
    generate,
    govservice,
    grid,
    market,
    write_file,
)
from pipelines.tools.generator import base as gb
from pipelines.tools.generator import common as c
from pipelines.tools.generator.hotline import CHANNELS, REQUEST_TYPES, SATISFACTION, TITLE

START = date(2026, 3, 2)
MISSING = {"", "—", "-", "/", "无", "NULL", None}


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().lower()


def _header_map(columns) -> dict[str, str]:
    out = {}
    for name, cn in columns:
        out[_norm(name)] = name
        out[_norm(cn)] = name
    return out


HEADER_MAP = _header_map(c.contract_columns("hotline.tickets"))


def read_rows(f: c.GeneratedFile, header_map: dict[str, str] = HEADER_MAP, title: str = TITLE) -> list[dict]:
    """Data rows of a generated file as {canonical name: cell}, like a tolerant parser
    (columns a file leaves out are None)."""
    if f.fmt == "jsonl":
        body = [json.loads(line) for line in f.path.read_text(encoding="utf-8").split("\n") if line]
        rows = [{header_map[_norm(k)]: v for k, v in obj.items()} for obj in body]
    else:
        if f.fmt == "xlsx":
            ws = openpyxl.load_workbook(f.path, read_only=True).active
            raw = [list(r) for r in ws.iter_rows(values_only=True)]
            assert raw[0][0] == title and not any(raw[1])
            header, body = raw[2], raw[3:]
            end = next(i for i, r in enumerate(body) if not any(v not in (None, "") for v in r))
            body = body[:end]
        else:
            text = f.path.read_bytes().decode(f.encoding)
            raw = list(csv.reader(io.StringIO(text, newline="")))
            header, body = raw[0], raw[1:]
        names = [header_map[_norm(h)] for h in header]
        rows = [dict(zip(names, r, strict=True)) for r in body]
    everything = set(header_map.values())
    return [{**dict.fromkeys(everything), **r} for r in rows]


def _missing(v) -> bool:
    return v in MISSING


def _ts(v) -> datetime:
    if isinstance(v, datetime):
        return v
    v = _norm(v)
    for fmt in (
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y/%m/%d %H:%M",
        "%Y/%m/%d %H:%M:%S",
        "%Y年%m月%d日 %H时%M分",
        "%Y-%m-%dT%H:%M:%S",
    ):
        try:
            return datetime.strptime(v, fmt)
        except ValueError:
            pass
    raise AssertionError(f"unparsed timestamp {v!r}")


def _int(v) -> int:
    return v if isinstance(v, int) else int(_norm(v))


def _phone_ok(v: str) -> bool:
    s = re.sub(r"[\s\-()]", "", _norm(v))
    if s.startswith("+86"):
        s = s[3:]
        if not s.startswith("1"):
            s = "0" + s
    return bool(re.fullmatch(r"1\d{10}|0\d{2,3}\d{7,8}", s))


def violations(r: dict) -> set[str]:
    """Which DIRTY_KINDS a row breaks (an independent re-statement of spec 4.1)."""
    out = set()
    if not re.fullmatch(r"ZZ12345-\d{8}-\d{6}", str(r["ticket_id"])):
        out.add("bad_ticket_id")
    if any(_missing(r[k]) for k in ("topic", "content", "first_receiver_dept")):
        out.add("missing_required")
    if (
        (not _missing(r["channel"]) and r["channel"] not in CHANNELS)
        or (not _missing(r["request_type"]) and r["request_type"] not in REQUEST_TYPES)
        or (not _missing(r["satisfaction"]) and r["satisfaction"] not in SATISFACTION)
    ):
        out.add("bad_enum")
    if r["district_code"] not in c.DISTRICTS:
        out.add("bad_district")
    if not _missing(r["closed_at"]) and _ts(r["closed_at"]) < _ts(r["received_at"]):
        out.add("closed_before_received")
    if not _missing(r["transfer_count"]) and _int(r["transfer_count"]) < 0:
        out.add("negative_transfer")
    if not _missing(r["caller_phone"]) and not _phone_ok(r["caller_phone"]):
        out.add("bad_phone")
    if not _missing(r["grid_code"]) and not re.fullmatch(r"\d{15}", str(r["grid_code"])):
        out.add("bad_grid_code")
    if not _missing(r["deadline_hours"]) and _int(r["deadline_hours"]) <= 0:
        out.add("bad_deadline")
    return out


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> tuple[Path, list[c.GeneratedFile]]:
    out = tmp_path_factory.mktemp("mixed")
    files = generate(
        "hotline.tickets",
        out,
        START,
        6,
        150,
        seed=11,
        dirty_share=0.1,
        formats=("csv_gbk", "csv_utf8_bom", "csv_utf8", "csv_gb18030", "xlsx"),
    )
    return out, files


def test_registry():
    assert "hotline.tickets" in GENERATORS and set(DIRTY_KINDS["hotline.tickets"]) >= {
        "missing_required",
        "bad_enum",
        "bad_district",
        "closed_before_received",
        "negative_transfer",
        "bad_ticket_id",
        "bad_phone",
    }


def test_same_seed_same_bytes(tmp_path, mixed):
    out, files = mixed
    again = generate(
        "hotline.tickets",
        tmp_path / "a",
        START,
        6,
        150,
        seed=11,
        dirty_share=0.1,
        formats=("csv_gbk", "csv_utf8_bom", "csv_utf8", "csv_gb18030", "xlsx"),
    )
    assert [f.key for f in again] == [f.key for f in files]
    for f, g in zip(files, again, strict=True):
        assert f.path.read_bytes() == g.path.read_bytes(), f.key
        assert (f.dirty_rows, f.superseded_rows) == (g.dirty_rows, g.superseded_rows)
    other = generate("hotline.tickets", tmp_path / "b", START, 2, 150, seed=12)
    assert other[0].path.read_bytes() != files[0].path.read_bytes()


def test_layout_and_keys(mixed):
    out, files = mixed
    assert [f.business_date for f in files] == [date(2026, 3, d) for d in range(2, 8)]
    for f in files:
        assert f.path.relative_to(out).as_posix() == f.key
        assert re.fullmatch(r"hotline/tickets/\d{4}-\d{2}-\d{2}/[^/]+\.(csv|xlsx)", f.key)
        assert f.key.split("/")[2] == f.business_date.isoformat()
        assert (f.bureau, f.dataset) == ("hotline", "tickets")
        assert f.fmt == f.path.suffix[1:]
        assert len(read_rows(f)) == f.n_rows


def test_gbk_csv(tmp_path):
    files = generate("hotline.tickets", tmp_path, START, 3, 100, formats="csv_gbk")
    for f in files:
        data = f.path.read_bytes()
        assert f.encoding in ("gbk", "gb18030")
        text = data.decode(f.encoding)
        assert "工单编号" in text and "受理时间" in text
        assert re.search(r"[\u4e00-\u9fff]", text.split("\n", 1)[1])
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")
    assert any(f.encoding == "gbk" for f in files)


def test_gbk_promoted_to_gb18030_for_rare_characters(tmp_path):
    res = write_file(
        [["王䶮", "13800000000"], ["李雷", "0632-3311234"]],
        tmp_path / "x.csv",
        "csv",
        "gbk",
        header=["诉求人姓名", "联系电话"],
    )
    assert res.encoding == "gb18030" and res.n_rows == 2
    assert "王䶮" in (tmp_path / "x.csv").read_bytes().decode("gb18030")


def test_xlsx_title_and_footer(tmp_path):
    (f,) = generate("hotline.tickets", tmp_path, START, 1, 80, formats="xlsx")
    rows = [list(r) for r in openpyxl.load_workbook(f.path).active.iter_rows(values_only=True)]
    assert rows[0][0] == "枣庄市12345热线工单明细表"
    assert not any(rows[1])
    assert _norm(rows[2][0]) == "工单编号"
    assert rows[-2][0] == "合计" and str(rows[-1][0]).startswith("制表人：")
    assert not any(v not in (None, "") for v in rows[-3])  # blank row before the footer
    assert len(rows) == 3 + f.n_rows + 3


def test_ticket_open_then_closed_and_rated(tmp_path):
    files = generate("hotline.tickets", tmp_path, START, 6, 120, dirty_share=0.0, formats="csv_utf8")
    seen: dict[str, list[tuple[date, dict]]] = {}
    for f in files:
        assert f.n_dirty == 0
        for r in read_rows(f):
            seen.setdefault(r["ticket_id"], []).append((f.business_date, r))
    reopened = [v for v in seen.values() if len({d for d, _ in v}) > 1]
    assert reopened
    for versions in reopened:
        (d1, first), (d2, last) = versions[0], versions[-1]
        assert d1 < d2
        assert first["ticket_id"][8:16] == f"{d1:%Y%m%d}"
        assert _missing(first["closed_at"]) and _missing(first["satisfaction"])
        assert _ts(last["closed_at"]).date() == d2
        assert last["satisfaction"] in SATISFACTION
    # some are closed on the day they were received, some stay open
    assert any(not _missing(r["closed_at"]) and d == _ts(r["received_at"]).date() for v in seen.values() for d, r in v)
    assert any(all(_missing(r["closed_at"]) for _, r in v) for v in seen.values())


def test_dirty_rows_are_exactly_the_recorded_ones(mixed):
    _, files = mixed
    kinds_seen: set[str] = set()
    for f in files:
        rows = read_rows(f)
        recorded = dict(f.dirty_rows)
        assert f.n_dirty == len(f.dirty_rows) == len(recorded)
        assert sum(f.dirty_counts().values()) == f.n_dirty
        for n, r in enumerate(rows, start=1):
            expected = {recorded[n]} if n in recorded else set()
            assert violations(r) == expected, (f.key, n, r)
        for n in f.superseded_rows:
            assert rows[n - 1]["ticket_id"] == rows[n]["ticket_id"]
        kinds_seen |= set(recorded.values())
    assert kinds_seen == set(DIRTY_KINDS["hotline.tickets"])
    share = sum(f.n_dirty for f in files) / sum(f.n_rows for f in files)
    assert 0.05 < share < 0.15


def test_city_reference_is_coherent():
    city = c.city()
    assert set(city.grids_by_district) == set(c.DISTRICTS)
    codes = [g.code for g in city.grids]
    assert len(codes) == len(set(codes))
    for g in city.grids:
        assert re.fullmatch(r"\d{15}", g.code) and g.code[:6] == g.district_code
    assert all(c.id_check_char(i[:17]) == i[17] for i in (c.resident_id(c.random.Random(k)) for k in range(50)))


# --- the other ten datasets -----------------------------------------------------------------

TITLES = {
    "govservice.cases": govservice.SPEC.title,
    "market.enterprises": market.SPEC.title,
    "emergency.incidents": emergency.INCIDENT_SPEC.title,
    "emergency.risk_warnings": emergency.WARNING_SPEC.title,
    "grid.grids": grid.GRID_SPEC.title,
    "grid.events": grid.EVENT_SPEC.title,
    "community.service_requests": "智慧社区服务请求明细",
}
# dataset → (rows_per_day, days, expected file formats, primary key)
SMALL = {
    "govservice.cases": (120, 4, {"csv", "xlsx"}, ("case_id",)),
    "market.enterprises": (150, 3, {"csv", "xlsx"}, ("uscc",)),
    "ecology.air_quality_hourly": (24 * 12, 2, {"csv", "jsonl"}, ("station_code", "observed_at")),
    "transport.traffic_flow": (288 * 4, 2, {"csv"}, ("checkpoint_id", "interval_start")),
    "utilities.pipe_pressure": (1440 * 2, 1, {"jsonl"}, ("sensor_id", "measured_at")),
    "emergency.incidents": (90, 4, {"csv", "xlsx"}, ("incident_id",)),
    "emergency.risk_warnings": (90, 4, {"csv", "xlsx"}, ("warning_id",)),
    "grid.grids": (1, 1, {"csv", "xlsx"}, ("grid_code",)),
    "grid.events": (120, 4, {"csv", "xlsx"}, ("event_id",)),
    "community.service_requests": (120, 4, {"csv", "xlsx"}, ("request_id",)),
}
OTHERS = sorted(SMALL)
ALL_FORMATS = ("csv_gbk", "csv_utf8_bom", "csv_utf8", "csv_gb18030", "xlsx", "jsonl")


def _gen(ds: str, out: Path, seed: int = 5, dirty: float = 0.08, **kw) -> list[c.GeneratedFile]:
    rpd, days, _, _ = SMALL[ds]
    return generate(
        ds,
        out,
        START,
        kw.pop("days", days),
        kw.pop("rows_per_day", rpd),
        seed=seed,
        dirty_share=dirty,
        formats=kw.pop("formats", ALL_FORMATS),
        **kw,
    )


@pytest.fixture(scope="module")
def others(tmp_path_factory) -> dict[str, tuple[Path, list[c.GeneratedFile]]]:
    out = {}
    for ds in OTHERS:
        root = tmp_path_factory.mktemp(ds.replace(".", "_"))
        out[ds] = (root, _gen(ds, root))
    return out


def rows_of(ds: str, f: c.GeneratedFile) -> list[dict]:
    return read_rows(f, _header_map(COLUMNS[ds]), TITLES.get(ds, ""))


def test_registry_has_all_eleven():
    assert set(GENERATORS) == set(DIRTY_KINDS) == {"hotline.tickets", *OTHERS}
    assert set(COLUMNS) == set(OTHERS)


@pytest.mark.parametrize("ds", OTHERS)
def test_contract_headers_match(ds):
    """Every dataset's contract exists and uses the spec's column names, as the generator does."""
    bureau, table = ds.split(".")
    assert (c.CONTRACTS_DIR / bureau / f"{table}.yaml").exists(), f"no contract for {ds}"
    assert tuple(c.contract_columns(ds)) == COLUMNS[ds]


@pytest.mark.parametrize("ds", OTHERS)
def test_deterministic_layout_and_formats(ds, others, tmp_path):
    root, files = others[ds]
    again = _gen(ds, tmp_path / "again")
    assert [f.key for f in again] == [f.key for f in files]
    for f, g in zip(files, again, strict=True):
        assert f.path.read_bytes() == g.path.read_bytes(), f.key
        assert (f.dirty_rows, f.superseded_rows) == (g.dirty_rows, g.superseded_rows)
    other = _gen(ds, tmp_path / "other", seed=6)
    assert [f.path.read_bytes() for f in other] != [f.path.read_bytes() for f in files]
    bureau, table = ds.split(".")
    _, _, fmts, _ = SMALL[ds]
    for f in files:
        assert f.path.relative_to(root).as_posix() == f.key
        assert f.key.startswith(f"{bureau}/{table}/{f.business_date.isoformat()}/")
        assert (f.bureau, f.dataset) == (bureau, table)
        assert f.fmt == f.path.suffix[1:] and f.fmt in fmts
        assert (f.encoding is None) == (f.fmt == "xlsx")
        assert len(rows_of(ds, f)) == f.n_rows > 0
    assert {f.business_date for f in files} <= {START + c.timedelta(days=i) for i in range(SMALL[ds][1])}


def test_default_formats(tmp_path):
    """Without ``formats``: pipe pressure is always JSON Lines, traffic never xlsx, office data mostly GBK."""
    pp = generate("utilities.pipe_pressure", tmp_path, START, 2, 1440)
    assert {f.fmt for f in pp} == {"jsonl"}
    tf = generate("transport.traffic_flow", tmp_path, START, 3, 288 * 6)
    assert {f.fmt for f in tf} == {"csv"}
    gs = generate("govservice.cases", tmp_path, START, 12, 20)
    assert sum(f.encoding in ("gbk", "gb18030") for f in gs) >= 4
    with pytest.raises(ValueError):
        generate("utilities.pipe_pressure", tmp_path, START, 1, 1440, formats="xlsx")


# Independent re-statement of the rules of spec sections 2 and 4, per dataset.

_ID_W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_USCC_ALPHA = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def valid_resident_id(v: str) -> bool:
    v = _norm(v).upper()
    if not re.fullmatch(r"\d{17}[\dX]", v):
        return False
    try:
        date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        return False
    return "10X98765432"[sum(int(a) * w for a, w in zip(v[:17], _ID_W, strict=True)) % 11] == v[17]


def valid_uscc(v: str) -> bool:
    v = _norm(v).upper()
    if not re.fullmatch(r"[0-9A-HJ-NPQRTUWXY]{18}", v):
        return False
    total = sum(_USCC_ALPHA.index(ch) * 3**i % 31 for i, ch in enumerate(v[:17]))
    return _USCC_ALPHA[(31 - total % 31) % 31] == v[17]


def _num(v) -> float:
    return float(v) if isinstance(v, (int, float)) else float(_norm(v).replace(",", ""))


def _date(v) -> date:
    if isinstance(v, datetime):
        return v.date()
    v = _norm(v)
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y年%m月%d日", "%Y%m%d"):
        try:
            return datetime.strptime(v, fmt).date()
        except ValueError:
            pass
    raise AssertionError(f"unparsed date {v!r}")


def _m(r, *cols) -> bool:
    return any(_missing(r[k]) for k in cols)


def _bad_enum(r, col, allowed) -> bool:
    return not _missing(r[col]) and r[col] not in allowed


def _outside(r, col, lo, hi) -> bool:
    return not _missing(r[col]) and not lo <= _num(r[col]) <= hi


def _before(r, later, earlier) -> bool:
    return not _m(r, later, earlier) and _ts(r[later]) < _ts(r[earlier])


def _bad_district(r) -> bool:
    return not _missing(r["district_code"]) and str(r["district_code"]) not in c.DISTRICTS


def _not15(r, col="grid_code") -> bool:
    return not _missing(r[col]) and not re.fullmatch(r"\d{15}", str(r[col]))


TYPES8 = ("火灾", "危化品泄漏", "生产安全事故", "交通事故", "自然灾害", "管网事故", "电动车充电事故", "其他")
SAT6 = ("非常满意", "满意", "基本满意", "不满意", "非常不满意", "未评价")

RULES = {
    "govservice.cases": {
        "missing_required": lambda r, d: _m(
            r, "case_id", "item_code", "item_name", "applied_at", "dept", "district_code"
        ),
        "bad_enum": lambda r, d: (
            _bad_enum(r, "channel", ("窗口", "网上", "掌上", "自助终端"))
            or _bad_enum(r, "applicant_type", ("自然人", "法人"))
            or _bad_enum(r, "rating", SAT6)
        ),
        "bad_district": lambda r, d: _bad_district(r),
        "completed_before_applied": lambda r, d: _before(r, "completed_at", "applied_at"),
        "negative_count": lambda r, d: _outside(r, "promised_days", 0, 1e9) or _outside(r, "visits", 0, 1e9),
        "bad_applicant_id": lambda r, d: (
            not _missing(r["applicant_id"])
            and (
                (r["applicant_type"] == "自然人" and not valid_resident_id(r["applicant_id"]))
                or (r["applicant_type"] == "法人" and not valid_uscc(r["applicant_id"]))
            )
        ),
    },
    "market.enterprises": {
        "missing_required": lambda r, d: _m(r, "uscc", "name", "established_on", "district_code"),
        "bad_uscc": lambda r, d: not _missing(r["uscc"]) and not valid_uscc(r["uscc"]),
        "bad_legal_rep_id": lambda r, d: (
            not _missing(r["legal_rep_id"])
            and len(_norm(r["legal_rep_id"])) == 18
            and not valid_resident_id(r["legal_rep_id"])
        ),
        "bad_industry_code": lambda r, d: (
            not _missing(r["industry_code"]) and not re.fullmatch(r"[A-Z]\d{2,4}", r["industry_code"])
        ),
        "negative_capital": lambda r, d: _outside(r, "registered_capital_10k_cny", 0, 1e12),
        "future_established": lambda r, d: not _missing(r["established_on"]) and _date(r["established_on"]) > d,
        "bad_enum": lambda r, d: _bad_enum(r, "status", ("存续", "在业", "吊销", "注销", "迁出")),
        "bad_district": lambda r, d: _bad_district(r),
    },
    "ecology.air_quality_hourly": {
        "missing_required": lambda r, d: _m(r, "station_code", "observed_at", "district_code"),
        "not_on_hour": lambda r, d: not _missing(r["observed_at"]) and _ts(r["observed_at"]).minute != 0,
        "out_of_range": lambda r, d: any(_outside(r, k, 0, hi) for k, hi in ecology.RANGES.items()),
        "bad_district": lambda r, d: _bad_district(r),
    },
    "transport.traffic_flow": {
        "missing_required": lambda r, d: _m(r, "checkpoint_id", "interval_start", "district_code"),
        "bad_interval": lambda r, d: not _missing(r["interval_start"]) and _ts(r["interval_start"]).minute % 5 != 0,
        "out_of_range": lambda r, d: (
            _outside(r, "vehicle_count", 0, 5000)
            or _outside(r, "avg_speed_kmh", 0, 200)
            or _outside(r, "congestion_index", 0, 10)
        ),
        "bad_district": lambda r, d: _bad_district(r),
    },
    "utilities.pipe_pressure": {
        "missing_required": lambda r, d: _m(r, "sensor_id", "measured_at", "district_code"),
        "bad_enum": lambda r, d: _bad_enum(r, "network_type", ("供水", "排水", "燃气", "供热")),
        "out_of_range": lambda r, d: _outside(r, "pressure_mpa", 0, 4),
        "bad_thresholds": lambda r, d: (
            not _m(r, "threshold_low", "threshold_high") and _num(r["threshold_high"]) <= _num(r["threshold_low"])
        ),
        "bad_district": lambda r, d: _bad_district(r),
    },
    "emergency.incidents": {
        "missing_required": lambda r, d: _m(r, "incident_id", "occurred_at", "district_code"),
        "bad_enum": lambda r, d: (
            _bad_enum(r, "incident_type", TYPES8) or _bad_enum(r, "severity", ("一般", "较大", "重大", "特别重大"))
        ),
        "reported_before_occurred": lambda r, d: _before(r, "reported_at", "occurred_at"),
        "negative_count": lambda r, d: any(_outside(r, k, 0, 1e12) for k in ("deaths", "injuries", "loss_10k_cny")),
        "bad_district": lambda r, d: _bad_district(r),
        "bad_grid_code": lambda r, d: _not15(r),
    },
    "emergency.risk_warnings": {
        "missing_required": lambda r, d: _m(r, "warning_id", "issued_at", "district_code"),
        "bad_enum": lambda r, d: (
            _bad_enum(r, "risk_type", TYPES8)
            or _bad_enum(r, "level", ("蓝色", "黄色", "橙色", "红色"))
            or _bad_enum(r, "source", ("物联感知", "模型研判", "人工上报"))
        ),
        "bad_window": lambda r, d: _outside(r, "window_hours", 1, 720),
        "bad_district": lambda r, d: _bad_district(r),
        "bad_grid_code": lambda r, d: _not15(r),
    },
    "grid.grids": {
        "missing_required": lambda r, d: _m(
            r, "grid_code", "grid_name", "street_name", "community_name", "district_code"
        ),
        "bad_grid_code": lambda r, d: _not15(r),
        "grid_prefix_mismatch": lambda r, d: (
            not _m(r, "grid_code", "district_code") and str(r["grid_code"])[:6] != str(r["district_code"])
        ),
        "negative_count": lambda r, d: _outside(r, "population", 0, 1e9) or _outside(r, "households", 0, 1e9),
    },
    "grid.events": {
        "missing_required": lambda r, d: _m(r, "event_id", "grid_code", "reported_at"),
        "bad_enum": lambda r, d: (
            _bad_enum(r, "category", grid.CATEGORIES)
            or _bad_enum(r, "status", ("待处置", "处置中", "已办结", "已关闭"))
        ),
        "resolved_before_reported": lambda r, d: _before(r, "resolved_at", "reported_at"),
    },
    "community.service_requests": {
        "missing_required": lambda r, d: _m(r, "request_id", "community_name", "grid_code", "submitted_at"),
        "bad_enum": lambda r, d: (
            _bad_enum(r, "service_type", ("一键报修", "预约物业", "费用查询", "投诉建议"))
            or _bad_enum(r, "channel", ("手机APP", "电话", "现场"))
        ),
        "completed_before_submitted": lambda r, d: _before(r, "completed_at", "submitted_at"),
        "bad_phone": lambda r, d: not _missing(r["resident_phone"]) and not _phone_ok(r["resident_phone"]),
        "bad_rating": lambda r, d: _outside(r, "rating", 1, 5),
        "bad_grid_code": lambda r, d: _not15(r),
    },
}


@pytest.mark.parametrize("ds", OTHERS)
def test_dirty_rows_are_exactly_the_recorded_ones_everywhere(ds, others):
    _, files = others[ds]
    rules = RULES[ds]
    assert set(rules) == set(DIRTY_KINDS[ds])
    _, _, _, pk = SMALL[ds]
    kinds_seen: set[str] = set()
    for f in files:
        rows = rows_of(ds, f)
        recorded = dict(f.dirty_rows)
        assert f.n_dirty == len(f.dirty_rows) == len(recorded)
        for n, r in enumerate(rows, start=1):
            broken = {k for k, rule in rules.items() if rule(r, f.business_date)}
            assert broken == ({recorded[n]} if n in recorded else set()), (f.key, n, r)
        for n in f.superseded_rows:
            assert [rows[n - 1][k] for k in pk] == [rows[n][k] for k in pk]
            assert n not in recorded and n + 1 not in recorded
        keys = [tuple(str(r[k]) for k in pk) for i, r in enumerate(rows, start=1) if i not in f.superseded_rows]
        assert len(keys) == len(set(keys)), f.key  # no other duplicate primary keys
        kinds_seen |= set(recorded.values())
    assert kinds_seen == set(DIRTY_KINDS[ds])
    share = sum(f.n_dirty for f in files) / sum(f.n_rows for f in files)
    assert 0.04 < share < 0.13


def _clean(ds: str, out: Path, **kw) -> list[dict]:
    files = _gen(ds, out, seed=11, dirty=0.0, **kw)
    return [dict(r, _date=f.business_date) for f in files for r in rows_of(ds, f)]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, list[dict]]:
    out = tmp_path_factory.mktemp("world")
    w = {ds: _clean(ds, out / ds) for ds in ("grid.grids", "grid.events", "community.service_requests")}
    w["emergency.incidents"] = _clean("emergency.incidents", out / "i", days=10, rows_per_day=30)
    w["emergency.risk_warnings"] = _clean("emergency.risk_warnings", out / "w", days=10, rows_per_day=30)
    hot = generate("hotline.tickets", out / "hotline", START, 4, 150, seed=11, dirty_share=0.0, formats="csv_utf8")
    w["hotline.tickets"] = [r for f in hot for r in read_rows(f)]
    return w


def _canon_phone(v: str) -> str:
    s = re.sub(r"[\s\-()]", "", _norm(v))
    if s.startswith("+86"):
        s = s[3:] if s[3:].startswith("1") else "0" + s[3:]
    return s


def test_grid_codes_exist_in_grid_snapshot(world):
    codes = {r["grid_code"] for r in world["grid.grids"]}
    assert len(codes) == len(c.city().grids)
    assert all(int(_num(r["households"])) > 0 for r in world["grid.grids"])
    for ds in ("grid.events", "emergency.incidents", "emergency.risk_warnings", "community.service_requests"):
        used = {r["grid_code"] for r in world[ds] if not _missing(r["grid_code"])}
        assert used and used <= codes, ds
    workers = {r["gridworker_id"] for r in world["grid.grids"]}
    reporters = {r["reporter_id"] for r in world["grid.events"] if not _missing(r["reporter_id"])}
    assert len(reporters - workers) < 0.05 * len(reporters)  # a few grids' worker is blank in the snapshot
    for r in world["emergency.incidents"]:
        assert _missing(r["grid_code"]) or r["grid_code"][:6] == r["district_code"]


def test_community_residents_are_hotline_callers(world):
    callers = {_canon_phone(r["caller_phone"]) for r in world["hotline.tickets"] if not _missing(r["caller_phone"])}
    residents = [
        _canon_phone(r["resident_phone"])
        for r in world["community.service_requests"]
        if not _missing(r["resident_phone"])
    ]
    shared = sum(p in callers for p in residents) / len(residents)
    assert 0.05 < shared < 0.6


def test_ev_charging_events_and_incidents(world):
    assert any(r["category"] == "电动车充电隐患" for r in world["grid.events"])
    assert any(r["incident_type"] == "电动车充电事故" for r in world["emergency.incidents"])


def test_warnings_precede_incidents(world):
    incidents = [(r["incident_type"], r["district_code"], _ts(r["occurred_at"])) for r in world["emergency.incidents"]]
    warnings = [
        (r["risk_type"], r["district_code"], _ts(r["issued_at"]), _int(r["window_hours"]))
        for r in world["emergency.risk_warnings"]
    ]
    last = max(t for *_, t in incidents)

    def hit(w, i) -> bool:
        return w[0] == i[0] and w[1] == i[1] and w[2] <= i[2] <= w[2] + c.timedelta(hours=w[3])

    judged = [w for w in warnings if w[2] + c.timedelta(hours=w[3]) <= last]  # window closed within the data
    precision = sum(any(hit(w, i) for i in incidents) for w in judged) / len(judged)
    recall = sum(any(hit(w, i) for w in warnings) for i in incidents) / len(incidents)
    assert 0.75 < precision < 0.92, precision  # ≈ 80 % by construction, plus chance matches
    assert 0.6 < recall < 0.9, recall


def test_lifecycle_open_then_closed(world):
    for ds, key, done, opened_state in (
        ("grid.events", "event_id", "resolved_at", {"待处置", "处置中"}),
        ("community.service_requests", "request_id", "completed_at", None),
    ):
        seen: dict[str, list[dict]] = {}
        for r in world[ds]:
            seen.setdefault(r[key], []).append(r)
        reopened = [v for v in seen.values() if len({r["_date"] for r in v}) > 1]
        assert reopened, ds
        for v in reopened:
            assert _missing(v[0][done]) and not _missing(v[-1][done])
            assert _ts(v[-1][done]).date() == v[-1]["_date"]
            if opened_state:
                assert v[0]["status"] in opened_state and v[-1]["status"] in {"已办结", "已关闭"}


def test_govservice_catalogue_and_applicants(tmp_path):
    items = govservice.service_items()
    assert len(items) == 150 and len({i.code for i in items}) == 150
    weights = sorted((i.weight for i in items), reverse=True)
    assert sum(weights[:10]) > 0.4 * sum(weights)  # skewed: top 100 of 150 is a real selection
    rows = _clean("govservice.cases", tmp_path, rows_per_day=300, days=2)
    assert {r["channel"] for r in rows} == {"窗口", "网上", "掌上", "自助终端"}
    legal = [r["applicant_id"] for r in rows if r["applicant_type"] == "法人"]
    natural = [r["applicant_id"] for r in rows if r["applicant_type"] == "自然人"]
    assert legal and all(valid_uscc(v) for v in legal)
    assert all(valid_resident_id(v) for v in natural)
    # 法人 applicants are registered enterprises (market.enterprises of the same seed)
    ent = _clean("market.enterprises", tmp_path / "m", rows_per_day=c.ENTERPRISE_CORE, days=1)
    assert set(legal) <= {r["uscc"] for r in ent}
    reps = [r["legal_rep_id"] for r in ent]
    assert any(len(v) != 18 for v in reps)  # passports / 港澳台 permits


def test_air_quality_aqi_and_missing_hours(tmp_path):
    assert ecology.hourly_aqi({"pm25": 75}) == 100 and ecology.hourly_aqi({"pm25": 35, "o3": 160}) == 50
    assert ecology.hourly_aqi({"so2": 900}) == 213 and ecology.hourly_aqi({"co": 200}) == 500
    rows = _clean("ecology.air_quality_hourly", tmp_path, rows_per_day=480, days=6)
    per_day: dict[tuple, int] = {}
    for r in rows:
        per_day[(r["station_code"], _ts(r["observed_at"]).date())] = (
            per_day.get((r["station_code"], _ts(r["observed_at"]).date()), 0) + 1
        )
        if not _missing(r["aqi"]) and not any(_missing(r[p]) for p in ecology.RANGES if p != "aqi"):
            vals = {p: _num(r[p]) for p in ecology.RANGES if p != "aqi"}
            assert _int(r["aqi"]) == ecology.hourly_aqi(vals)
    assert len({s for s, _ in per_day}) == 20
    assert any(n < 20 for n in per_day.values()) and sum(n == 24 for n in per_day.values()) > len(per_day) / 2
    assert any(_missing(r["aqi"]) for r in rows)


def test_progress_and_chunks(tmp_path):
    calls = []
    files = generate(
        "transport.traffic_flow",
        tmp_path,
        START,
        2,
        288 * 20,
        chunk_size=1000,
        progress=lambda ds, d, n: calls.append((ds, d, n)),
    )
    assert calls[-1][2] == sum(f.n_rows for f in files)
    assert len(calls) > 10 and all(a[2] <= b[2] for a, b in zip(calls, calls[1:], strict=False))
    assert gb.Progress("x", None, 10**7).fn is c.stderr_progress
