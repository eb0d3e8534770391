"""Spec v1.3 §1/§4 value rules: thousands separators only between groups of three digits,
a present value of the wrong type breaks the type rule only, receipt row numbers (title rows
count, a multi-line CSV record is one row, JSON Lines line numbers), and the one table of
accepted spellings that the parser uses and the README shows."""

from __future__ import annotations

import json
import re

import polars as pl
import pytest

from pipelines import parsing, settings, validation
from pipelines.contracts import all_contracts

MARKET = all_contracts()["market.enterprises"]
TRAFFIC = all_contracts()["transport.traffic_flow"]
PIPE = all_contracts()["utilities.pipe_pressure"]


def _typed(contract, column: str, values: list[str]) -> tuple[list, dict[str, list[int]]]:
    raw = pl.DataFrame(
        {f.name: [None] * len(values) for f in contract.fields} | {parsing.ROW_NUMBER: list(range(1, len(values) + 1))},
        schema={f.name: pl.String for f in contract.fields} | {parsing.ROW_NUMBER: pl.Int64},
    ).with_columns(pl.Series(column, values, dtype=pl.String))
    typed, bad = parsing.type_frame(raw, contract)
    return typed[column].to_list(), bad


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,234,567.5", 1234567.5),
        ("1,234", 1234.0),
        ("-12,345.25", -12345.25),
        ("１，２３４，５６７．５", 1234567.5),
        ("123", 123.0),
        ("999,999", 999999.0),
        ("1,2,3", None),
        ("1,5", None),
        ("12,34", None),
        ("1 234", None),
        ("1,23", None),
        ("1234,567", None),
        (",123", None),
        ("1,234,", None),
        ("1,,234", None),
        ("1, 234", None),
    ],
)
def test_thousands_separators_only_between_groups_of_three(text, expected):
    values, bad = _typed(MARKET, "registered_capital_10k_cny", [text])
    assert values == [expected]
    assert bad == ({} if expected is not None else {"registered_capital_10k_cny.type": [1]})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,234", 1234),
        ("１２３", 123),
        ("12.0", 12),
        ("1,5", None),
        ("1,2,3", None),
        ("12,34", None),
        ("1 234", None),
        ("1e3", None),
        ("12.5", None),
    ],
)
def test_integers_follow_the_same_separator_rule(text, expected):
    values, _ = _typed(TRAFFIC, "vehicle_count", [text])
    assert values == [expected]


def _gx_failures(contract, raw_rows: list[dict[str, str]]) -> dict[str, list[int]]:
    """Type the rows as parsing does, run the generated GX suite, merge like ingestion."""
    names = [f.name for f in contract.fields]
    raw = pl.DataFrame(
        {n: [r.get(n) for r in raw_rows] for n in names} | {parsing.ROW_NUMBER: list(range(2, len(raw_rows) + 2))},
        schema={n: pl.String for n in names} | {parsing.ROW_NUMBER: pl.Int64},
    )
    typed, failures = parsing.type_frame(raw, contract)
    typed = typed.cast({f.name: parsing.POLARS_TYPES[f.logical_type] for f in contract.fields})
    for r in validation.validate(typed.to_pandas(), validation.load_suite(contract)):
        if r.row_numbers:
            failures.setdefault(r.rule_id, []).extend(r.row_numbers)
    return validation.type_rule_wins(failures)


def test_a_present_value_of_the_wrong_type_breaks_only_the_type_rule():
    base = {"checkpoint_id": "K1", "district_code": "370402", "vehicle_count": "12"}
    rows = [
        base | {"interval_start": t}
        for t in ("2026-02-30 07:45", "2026-03-05 24:00", "2026-03-05 07:45", None, "—", "1,5")
    ]
    assert _gx_failures(TRAFFIC, rows) == {
        "interval_start.type": [2, 3, 7],
        "interval_start.required": [5, 6],  # missing: required, not type
    }


def test_type_rule_wins_keeps_other_rules_and_other_columns():
    failures = {"a.type": [2, 3], "a.required": [2, 5], "b.required": [3], "a.range": [3]}
    assert validation.type_rule_wins(failures) == {
        "a.type": [2, 3],
        "a.required": [5],
        "b.required": [3],
        "a.range": [3],
    }
    assert validation.type_rule_wins({"a.type": [2], "a.required": [2]}) == {"a.type": [2]}


# --- the one table of spellings ----------------------------------------------------------


