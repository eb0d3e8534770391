"""Files as bureaus send them, through the real ingestion path (S3, Delta, GX), receipts read
back: legacy .xls, multi-sheet workbooks, JSON Lines with broken lines, and receipts that add
up (received = accepted + quarantined + superseded) also when an earlier duplicate of a key
holds a value of the wrong type."""

from __future__ import annotations

import csv
import io
import random
from datetime import date

import polars as pl
import pytest

from pipelines import ingest, lake
from pipelines.contracts import all_contracts, normalize_header
from pipelines.tools import generator
from pipelines.tools.generator import common
from pipelines.tools.generator.xls import write_xls
from tests.helpers import HEADER_ZH, csv_bytes, submit, ticket

WORKBOOK_OFFSET = 3  # title row, blank row, header row above data row 1


def _ingest(key: str, data: bytes, bureau: str) -> ingest.Receipt:
    receipt = ingest.process(submit(key, data, identity=bureau), run_id="t")
    stored = ingest.read_receipt(key, identity=bureau)  # the bureau reads the same receipt back
    assert stored is not None and stored["status"] == receipt.status
    return receipt


def _adds_up(receipt: ingest.Receipt) -> None:
    assert receipt.rows_received == receipt.rows_accepted + receipt.rows_quarantined + receipt.rows_superseded, (
        receipt.rows_received,
        receipt.rows_accepted,
        receipt.rows_quarantined,
        receipt.rows_superseded,
    )


def _check_generated(receipt: ingest.Receipt, f, contract, key: str, offset: int) -> None:
    assert receipt.status == "accepted", receipt.reason
    assert [x["row_number"] for x in receipt.failures] == sorted(n + offset for n, _ in f.dirty_rows), (
        receipt.rule_counts,
        f.dirty_rows,
    )
    assert receipt.rows_received == f.n_rows
    assert receipt.rows_superseded == len(f.superseded_rows)
    _adds_up(receipt)
    raw = lake.read_table(lake.raw_uri(contract)).filter(pl.col("_source_key") == key)
    assert raw.height == receipt.rows_accepted == f.n_rows - len(f.dirty_rows) - len(f.superseded_rows)


@pytest.mark.parametrize(
    ("dataset", "fmt", "sheet"),
    [
        ("govservice.cases", "xls", "Sheet1"),
        ("govservice.cases", "xls_sheets", "明细"),
        ("market.enterprises", "xlsx_sheets", "明细"),
    ],
)
def test_generated_workbooks_land_from_the_matching_sheet(dataset, fmt, sheet, lake_root, unique, tmp_path):
    contract = all_contracts()[dataset]
    files = generator.generate(
        dataset, tmp_path, start=date(2026, 3, 2), days=2, rows_per_day=60, seed=17, dirty_share=0.08, formats=fmt
    )
    for f in files:
        assert f.path.suffix == "." + f.fmt
        key = f"{f.bureau}/{f.dataset}/{f.business_date}/{unique}-{f.path.name}"
        receipt = _ingest(key, f.path.read_bytes(), f.bureau)
        _check_generated(receipt, f, contract, key, WORKBOOK_OFFSET)
        assert (receipt.file_format, receipt.sheet_name) == (f.fmt, sheet)
        assert f"读取的工作表：{sheet}" in receipt.summary_zh()


