"""The vectorised readers (CSV without quoting, flat JSON Lines) give exactly what the
row-by-row readers give: same rows, row numbers, type failures, malformed rows, unknown
columns. The row-by-row path is the reference; each file is parsed both ways.

Three kinds of cases, kept apart so that none passes vacuously:

* **same rows** — inputs both readers accept: the fast reader is called directly and must
  not decline, ``parse_file`` must have taken it, and its rows equal the row-by-row rows
  (and the expected row numbers, so an empty result cannot pass);
* **declined** — inputs the fast reader hands to the row-by-row reader (quotes, bare CR,
  blank or broken JSON lines, nested values, one column spelled twice), with the rows the
  row-by-row reader gives;
* **rejected** — inputs both readers refuse, each with the reason it must give.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from pipelines import parsing
from pipelines.contracts import Contract, all_contracts
from pipelines.tools import generator

HOTLINE = all_contracts()["hotline.tickets"]
PIPE = all_contracts()["utilities.pipe_pressure"]
TRAFFIC = all_contracts()["transport.traffic_flow"]
RESULT_ATTRS = (
    "encoding",
    "file_format",
    "rows_received",
    "type_failures",
    "unknown_columns",
    "missing_optional_columns",
)


def _fast_reader(data: bytes, name: str, contract: Contract) -> object:
    """The vectorised reader for ``name``'s format, called directly (None: it declines)."""
    if name.endswith(".jsonl"):
        return parsing._jsonl_frame_fast(data, contract)
    text, _ = parsing._csv_text(data)
    return parsing._csv_frame_fast(text, contract)


def _parse(
    data: bytes, name: str, contract: Contract, monkeypatch: pytest.MonkeyPatch, *, fast: bool
) -> tuple[parsing.ParsedFile, list[bool]]:
    """``parse_file`` with the vectorised readers (``fast``) or with the row-by-row readers only;
    plus, for each call of a vectorised reader, whether it took the file."""
    took: list[bool] = []

    def spy(fn):
        def wrapped(*args):
            out = fn(*args) if fast else None
            took.append(out is not None)
            return out

        return wrapped

    with monkeypatch.context() as m:
        m.setattr(parsing, "_csv_frame_fast", spy(parsing._csv_frame_fast))
        m.setattr(parsing, "_jsonl_frame_fast", spy(parsing._jsonl_frame_fast))
        return parsing.parse_file(data, name, contract), took


def _assert_same_rows(fast: parsing.ParsedFile, slow: parsing.ParsedFile) -> None:
    for attr in RESULT_ATTRS:
        assert getattr(fast, attr) == getattr(slow, attr), attr
    assert fast.frame.schema == slow.frame.schema
    assert fast.frame.to_dicts() == slow.frame.to_dicts()
    assert fast.raw.to_dicts() == slow.raw.to_dicts()


def _fast_equals_slow(
    data: bytes, name: str, contract: Contract, monkeypatch: pytest.MonkeyPatch
) -> parsing.ParsedFile:
    """Both readers on one file the fast reader must take; returns the (equal) result."""
    assert _fast_reader(data, name, contract) is not None, "the vectorised reader declined this file"
    fast, took = _parse(data, name, contract, monkeypatch, fast=True)
    assert took == [True], "parse_file did not take the vectorised reader"
    slow, _ = _parse(data, name, contract, monkeypatch, fast=False)
    _assert_same_rows(fast, slow)
    return slow


def _row_by_row_only(data: bytes, name: str, contract: Contract, monkeypatch: pytest.MonkeyPatch) -> parsing.ParsedFile:
    """A file the fast reader must decline: parse_file's result is the row-by-row reader's."""
    assert _fast_reader(data, name, contract) is None, "the vectorised reader took this file"
    result, took = _parse(data, name, contract, monkeypatch, fast=True)
    assert took == [False]
    reference, _ = _parse(data, name, contract, monkeypatch, fast=False)
    _assert_same_rows(result, reference)
    return result