def test_every_spelling_of_the_table_is_read_by_the_parser():
    for s in parsing.SPELLINGS:
        for example in s.examples:
            if s.kind == "number":
                values, bad = _typed(MARKET, "registered_capital_10k_cny", [example])
                assert values[0] is not None and not bad, example
            elif s.kind == "date":
                values, bad = _typed(MARKET, "established_on", [example])
                assert str(values[0]) == "2026-03-05" and not bad, example
                values, bad = _typed(PIPE, "measured_at", [example])
                assert str(values[0]) == "2026-03-05 00:00:00" and not bad, example
            elif s.kind == "time":
                for day in ("2026-03-05 ", "2026/3/5 ", "2026年3月5日", "20260305 ", "2026-03-05T"):
                    values, bad = _typed(PIPE, "measured_at", [day + example])
                    assert str(values[0]).startswith("2026-03-05 14:0") and not bad, day + example
            elif s.kind == "offset":
                values, bad = _typed(PIPE, "measured_at", ["2026-03-05T14:00:00" + example])
                assert values[0] is not None and not bad, example
            else:
                values, bad = _typed(MARKET, "registered_capital_10k_cny", [example])
                assert values == [None] and not bad, example
                values, bad = _typed(MARKET, "established_on", [example])
                assert values == [None] and not bad, example


@pytest.mark.parametrize(
    "text",
    [
        "2026-3-5 14:07:30:1",
        "2026-03-0514:07",
        "2026年3月5日 14:07分",
        "14:07",
        "2026-03-05 14",
        "2026年3月 5日",
        "3/5/2026",
        "2026-03-05 14:07 CST",
    ],
)
def test_spellings_outside_the_table_are_type_errors(text):
    values, bad = _typed(PIPE, "measured_at", [text])
    assert values == [None] and bad == {"measured_at.type": [1]}


def test_readme_spellings_section_is_generated_from_the_table():
    readme = (settings.REPO_ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- spellings:start -->\n(.*?)\n<!-- spellings:end -->", readme, re.S)
    assert found, "README.md lacks the <!-- spellings:start --> / <!-- spellings:end --> markers"
    assert found.group(1) == parsing.spellings_markdown()
    assert parsing.with_spellings_section(readme) == readme
    assert parsing.with_spellings_section(readme) == readme


# --- row numbers as v1.3 says --------------------------------------------------------------


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_csv_record_spanning_lines_is_one_row(newline):
    lines = [
        "枣庄市卡口交通流量统计表",
        "卡口编号,所属区县,统计时段开始,车流量,路段名称",
        'K1,370402,2026-03-05 07:45,12,"解放路',
        '(东段)"',
        "K2,370402,2026-03-05 07:50,1,5,x",
        "K3,370402,2026-03-05 07:55,1,5",
    ]
    parsed = parsing.parse_file(newline.join(lines).encode("gbk"), "t.csv", TRAFFIC)
    assert parsed.raw[parsing.ROW_NUMBER].to_list() == [3, 4, 5]  # title row 1, header 2, K1 one record
    assert parsed.frame.filter(pl.col("checkpoint_id") == "K1")["road_name"].to_list() == [f"解放路{newline}(东段)"]
    assert parsed.type_failures == {"row.field_count": [4]}


def test_jsonl_row_number_is_the_line_number_even_with_unicode_line_separators():
    rec = {"sensor_id": "S1", "district_code": "370402", "measured_at": "2026-03-05 10:00", "pressure_mpa": 0.4}
    lines = [
        json.dumps(rec | {"network_type": "供水\u2028"}, ensure_ascii=False),
        json.dumps(rec | {"sensor_id": "S2", "network_type": "燃气\x1c"}, ensure_ascii=False),
        "",
        json.dumps(rec | {"sensor_id": "S3"}),
        "[1, 2]",
        '{"sensor_id": "S4", "meas',
    ]
    parsed = parsing.parse_file("\n".join(lines).encode(), "p.jsonl", PIPE)
    assert parsed.raw[parsing.ROW_NUMBER].to_list() == [1, 2, 4, 5, 6]
    assert parsed.frame["sensor_id"].to_list() == ["S1", "S2", "S3"]
    assert parsed.type_failures == {"row.json": [5, 6]}


def test_jsonl_last_line_cut_inside_a_character_stays_utf8():
    rec = {"sensor_id": "S1", "district_code": "370402", "measured_at": "2026-03-05 10:00", "network_type": "供水"}
    data = (
        json.dumps(rec, ensure_ascii=False) + "\n" + json.dumps(rec | {"sensor_id": "S2"}, ensure_ascii=False)
    ).encode()
    cut = data[: data.rindex("供".encode()) + 1]  # one byte of a three-byte character
    parsed = parsing.parse_file(cut, "p.jsonl", PIPE)
    assert parsed.encoding == "utf-8"
    assert parsed.frame["network_type"].to_list() == ["供水"]
    assert parsed.type_failures == {"row.json": [2]}
