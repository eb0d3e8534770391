"""The bureau-export generator: determinism, layout, encodings, xlsx shape, ticket
lifecycle and the bookkeeping of dirty rows (checked by an independent mini-validator)."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

from pipelines.generator import DIRTY_KINDS, GENERATORS, generate, write_file
from pipelines.generator import common as c
from pipelines.generator.hotline import CHANNELS, REQUEST_TYPES, SATISFACTION, TITLE

START = date(2026, 3, 2)
MISSING = {"", "—", "-", "/", "无", "NULL", None}


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().lower()


HEADER_MAP = {}
for _name, _cn in c.contract_columns("hotline.tickets"):
    HEADER_MAP[_norm(_name)] = _name
    HEADER_MAP[_norm(_cn)] = _name


def read_rows(f: c.GeneratedFile) -> list[dict]:
    """Data rows of a generated file as {canonical name: cell}, like a tolerant parser."""
    if f.fmt == "xlsx":
        ws = openpyxl.load_workbook(f.path, read_only=True).active
        raw = [list(r) for r in ws.iter_rows(values_only=True)]
        assert raw[0][0] == TITLE and not any(raw[1])
        header, body = raw[2], raw[3:]
        end = next(i for i, r in enumerate(body) if not any(v not in (None, "") for v in r))
        body = body[:end]
    else:
        text = f.path.read_bytes().decode(f.encoding)
        raw = list(csv.reader(io.StringIO(text, newline="")))
        header, body = raw[0], raw[1:]
    names = [HEADER_MAP[_norm(h)] for h in header]
    return [dict(zip(names, r, strict=True)) for r in body]


def _missing(v) -> bool:
    return v in MISSING


def _ts(v) -> datetime:
    if isinstance(v, datetime):
        return v
    v = _norm(v)
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y年%m月%d日 %H时%M分"):
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
        assert re.fullmatch(r"hotline/hotline\.tickets/\d{4}-\d{2}-\d{2}/[^/]+\.(csv|xlsx)", f.key)
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