def _rejected(data: bytes, name: str, contract: Contract, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The UnreadableFile messages of both paths (asserted equal)."""
    messages = []
    for fast in (True, False):
        with pytest.raises(parsing.UnreadableFile) as exc_info:
            _parse(data, name, contract, monkeypatch, fast=fast)
        messages.append(str(exc_info.value))
    assert messages[0] == messages[1]
    return messages


def _rows(result: parsing.ParsedFile) -> list[int]:
    return result.raw[parsing.ROW_NUMBER].to_list()


# --------------------------------------------------------------------------- generated exports


def test_generated_exports_of_every_dataset(tmp_path, monkeypatch):
    fast_files = 0
    for key, contract in all_contracts().items():
        for f in generator.generate(
            key, tmp_path / "out", start=date(2026, 3, 2), days=2, rows_per_day=120, seed=3, dirty_share=0.2
        ):
            data = f.path.read_bytes()
            fast, took = _parse(data, f.path.name, contract, monkeypatch, fast=True)
            slow, _ = _parse(data, f.path.name, contract, monkeypatch, fast=False)
            assert slow.rows_received > 0, f.path.name
            _assert_same_rows(fast, slow)
            fast_files += any(took)
    assert fast_files >= 10  # the vectorised readers really ran


def test_big_machine_feed_takes_the_fast_path(tmp_path, monkeypatch):
    files = generator.generate(
        "transport.traffic_flow",
        tmp_path,
        start=date(2026, 3, 2),
        days=1,
        rows_per_day=20_000,
        seed=5,
        formats="csv_gbk",
    )
    data: Path = files[0].path
    result = _fast_equals_slow(data.read_bytes(), data.name, TRAFFIC, monkeypatch)
    assert result.rows_received > 1000


# --------------------------------------------------------------------------- CSV

# Every column of the contract (a full-width bracket in one name), plus one it does not know.
HEADER = (
    "工单编号,受理时间,来源渠道,诉求类型,事项分类,所属区县,联系电话,诉求内容,首接单位,承办单位,转办次数,"
    "办结时间,办理时限（小时）,满意度,处理状态"
)
ROW = (
    "ZZ12345-20260305-00000{n},2026-03-05 09:0{n},电话,咨询,城市管理,370402,13800001234,路灯不亮,"
    "市12345热线,市城管局,1,2026-03-06 10:00,48,满意,已办结"
)


def _row(n: int, **replace: str) -> str:
    text = ROW.format(n=n)
    for old, new in replace.items():
        text = text.replace(old, new)
    return text


def _csv(lines: list[str], encoding: str = "gbk", newline: str = "\n") -> bytes:
    return newline.join(lines).encode(encoding)


# (lines, newline, expected row numbers, expected malformed rows)
CSV_SAME_ROWS = {
    "title_rows_blank_line_and_total_footer": (
        ["枣庄市12345热线工单导出", "", HEADER, _row(1), _row(2), "合计,2"],
        "\n",
        [4, 5],
        [],
    ),
    "crlf_blank_cells_row_trailing_empty_cells_and_an_extra_cell": (
        [HEADER, _row(1), ",,,  ,", _row(2) + ",,", _row(3) + ",x"],
        "\r\n",
        [2, 4, 5],
        [5],
    ),
    "short_row_and_preparer_footer_after_spaces": (
        [HEADER, "ZZ12345-20260305-000001,2026-03-05,电话", _row(2), "   制表人：张三", _row(3)],
        "\n",
        [2, 3],
        [2],
    ),
    "chinese_dates_and_trailing_newline": (
        [HEADER, _row(1, **{"2026-03-05 09:01": "2026年3月5日 9时01分"}), _row(2, **{"48": "四十八"}), ""],
        "\n",
        [2, 3],
        [],
    ),
    "full_width_digits_and_type_failures": (
        [HEADER, _row(1, **{"370402": "３７０４０２"}), _row(2, **{",1,": ",one,", "2026-03-06 10:00": "明天"})],
        "\n",
        [2, 3],
        [],
    ),
}


@pytest.mark.parametrize("case", CSV_SAME_ROWS)
def test_csv_fast_reader_gives_the_same_rows(case, monkeypatch):
    lines, newline, rows, malformed = CSV_SAME_ROWS[case]
    result = _fast_equals_slow(_csv(lines, newline=newline), "t.csv", HOTLINE, monkeypatch)
    assert _rows(result) == rows
    assert result.type_failures.get("row.field_count", []) == malformed
    assert result.unknown_columns == ["处理状态"]


def test_csv_type_failures_are_the_same_both_ways(monkeypatch):
    lines, newline, _, _ = CSV_SAME_ROWS["full_width_digits_and_type_failures"]
    result = _fast_equals_slow(_csv(lines, newline=newline), "t.csv", HOTLINE, monkeypatch)
    assert result.type_failures == {"transfer_count.type": [3], "closed_at.type": [3]}
    assert result.frame["district_code"].to_list() == ["370402", "370402"]


CSV_DECLINED = {
    "quoted_field_with_a_comma": ([HEADER, _row(1), _row(2, **{"路灯不亮": '"路灯不亮,已报修"'})], "\n", [2, 3]),
    "quoted_field_spanning_lines": ([HEADER, _row(1, **{"路灯不亮": '"路灯\n不亮"'}), _row(2)], "\n", [2, 3]),
    "bare_cr_line_breaks": ([HEADER, _row(1), _row(2)], "\r", [2, 3]),
}


@pytest.mark.parametrize("case", CSV_DECLINED)
def test_csv_fast_reader_declines_what_needs_the_full_dialect(case, monkeypatch):
    lines, newline, rows = CSV_DECLINED[case]
    result = _row_by_row_only(_csv(lines, newline=newline), "t.csv", HOTLINE, monkeypatch)
    assert _rows(result) == rows
    assert "row.field_count" not in result.type_failures


def test_csv_quoted_comma_stays_in_its_field(monkeypatch):
    lines, newline, _ = CSV_DECLINED["quoted_field_with_a_comma"]
    result = _row_by_row_only(_csv(lines, newline=newline), "t.csv", HOTLINE, monkeypatch)
    assert result.frame["content"].to_list() == ["路灯不亮", "路灯不亮,已报修"]


def test_csv_without_required_columns_is_rejected_with_their_names(monkeypatch):
    header = "工单编号,受理时间,所属区县,诉求内容"
    data = _csv([header, "ZZ12345-20260305-000001,2026-03-05 09:01,370402,路灯不亮"])
    messages = _rejected(data, "t.csv", HOTLINE, monkeypatch)
    assert messages[0] == "缺少必填列 / missing required columns: 事项分类(topic), 首接单位(first_receiver_dept)"


def test_csv_without_a_header_row_is_rejected(monkeypatch):
    data = _csv(["甲,乙,丙", "1,2,3"])
    assert "no header row matching" in _rejected(data, "t.csv", HOTLINE, monkeypatch)[0]


def test_csv_with_a_column_given_twice_is_rejected(monkeypatch):
    data = _csv([HEADER + ",ticket_id", _row(1) + ",x"])
    assert _rejected(data, "t.csv", HOTLINE, monkeypatch)[0] == "表头重复 / duplicated columns: ticket_id"


# --------------------------------------------------------------------------- JSON Lines


def _line(**values: object) -> str:
    import json

    base: dict[str, object] = {"sensor_id": "S1", "district_code": "370402", "measured_at": "2026-03-05 09:01:00"}
    return json.dumps({**base, **values}, ensure_ascii=False)


# (text, expected row numbers, expected unknown columns)
JSONL_SAME_ROWS = {
    "mixed_numbers_nulls_strings_and_an_unknown_key": (
        _line(pressure_mpa=0.35, threshold_low=0.2, threshold_high=1)
        + "\n"
        + _line(
            sensor_id="S2",
            measured_at="2026-03-05T09:02:00+08:00",
            pressure_mpa="0.4",
            threshold_low=None,
            threshold_high=2.0,
            extra=True,
        )
        + "\n",
        [1, 2],
        ["extra"],
    ),
    "chinese_keys_and_crlf": (
        _line(管网类型="燃气", pressure_mpa=1.5).replace('"sensor_id"', '"传感器编号"')
        + "\r\n"
        + _line(管网类型="供水").replace('"sensor_id"', '"传感器编号"')
        + "\r\n",
        [1, 2],
        [],
    ),
    "type_failures_and_unicode_escapes": (
        _line(pressure_mpa="abc", network_type="\\u4f9b\\u6c34") + "\n" + _line(measured_at="昨天", pressure_mpa=3),
        [1, 2],
        [],
    ),
}


@pytest.mark.parametrize("case", JSONL_SAME_ROWS)
def test_jsonl_fast_reader_gives_the_same_rows(case, monkeypatch):
    text, rows, unknown = JSONL_SAME_ROWS[case]
    result = _fast_equals_slow(text.encode(), "p.jsonl", PIPE, monkeypatch)
    assert _rows(result) == rows
    assert result.unknown_columns == unknown
    assert "row.json" not in result.type_failures


def test_jsonl_type_failures_are_the_same_both_ways(monkeypatch):
    text, _, _ = JSONL_SAME_ROWS["type_failures_and_unicode_escapes"]
    result = _fast_equals_slow(text.encode(), "p.jsonl", PIPE, monkeypatch)
    assert result.type_failures == {"pressure_mpa.type": [1], "measured_at.type": [2]}


# (text, expected row numbers, expected malformed lines)
JSONL_DECLINED = {
    "blank_line_between_records": (_line(pressure_mpa=1.5) + "\n\n" + _line(sensor_id="S2") + "\n", [1, 3], []),
    "whitespace_only_line": (_line() + "\n \t\n" + _line(sensor_id="S2") + "\n", [1, 3], []),
    "ideographic_space_line": (_line() + "\n\u3000\n" + _line(sensor_id="S2") + "\n", [1, 3], []),
    "first_line_blank": ("\n" + _line() + "\n" + _line(sensor_id="S2") + "\n", [2, 3], []),
    # a break other readers see inside a line: that line is broken JSON, the next one is read
    "line_separator_inside": (_line() + "\u2028" + _line(sensor_id="S2") + "\n" + _line(sensor_id="S3"), [1, 2], [1]),
    "bare_carriage_return": (_line() + "\r" + _line(sensor_id="S2") + "\n" + _line(sensor_id="S3"), [1, 2], [1]),
    "nested_value": (_line(pressure_mpa={"v": 1}) + "\n" + _line(sensor_id="S2") + "\n", [1, 2], []),
    "line_that_is_not_json": (_line() + "\nnot json\n", [1, 2], [2]),
    "one_column_spelled_two_ways_in_one_line": (_line() + "\n" + _line(传感器编号="S9") + "\n", [1, 2], [2]),
    "one_column_spelled_two_ways_across_lines": (
        _line() + "\n" + _line().replace('"sensor_id"', '"传感器编号"') + "\n",
        [1, 2],
        [],
    ),
}


@pytest.mark.parametrize("case", JSONL_DECLINED)
def test_jsonl_fast_reader_declines_what_needs_line_by_line_reading(case, monkeypatch):
    text, rows, malformed = JSONL_DECLINED[case]
    result = _row_by_row_only(text.encode(), "p.jsonl", PIPE, monkeypatch)
    assert _rows(result) == rows
    assert result.type_failures.get("row.json", []) == malformed


def test_jsonl_without_required_columns_is_rejected_with_their_names(monkeypatch):
    data = b'{"sensor_id":"S1","measured_at":"2026-03-05 09:01","pressure_mpa":1.5}\n'
    messages = _rejected(data, "p.jsonl", PIPE, monkeypatch)
    assert messages[0] == "缺少必填列 / missing required columns: 所属区县(district_code)"


def test_jsonl_without_a_readable_record_is_rejected(monkeypatch):
    messages = _rejected(b"not json\n[1, 2]\n", "p.jsonl", PIPE, monkeypatch)
    assert messages[0] == "JSON Lines 文件没有可读记录 / no readable JSON records"
