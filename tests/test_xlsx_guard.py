"""The streaming pass over .xlsx sheets: it finds each sheet's used range without loading the sheet,
and a workbook whose used range passes the row or cell cap is refused before calamine allocates it
(a 5 KB workbook with two far-apart cells otherwise costs calamine 12 GiB and over a minute)."""

from __future__ import annotations

import io
import resource
import time
import zipfile

import openpyxl
import pytest

from pipelines import parsing, xlsx_guard
from pipelines.contracts import all_contracts
from tests.helpers import HEADER_ZH, ticket

HOTLINE = all_contracts()["hotline.tickets"]


def _workbook(cells: dict[tuple[int, int], str], sheets: int = 1) -> bytes:
    wb = openpyxl.Workbook()
    for n in range(sheets):
        ws = wb.active if n == 0 else wb.create_sheet(f"s{n}")
        for (r, c), v in cells.items():
            ws.cell(row=r, column=c, value=v)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _sheet_xml(body: str, prefix: str = "") -> bytes:
    p = f"{prefix}:" if prefix else ""
    ns = f' xmlns:{prefix}="x"' if prefix else ' xmlns="x"'
    return f"<{p}worksheet{ns}><{p}sheetData>{body}</{p}sheetData></{p}worksheet>".encode()


def _zip(parts: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        ({(1, 1): "a"}, (1, 1)),
        ({(1, 1): "a", (7, 3): "b"}, (7, 3)),
        ({(2, 28): "ab"}, (2, 28)),  # column AB
        ({(1, 1): "a", (1000, 16384): "z"}, (1000, 16384)),  # column XFD
    ],
)
def test_used_range_of_openpyxl_workbooks(cells, expected):
    ranges = xlsx_guard.check_sheets(_workbook(cells), max_rows=10**6, max_cells=10**9)
    assert list(ranges.values()) == [expected]


def test_rows_and_cells_without_references_count_by_position_and_prefixes_are_read():
    body = '<x:row><x:c><x:v>1</x:v></x:c><x:c/><x:c t="s"/></x:row><x:row/><x:row r="9"><x:c r="B9"/></x:row>'
    data = _zip({"xl/worksheets/sheet1.xml": _sheet_xml(body, "x")})
    assert xlsx_guard.check_sheets(data, 100, 1000) == {"xl/worksheets/sheet1.xml": (9, 3)}
    # <cols>/<col> and <rowBreaks> are not rows or cells
    body = '<cols><col min="1" max="50"/></cols><rowBreaks count="1"/><row r="2"><c r="C2"/></row>'
    assert xlsx_guard.check_sheets(_zip({"xl/worksheets/s.xml": _sheet_xml(body)}), 100, 1000)[
        "xl/worksheets/s.xml"
    ] == (2, 3)


def test_tags_split_across_read_pieces(monkeypatch):
    monkeypatch.setattr(xlsx_guard, "CHUNK", 7)  # every tag straddles pieces
    body = "".join(f'<row r="{r}"><c r="D{r}" t="s"><v>{r}</v></c></row>' for r in range(1, 41))
    data = _zip({"xl/worksheets/sheet1.xml": _sheet_xml(body)})
    assert xlsx_guard.check_sheets(data, 100, 1000) == {"xl/worksheets/sheet1.xml": (40, 4)}


def test_caps_refuse_rows_and_cells_naming_the_limits():
    data = _workbook({(1, 1): "a", (51, 1): "b"})
    xlsx_guard.check_sheets(data, max_rows=51, max_cells=51)
    with pytest.raises(xlsx_guard.SheetTooLarge, match="上限 50 行"):
        xlsx_guard.check_sheets(data, max_rows=50, max_cells=10**6)
    wide = _workbook({(1, 1): "a", (10, 20): "b"})
    with pytest.raises(xlsx_guard.SheetTooLarge, match="10 rows × 20 columns"):
        xlsx_guard.check_sheets(wide, max_rows=10**6, max_cells=199)
    # any sheet of the workbook counts, not only the first
    with pytest.raises(xlsx_guard.SheetTooLarge):
        xlsx_guard.check_sheets(_workbook({(1, 1): "a", (10, 20): "b"}, sheets=3), 10**6, 199)


def test_sparse_workbook_is_rejected_by_parsing_before_the_reader_allocates():
    """Two cells far apart: 5 KB on disk. Rejected in well under a second without memory growth."""
    data = _workbook({(1, 1): "x", (200_000, 2_000): "y"})
    assert len(data) < 10_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with pytest.raises(parsing.UnreadableFile, match="数据区域过大"):
        parsing.parse_file(data, "sparse.xlsx", HOTLINE)
    assert time.perf_counter() - started < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024  # KiB: < 200 MiB


def test_row_cap_from_the_environment_applies_to_parsing(monkeypatch):
    rows = [HEADER_ZH] + [list(ticket(n).values()) for n in range(1, 6)]
    data = _workbook({(r, c): v for r, row in enumerate(rows, 1) for c, v in enumerate(row, 1)})
    monkeypatch.setenv("SHUZHONG_MAX_SHEET_ROWS", "6")
    assert parsing.parse_file(data, "ok.xlsx", HOTLINE).rows_received == 5
    monkeypatch.setenv("SHUZHONG_MAX_SHEET_ROWS", "5")
    with pytest.raises(parsing.UnreadableFile, match="上限 5 行"):
        parsing.parse_file(data, "long.xlsx", HOTLINE)


def test_corrupt_sheet_stream_is_an_unreadable_file():
    good = _workbook({(1, 1): "a"})
    zin = zipfile.ZipFile(io.BytesIO(good))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zo:
        for info in zin.infolist():
            zo.writestr(info, zin.read(info.filename))
    raw = bytearray(buf.getvalue())
    at = raw.find(b"xl/worksheets/sheet1.xml") + len("xl/worksheets/sheet1.xml") + 10
    raw[at : at + 40] = b"\xff" * 40  # garble the compressed sheet data
    with pytest.raises(parsing.UnreadableFile):
        parsing.parse_file(bytes(raw), "garbled.xlsx", HOTLINE)