def test_xls_dates_and_numbers_as_the_cells_hold_them(lake_root, unique, tmp_path):
    contract = all_contracts()["market.enterprises"]
    path = tmp_path / "enterprises.xls"
    code = common.uscc(random.Random(3), "370402")
    rows = [
        ["市场主体登记信息表"],
        [],
        ["统一社会信用代码", "企业名称", "成立日期", "所属区县", "注册资本(万元)"],
        [code, "某某有限公司", date(2020, 5, 17), 370402, 1234.5],
        [],
        ["合计", "1户"],
    ]
    write_xls(path, [("登记", rows)])
    key = f"market/enterprises/2026-03-02/{unique}.xls"
    receipt = _ingest(key, path.read_bytes(), "market")
    assert receipt.status == "accepted" and receipt.rows_accepted == 1, (receipt.reason, receipt.rule_counts)
    landed = lake.read_table(lake.raw_uri(contract)).filter(pl.col("_source_key") == key).to_dicts()[0]
    assert (str(landed["established_on"]), landed["district_code"], landed["registered_capital_10k_cny"]) == (
        "2020-05-17",
        "370402",
        1234.5,
    )
    assert receipt.sheet_name == "登记" and receipt.file_format == "xls"


def _workbook(sheets: list[tuple[str, list[list]]], tmp_path, name: str, xls: bool) -> bytes:
    path = tmp_path / name
    if xls:
        write_xls(path, sheets)
    else:
        import openpyxl

        wb = openpyxl.Workbook()
        wb.remove(wb.active)
        for title, rows in sheets:
            ws = wb.create_sheet(title)
            for r in rows:
                ws.append(r)
        wb.save(path)
    return path.read_bytes()


@pytest.mark.parametrize("xls", [True, False])
def test_workbooks_with_no_or_several_matching_sheets_are_rejected_naming_the_sheets(xls, lake_root, unique, tmp_path):
    data_rows = [HEADER_ZH, list(ticket(1).values())]
    ext = "xls" if xls else "xlsx"
    several = _workbook([("填表说明", [["说明"]]), ("一月", data_rows), ("二月", data_rows)], tmp_path, f"a.{ext}", xls)
    receipt = _ingest(f"hotline/tickets/2026-03-05/{unique}-several.{ext}", several, "hotline")
    assert receipt.status == "rejected" and "一月、二月" in receipt.reason and "填表说明" in receipt.reason
    none = _workbook([("填表说明", [["说明"]]), ("汇总", [["区县", "件数"], ["370402", 3]])], tmp_path, f"b.{ext}", xls)
    receipt = _ingest(f"hotline/tickets/2026-03-05/{unique}-none.{ext}", none, "hotline")
    assert receipt.status == "rejected" and "填表说明、汇总" in receipt.reason


def test_a_file_named_xls_is_read_by_its_content(lake_root, unique, tmp_path):
    xlsx = _workbook(
        [("Sheet1", [["枣庄市12345热线工单明细表"], [], HEADER_ZH, list(ticket(1).values())])],
        tmp_path,
        "real.xlsx",
        xls=False,
    )
    receipt = _ingest(f"hotline/tickets/2026-03-05/{unique}-xlsx.xls", xlsx, "hotline")
    assert receipt.status == "accepted" and receipt.file_format == "xlsx" and receipt.rows_accepted == 1
    assert [x["row_number"] for x in receipt.failures] == []
    html = "<html><body><table><tr><td>工单编号</td></tr></table></body></html>".encode()
    receipt = _ingest(f"hotline/tickets/2026-03-05/{unique}-html.xls", html, "hotline")
    assert receipt.status == "rejected" and "HTML" in receipt.reason
    text = csv_bytes([ticket(1)], "gbk")
    receipt = _ingest(f"hotline/tickets/2026-03-05/{unique}-csv.xls", text, "hotline")
    assert receipt.status == "rejected" and "CSV" in receipt.reason


