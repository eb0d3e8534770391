"""Workbooks read by parsing: legacy .xls and .xlsx through one reader (calamine via fastexcel),
format by content, title / blank / footer rows, sheet row numbers, the one matching sheet."""

from __future__ import annotations

import io
from datetime import date, datetime

import openpyxl
import pytest

from pipelines import parsing
from pipelines.contracts import all_contracts
from pipelines.tools.generator.xls import compound_file, workbook_stream
from tests.helpers import HEADER_ZH, csv_bytes, ticket

HOTLINE = all_contracts()["hotline.tickets"]


def _xls(sheets) -> bytes:
    return compound_file(workbook_stream(sheets))


def _xlsx(sheets) -> bytes:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets:
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _sheet() -> list[list]:
    row = list(ticket(1).values())
    row[HEADER_ZH.index("受理时间")] = datetime(2026, 3, 5, 14, 7)
    row[HEADER_ZH.index("转办次数")] = 2
    other = list(ticket(2).values())
    other[HEADER_ZH.index("受理时间")] = date(2026, 3, 5)
    return [["枣庄市12345热线工单明细表"], [], [], HEADER_ZH, row, [], other, [], ["合计", "2条"], ["制表人：张三"]]


@pytest.mark.parametrize("make", [_xls, _xlsx])
def test_xls_and_xlsx_read_alike_with_sheet_row_numbers(make):
    parsed = parsing.parse_file(make([("工单", _sheet())]), "t.xls", HOTLINE)
    assert parsed.file_format == ("xls" if make is _xls else "xlsx")
    assert parsed.sheet_name == "工单"
    assert parsed.frame[parsing.ROW_NUMBER].to_list() == [5, 7]  # title row 1, blank rows count
    assert [str(v) for v in parsed.frame["received_at"]] == ["2026-03-05 14:07:00", "2026-03-05 00:00:00"]
    assert parsed.frame["transfer_count"].to_list() == [2, 0]
    assert parsed.type_failures == {}


def test_the_sheet_whose_header_matches_is_read():
    sheets = [
        ("填表说明", [["填表说明"], ["1. 请勿修改表头"]]),
        ("汇总", [["所属区县", "件数"], ["370402", 2]]),
        ("明细", _sheet()),
        ("Sheet3", []),
    ]
    for data in (_xls(sheets), _xlsx(sheets)):
        parsed = parsing.parse_file(data, "t.xlsx", HOTLINE)
        assert parsed.sheet_name == "明细" and parsed.rows_received == 2


@pytest.mark.parametrize(
    "sheets,named",
    [
        ([("填表说明", [["说明"]]), ("空", [])], "填表说明、空"),
        ([("一月", _sheet()), ("二月", _sheet())], "一月、二月"),
    ],
)
def test_no_or_several_matching_sheets_reject_naming_the_sheets(sheets, named):
    for data in (_xls(sheets), _xlsx(sheets)):
        with pytest.raises(parsing.UnreadableFile, match=named):
            parsing.parse_file(data, "t.xls", HOTLINE)


def test_workbook_format_by_content():
    xlsx = _xlsx([("工单", _sheet())])
    assert parsing.parse_file(xlsx, "named.xls", HOTLINE).file_format == "xlsx"
    assert parsing.parse_file(_xls([("工单", _sheet())]), "named.xlsx", HOTLINE).file_format == "xls"
    with pytest.raises(parsing.UnreadableFile, match="HTML"):
        parsing.parse_file(b"\xef\xbb\xbf<html><table><tr><td>x</td></tr></table></html>", "t.xls", HOTLINE)
    with pytest.raises(parsing.UnreadableFile, match="CSV"):
        parsing.parse_file(csv_bytes([ticket(1)]), "t.xls", HOTLINE)
    with pytest.raises(parsing.UnreadableFile, match="Excel"):
        parsing.parse_file(xlsx, "t.csv", HOTLINE)
    with pytest.raises(parsing.UnreadableFile):
        parsing.parse_file(_xls([("工单", _sheet())])[:1500], "t.xls", HOTLINE)  # truncated
