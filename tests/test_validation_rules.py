"""The contract rules as GX validates them (custom expectations included), on small frames.

Valid and invalid identifiers are built here from the standards themselves (GB 11643-1999,
GB 32100-2015), independently of pipelines.pii.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from pipelines import parsing, validation
from pipelines.contracts import all_contracts

# --- identifiers computed from the standards ------------------------------------------


def id_check(first17: str) -> str:
    """GB 11643-1999: weights 2^(17-i) mod 11, check = (12 - sum mod 11) mod 11, 10 → X."""
    total = sum(int(d) * (2 ** (17 - i) % 11) for i, d in enumerate(first17))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def resident_id(area: str = "370402", birth: str = "19900307", seq: str = "123") -> str:
    first17 = area + birth + seq
    return first17 + id_check(first17)


def id_with_check_x() -> str:
    for seq in range(1000):
        v = resident_id(seq=f"{seq:03d}")
        if v.endswith("X"):
            return v
    raise AssertionError("no ID with check character X")


USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def uscc(first17: str = "91370402MA3C00001") -> str:
    """GB 32100-2015: weights 3^i mod 31, check = 31 - sum mod 31 (31 → 0)."""
    total = sum(USCC_CHARS.index(c) * (3**i % 31) for i, c in enumerate(first17))
    return first17 + USCC_CHARS[(31 - total % 31) % 31]


def wrong_last(value: str, alphabet: str) -> str:
    return value[:-1] + next(c for c in alphabet if c != value[-1])


# --- running a dataset's suite on rows -----------------------------------------------


def failures(key: str, rows: list[dict[str, str | None]], only: str | None = None) -> dict[str, list[int]]:
    """Parse string rows (canonical names) like a file, run the dataset's generated GX suite,
    return failing rule → row numbers (rows are numbered from 2, as under a header)."""
    contract = all_contracts()[key]
    names = [f.name for f in contract.fields]
    raw = pl.DataFrame(
        {n: [r.get(n) for r in rows] for n in names} | {parsing.ROW_NUMBER: list(range(2, len(rows) + 2))},
        schema={n: pl.String for n in names} | {parsing.ROW_NUMBER: pl.Int64},
    )
    typed, type_failures = parsing.type_frame(raw, contract)
    assert not type_failures, type_failures
    typed = typed.cast({f.name: parsing.POLARS_TYPES[f.logical_type] for f in contract.fields})
    suite = validation.load_suite(contract)
    if only:
        suite = {**suite, "expectations": [e for e in suite["expectations"] if e["meta"]["rule_id"] == only]}
        assert suite["expectations"], only
    out = {}
    for r in validation.validate(typed.to_pandas(), suite):
        assert r.unexpected_count == len(r.row_numbers), r
        if r.row_numbers:
            out[r.rule_id] = r.row_numbers
    return out


def case(n: int, **over: str | None) -> dict[str, str | None]:
    row = {
        "case_id": f"C{n:04d}",
        "item_code": "11370400MB0000001",
        "item_name": "营业执照办理",
        "channel": "掌上",
        "applied_at": "2026-03-05 09:00",
        "completed_at": "2026-03-05 10:00",
        "promised_days": "5",
        "dept": "市行政审批服务局",
        "district_code": "370402",
        "applicant_type": "自然人",
        "applicant_id": resident_id(),
        "visits": "0",
        "rating": "满意",
    }
    return row | over


def test_the_test_identifiers_are_right():
    # Published examples: GB 11643-1999 example ID, and a real-format USCC example.
    assert id_check("11010519491231002") == "X"
    assert uscc("91350100M000100Y4") == "91350100M000100Y43"


def test_resident_id_check_character_and_birth_date():
    valid = [resident_id(), id_with_check_x(), id_with_check_x().lower(), resident_id(birth="20000229")]
    invalid = [
        wrong_last(resident_id(), "0123456789X"),  # wrong check character
        resident_id(birth="19900230"),  # no such date, right check character
        resident_id(birth="20010229"),  # not a leap year
        resident_id(birth="21990101"),  # born in the future
        resident_id()[:17],  # 17 characters
        resident_id()[:16] + "AB",  # letters
    ]
    rows = [case(i, applicant_id=v) for i, v in enumerate(valid + invalid)]
    got = failures("govservice.cases", rows)
    assert got == {"applicant_id.resident_id": list(range(2 + len(valid), 2 + len(rows)))}


def test_uscc_check_character():
    good = uscc()
    valid = [good, uscc("91370400MA3C12345"), good.lower()]
    invalid = [wrong_last(good, USCC_CHARS), good[:17] + "I", "91370402MA3C0000", good.replace("MA", "MO")]
    rows = [
        {"uscc": v, "name": "某公司", "established_on": "2020-01-01", "district_code": "370402"}
        for v in valid + invalid
    ]
    got = failures("market.enterprises", rows)
    assert got == {"uscc.uscc": list(range(2 + len(valid), 2 + len(rows)))}


def test_applicant_id_depends_on_applicant_type():
    rows = [
        case(1, applicant_type="自然人", applicant_id=resident_id()),  # 2 ok
        case(2, applicant_type="法人", applicant_id=uscc()),  # 3 ok
        case(3, applicant_type="自然人", applicant_id=uscc()),  # 4 a USCC is not a resident ID
        case(4, applicant_type="法人", applicant_id=resident_id()),  # 5 a resident ID is not a USCC
        case(5, applicant_type="法人", applicant_id=wrong_last(uscc(), USCC_CHARS)),  # 6
        case(6, applicant_type=None, applicant_id="anything"),  # 7 no type: no identifier rule
        case(7, applicant_type="自然人", applicant_id=None),  # 8 missing is allowed
        case(8, applicant_type="自然人", applicant_id=id_with_check_x().lower()),  # 9 lower-case x is X
    ]
    assert failures("govservice.cases", rows) == {"applicant_id.resident_id": [4], "applicant_id.uscc": [5, 6]}


def test_legal_rep_id_checks_only_eighteen_character_values():
    rows = [
        {"legal_rep_id": resident_id()},  # 2 valid ID
        {"legal_rep_id": "E12345678"},  # 3 passport, accepted as given
        {"legal_rep_id": "H0123456701"},  # 4 港澳居民来往内地通行证
        {"legal_rep_id": wrong_last(resident_id(), "0123456789X")},  # 5 18 characters, bad check
        {"legal_rep_id": "Ｅ１２３４５６７８"},  # 6 full width passport
        {"legal_rep_id": resident_id(birth="19991340")},  # 7 18 characters, no such date
    ]
    base = {"uscc": uscc(), "name": "某公司", "established_on": "2020-01-01", "district_code": "370402"}
    assert failures("market.enterprises", [base | r for r in rows]) == {"legal_rep_id.resident_id": [5, 7]}


def test_phone_format_replaces_the_regex():
    rows = [
        "13800001234",
        "138-0000-1234",
        "+86 138 0000 1234",
        "１３８００００１２３４",
        "0632-1234567",
        "(0632)12345678",
        "1380000",
        "12345",
        "0632-123",
        "23800001234",
    ]
    base = {
        "request_id": "R1",
        "community_name": "光明社区",
        "grid_code": "370402001001001",
        "submitted_at": "2026-03-05 09:00",
    }
    got = failures(
        "community.service_requests", [base | {"request_id": f"R{i}", "resident_phone": p} for i, p in enumerate(rows)]
    )
    assert got == {"resident_phone.phone": [8, 9, 10, 11]}
    suite = validation.load_suite(all_contracts()["hotline.tickets"])
    (phone,) = [e for e in suite["expectations"] if e["meta"]["rule_id"] == "caller_phone.phone"]
    assert phone["type"] == "expect_column_values_to_be_valid_phone"


def test_observed_at_on_the_hour():
    times = [
        "2026-03-05 10:00",
        "2026-03-05 00:00:00",
        "2026年3月5日 23时",
        "2026-03-05 10:30",
        "2026-03-05 10:00:30",
        "2026-03-05T10:59:59",
    ]
    rows = [{"station_code": "S1", "observed_at": t, "district_code": "370402"} for t in times]
    assert failures("ecology.air_quality_hourly", rows) == {"observed_at.aligned": [5, 6, 7]}


def test_interval_start_on_five_minutes():
    times = [
        "2026-03-05 10:05",
        "2026-03-05 00:00",
        "2026-03-05 23:55:00",
        "2026-03-05 10:07",
        "2026-03-05 10:05:01",
        "2026-03-05 10:02",
    ]
    rows = [
        {"checkpoint_id": f"K{i}", "interval_start": t, "district_code": "370402", "vehicle_count": "12"}
        for i, t in enumerate(times)
    ]
    assert failures("transport.traffic_flow", rows) == {"interval_start.aligned": [5, 6, 7]}


def test_threshold_high_strictly_above_threshold_low():
    pairs = [("0.2", "0.6"), ("0.2", None), (None, "0.6"), ("0.5", "0.5"), ("0.6", "0.2")]
    rows = [
        {
            "sensor_id": f"S{i}",
            "district_code": "370402",
            "measured_at": "2026-03-05 10:00",
            "pressure_mpa": "0.4",
            "threshold_low": lo,
            "threshold_high": hi,
        }
        for i, (lo, hi) in enumerate(pairs)
    ]
    assert failures("utilities.pipe_pressure", rows) == {"threshold_high.greater_than_threshold_low": [5, 6]}


def test_pressure_range_and_json_numbers():
    rows = [
        {"sensor_id": "S1", "district_code": "370402", "measured_at": "2026-03-05 10:00", "pressure_mpa": p}
        for p in ("0", "4", "4.01", "-0.1")
    ]
    assert failures("utilities.pipe_pressure", rows, only="pressure_mpa.range") == {"pressure_mpa.range": [4, 5]}


def test_grid_code_starts_with_its_district():
    rows = [
        {"grid_code": "370402001001001", "district_code": "370402"},
        {"grid_code": "370481002003004", "district_code": "370481"},
        {"grid_code": "370403001001001", "district_code": "370402"},
    ]
    base = {"grid_name": "一网格", "street_name": "中心街道", "community_name": "光明社区"}
    assert failures("grid.grids", [base | r for r in rows]) == {"grid_code.starts_with_district_code": [4]}


def test_established_on_not_in_the_future():
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    dates = ["2001-05-01", str(today), str(today + timedelta(days=1)), str(today + timedelta(days=3650))]
    rows = [{"uscc": uscc(), "name": "某公司", "established_on": d, "district_code": "370402"} for d in dates]
    assert failures("market.enterprises", rows, only="established_on.not_in_future") == {
        "established_on.not_in_future": [4, 5]
    }


def test_reported_at_not_before_occurred_at():
    pairs = [
        ("2026-03-05 10:00", "2026-03-05 10:00"),
        ("2026-03-05 10:00", "2026-03-05 10:05"),
        ("2026-03-05 10:00", "2026-03-05 09:59"),
        ("2026-03-05 10:00", None),
    ]
    rows = [
        {"incident_id": f"I{i}", "occurred_at": o, "reported_at": r, "district_code": "370402"}
        for i, (o, r) in enumerate(pairs)
    ]
    assert failures("emergency.incidents", rows) == {"reported_at.not_before_occurred_at": [4]}


def test_results_never_carry_values():
    """The custom expectations put row numbers in results, never the failing values."""
    bad_id, bad_uscc = wrong_last(resident_id(), "0123456789X"), wrong_last(uscc(), USCC_CHARS)
    contract = all_contracts()["govservice.cases"]
    rows = [case(1, applicant_id=bad_id), case(2, applicant_type="法人", applicant_id=bad_uscc)]
    names = [f.name for f in contract.fields]
    raw = pl.DataFrame({n: [r.get(n) for r in rows] for n in names} | {parsing.ROW_NUMBER: [2, 3]})
    typed, _ = parsing.type_frame(raw, contract)
    frame = typed.cast({f.name: parsing.POLARS_TYPES[f.logical_type] for f in contract.fields}).to_pandas()
    results = validation.validate(frame, validation.load_suite(contract))
    text = json.dumps([r.__dict__ for r in results], ensure_ascii=False)
    assert bad_id not in text and bad_uscc not in text
    # The GX result objects themselves (what a Data Docs store or a log would get).
    suite_json = json.dumps(validation.load_suite(contract), sort_keys=True)
    vd = validation._validation_definition(suite_json)
    with validation._GX_LOCK:
        gx_result = vd.run(
            batch_parameters={"dataframe": frame},
            result_format={
                "result_format": "COMPLETE",
                "unexpected_index_column_names": [validation.ROW_NUMBER],
                "exclude_unexpected_values": True,
                "return_unexpected_index_query": False,
            },
        )
    dumped = json.dumps(gx_result.to_json_dict(), ensure_ascii=False, default=str)
    assert bad_id not in dumped and bad_uscc not in dumped and bad_id.lower() not in dumped
    assert '"unexpected_index_list"' in dumped


# --- parsing of the values the new datasets carry ------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-05 14:07:30", "2026-03-05 14:07:30"),
        ("2026/3/5 14:07:30", "2026-03-05 14:07:30"),
        ("2026年3月5日 14时07分30秒", "2026-03-05 14:07:30"),
        ("2026-03-05T14:07:30.250", "2026-03-05 14:07:30"),
        ("2026.3.5 14:07", "2026-03-05 14:07:00"),
        ("2026-03-05T14:07:30+08:00", "2026-03-05 14:07:30"),
        ("2026-03-05T06:07:30Z", "2026-03-05 14:07:30"),
        ("２０２６－０３－０５ １４：０７", "2026-03-05 14:07:00"),
        ("2026年3月5日 14时", "2026-03-05 14:00:00"),
    ],
)
def test_timestamps_with_seconds_and_offsets(text, expected):
    contract = all_contracts()["utilities.pipe_pressure"]
    raw = pl.DataFrame(
        {f.name: [None] for f in contract.fields} | {parsing.ROW_NUMBER: [1]},
        schema={f.name: pl.String for f in contract.fields} | {parsing.ROW_NUMBER: pl.Int64},
    )
    raw = raw.with_columns(pl.lit(text).alias("measured_at"))
    typed, bad = parsing.type_frame(raw, contract)
    assert not bad
    assert str(typed["measured_at"][0]) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,234.5", 1234.5),
        ("１２３", 123.0),
        ("１，２３４．５", 1234.5),
        (" 12 345 ", None),
        ("0.001", 0.001),
        ("1e3", 1000.0),
        ("nan", None),
        ("inf", None),
        ("12.5万", None),
    ],
)
def test_decimals(text, expected):
    contract = all_contracts()["market.enterprises"]
    raw = pl.DataFrame(
        {f.name: [None] for f in contract.fields} | {parsing.ROW_NUMBER: [1]},
        schema={f.name: pl.String for f in contract.fields} | {parsing.ROW_NUMBER: pl.Int64},
    )
    raw = raw.with_columns(pl.lit(text).alias("registered_capital_10k_cny"))
    typed, bad = parsing.type_frame(raw, contract)
    assert typed["registered_capital_10k_cny"][0] == expected
    assert bool(bad) == (expected is None)


def test_json_lines_feed_with_numbers_strings_and_broken_lines():
    contract = all_contracts()["ecology.air_quality_hourly"]
    lines = [
        {"站点编码": "S01", "监测时间": "2026-03-05 10:00", "所属区县": 370402, "PM2.5": 35, "PM10": 61.5, "AQI": 50},
        {
            "station_code": "S02",
            "observed_at": "2026-03-05T11:00:00+08:00",
            "district_code": "370403",
            "pm25": "1,000",
            "co": 0.8,
            "aqi": None,
            "note": "x",
        },
    ]
    text = "\n".join(
        [json.dumps(lines[0], ensure_ascii=False), "{broken", "", json.dumps(lines[1], ensure_ascii=False), "[1, 2]"]
    )
    parsed = parsing.parse_file(text.encode("utf-8"), "feed.jsonl", contract)
    assert parsed.file_format == "jsonl" and parsed.rows_received == 4
    assert parsed.type_failures == {"row.json": [2, 5]}
    assert parsed.unknown_columns == ["note"]
    frame = parsed.frame.sort(parsing.ROW_NUMBER)
    assert frame[parsing.ROW_NUMBER].to_list() == [1, 4]
    assert frame["district_code"].to_list() == ["370402", "370403"]
    assert frame["pm25"].to_list() == [35.0, 1000.0] and frame["pm10"].to_list() == [61.5, None]
    assert frame["aqi"].to_list() == [50, None] and frame["co"].to_list() == [None, 0.8]
    assert [str(t) for t in frame["observed_at"]] == ["2026-03-05 10:00:00", "2026-03-05 11:00:00"]
    assert sorted(parsed.raw[parsing.ROW_NUMBER].to_list()) == [1, 2, 4, 5]  # broken lines kept for quarantine


def test_csv_row_with_wrong_field_count_is_kept_for_quarantine():
    contract = all_contracts()["grid.grids"]
    text = (
        "网格编码,网格名称,所属镇街,所属社区,所属区县\n"
        "370402001001001,一网格,中心街道,光明社区,370402\n"
        "370402001001002,二网格,中心街道\n"
    )
    parsed = parsing.parse_file(text.encode("gbk"), "grids.csv", contract)
    assert parsed.type_failures == {"row.field_count": [3]} and parsed.rows_received == 2
    assert parsed.frame[parsing.ROW_NUMBER].to_list() == [2]
    assert parsed.raw[parsing.ROW_NUMBER].to_list() == [2, 3]


def test_identifiers_are_normalised_on_parsing():
    contract = all_contracts()["market.enterprises"]
    good = uscc()
    fullwidth = good.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    text = (
        "统一社会信用代码,企业名称,成立日期,所属区县,法定代表人证件号\n"
        f"{good.lower()},甲公司,2020-01-01,370402,{id_with_check_x().lower()}\n"
        f"{fullwidth},乙公司,2020-01-01,370402,e1234567\n"
    )
    parsed = parsing.parse_file(text.encode("utf-8"), "e.csv", contract)
    assert parsed.frame["uscc"].to_list() == [good, good]
    assert parsed.frame["legal_rep_id"].to_list() == [id_with_check_x(), "E1234567"]


def test_grid_code_prefix_must_be_a_district():
    """Spec §2: the first six digits of a grid code are one of the six district codes."""
    events = [
        {"event_id": f"E{n}", "grid_code": grid, "reported_at": "2026-03-05 09:00", "category": "其他"}
        for n, grid in enumerate(["370402001001001", "999999001001001", "370400001001001", "37048100100100"])
    ]
    assert failures("grid.events", events, only="grid_code.pattern") == {"grid_code.pattern": [3, 4, 5]}
    requests = [
        {"request_id": f"R{n}", "community_name": "光明社区", "grid_code": grid, "submitted_at": "2026-03-05 09:00"}
        for n, grid in enumerate(["370481001001001", "999999001001001"])
    ]
    assert failures("community.service_requests", requests, only="grid_code.pattern") == {"grid_code.pattern": [3]}