@pytest.mark.parametrize("dataset", ["utilities.pipe_pressure", "ecology.air_quality_hourly"])
def test_generated_jsonl_with_broken_lines_quarantines_them_by_line_number(dataset, lake_root, unique, tmp_path):
    contract = all_contracts()[dataset]
    files = generator.generate(
        dataset,
        tmp_path,
        start=date(2026, 3, 2),
        days=1,
        rows_per_day=1440 if "pipe" in dataset else 72,
        seed=23,
        dirty_share=0.05,
        formats="jsonl_broken",
    )
    for f in files:
        broken = sorted(n for n, kind in f.dirty_rows if kind == "not_json_object")
        assert broken and broken[-1] == f.n_rows  # the cut-off last line, at least
        key = f"{f.bureau}/{f.dataset}/{f.business_date}/{unique}-{f.path.name}"
        receipt = _ingest(key, f.path.read_bytes(), f.bureau)
        _check_generated(receipt, f, contract, key, 0)
        assert receipt.rule_counts["row.json"]["count"] == len(broken)
        assert [x["row_number"] for x in receipt.failures if "row.json" in x["rules"]] == broken


def test_earlier_duplicate_with_a_type_failure_is_only_superseded(lake_root, unique):
    rows = [
        ticket(1, 转办次数="1,5"),  # line 2: type failure, but superseded by line 3
        ticket(1),  # line 3: wins
        ticket(2),  # line 4
        ticket(3, 所属区县="370499"),  # line 5: quarantined
        ticket(4, 受理时间="2026-02-30 07:45"),  # line 6: present, no such date: type only
        ticket(5, 受理时间="2026-03-05 24:00"),  # line 7: type only
    ]
    key = f"hotline/tickets/2026-03-05/{unique}-dup.csv"
    receipt = _ingest(key, csv_bytes(rows, "gbk"), "hotline")
    assert (receipt.rows_received, receipt.rows_accepted, receipt.rows_quarantined, receipt.rows_superseded) == (
        6,
        2,
        3,
        1,
    )
    assert {x["row_number"]: x["rules"] for x in receipt.failures} == {
        5: ["district_code.enum"],
        6: ["received_at.type"],
        7: ["received_at.type"],
    }
    assert set(receipt.rule_counts) == {"district_code.enum", "received_at.type"}


@pytest.mark.parametrize("seed", [101, 202, 303])
def test_receipts_add_up_on_random_generated_files(seed, lake_root, unique, tmp_path):
    """Generated hotline exports, with corrupted earlier copies of random rows inserted (same key,
    a value of the wrong type): the copies are superseded, never also quarantined."""
    contract = all_contracts()["hotline.tickets"]
    rng = random.Random(seed)
    (f,) = generator.generate(
        "hotline.tickets",
        tmp_path,
        start=date(2026, 3, 5),
        days=1,
        rows_per_day=80,
        seed=seed,
        dirty_share=0.1,
        formats="csv_utf8",
    )
    lines = list(csv.reader(io.StringIO(f.path.read_text(encoding="utf-8-sig"), newline="")))
    header, data = lines[0], lines[1:]
    names = [contract.header_map().get(normalize_header(h)) for h in header]
    dirty = {n for n, _ in f.dirty_rows}
    out, expected_bad, inserted = [], [], 0
    for n, row in enumerate(data, start=1):
        if n not in dirty and rng.random() < 0.2:
            copy = list(row)
            column = rng.choice(["transfer_count", "received_at", "deadline_hours"])
            copy[names.index(column)] = {
                "transfer_count": "1,5",
                "deadline_hours": "12,34",
                "received_at": "2026-02-30 07:45",
            }[column]
            out.append(copy)
            inserted += 1
        out.append(row)
        if n in dirty:
            expected_bad.append(len(out) + 1)  # file row: header is row 1
    buf = io.StringIO()
    csv.writer(buf, lineterminator=rng.choice(["\r\n", "\n"])).writerows([header, *out])
    key = f"hotline/tickets/2026-03-05/{unique}-{seed}.csv"
    receipt = _ingest(key, buf.getvalue().encode("utf-8"), "hotline")
    assert receipt.status == "accepted", receipt.reason
    assert inserted > 0
    assert receipt.rows_received == len(out)
    assert receipt.rows_superseded == len(f.superseded_rows) + inserted
    assert [x["row_number"] for x in receipt.failures] == expected_bad
    _adds_up(receipt)
