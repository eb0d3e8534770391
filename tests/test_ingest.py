"""Ingestion on the real S3 server and real Delta tables: encodings, rejection, duplicates,
corrections, quarantine with row numbers and rules, receipts without clear-text PII."""

from __future__ import annotations

import json
import time

import polars as pl

from pipelines import ingest, lake
from pipelines.contracts import all_contracts
from tests.helpers import HEADER_ZH, csv_bytes, submit, submit_and_ingest, ticket

CONTRACT = all_contracts()["hotline.tickets"]


def raw_rows(key: str) -> pl.DataFrame:
    frame = lake.read_table(lake.raw_uri(CONTRACT))
    assert frame is not None
    return frame.filter(pl.col("_source_key") == key).sort("_row_number")


def test_gbk_file_lands_with_chinese_text_exactly(lake_root, unique):
    rows = [ticket(1, 诉求内容="小区东门路灯不亮，夜间出行不便", 诉求人姓名="欧阳娜娜"), ticket(2, 事项分类="供暖问题")]
    key = f"hotline/tickets/2026-03-05/gbk-{unique}.csv"
    receipt = submit_and_ingest(key, csv_bytes(rows, "gbk"))
    assert receipt.status == "accepted" and receipt.encoding == "gbk"
    assert (receipt.rows_received, receipt.rows_accepted, receipt.rows_quarantined) == (2, 2, 0)
    landed = raw_rows(key)
    assert landed["content"].to_list() == ["小区东门路灯不亮，夜间出行不便", "夜间施工噪音扰民"]
    assert landed["topic"].to_list() == ["噪音扰民", "供暖问题"]
    assert landed["caller_name"].to_list() == ["欧阳娜娜", "张三"]
    assert landed["_row_number"].to_list() == [2, 3]  # line numbers in the file (header = line 1)


def test_gb18030_file_with_characters_outside_gbk(lake_root, unique):
    text = "王䶮反映：楼道堆物𠮷影响通行"
    data = csv_bytes([ticket(1, 诉求内容=text, 诉求人姓名="王䶮")], "gb18030")
    try:
        data.decode("gbk")
        raise AssertionError("the test file must not be decodable as GBK")
    except UnicodeDecodeError:
        pass
    key = f"hotline/tickets/2026-03-05/gb18030-{unique}.csv"
    receipt = submit_and_ingest(key, data)
    assert receipt.status == "accepted" and receipt.encoding == "gb18030"
    landed = raw_rows(key)
    assert landed["content"].to_list() == [text]
    assert landed["caller_name"].to_list() == ["王䶮"]


def test_utf8_bom_and_english_headers_and_value_forms(lake_root, unique):
    english = [
        "ticket_id",
        "received_at",
        "channel",
        "request_type",
        "topic",
        "district_code",
        "content",
        "first_receiver_dept",
        "closed_at",
        " Deadline_Hours ",
        "caller_phone",
    ]
    rows = [
        dict(
            zip(
                english,
                [
                    "ZZ12345-20260305-000001",
                    "2026年3月5日 14时07分",
                    "电话",
                    "投诉",
                    "噪音",
                    "370402",
                    "x",
                    "d",
                    "2026/3/5 18:00",
                    "１,２００",
                    "+86 138-0000-1234",
                ],
                strict=True,
            )
        ),
        dict(
            zip(
                english,
                [
                    "ZZ12345-20260305-000002",
                    "20260305",
                    "微信",
                    "咨询",
                    "供暖",
                    "370403",
                    "y",
                    "d",
                    "NULL",
                    "—",
                    "0632-1234567",
                ],
                strict=True,
            )
        ),
    ]
    key = f"hotline/tickets/2026-03-05/bom-{unique}.csv"
    receipt = submit_and_ingest(key, csv_bytes(rows, "utf-8-sig", header=english))
    assert receipt.status == "accepted" and receipt.encoding == "utf-8-sig"
    assert receipt.rows_accepted == 2, receipt.rule_counts
    landed = raw_rows(key).to_dicts()
    assert str(landed[0]["received_at"]) == "2026-03-05 14:07:00"
    assert str(landed[0]["closed_at"]) == "2026-03-05 18:00:00"
    assert landed[0]["deadline_hours"] == 1200
    assert landed[0]["caller_phone"] == "13800001234"
    assert str(landed[1]["received_at"]) == "2026-03-05 00:00:00"
    assert landed[1]["closed_at"] is None and landed[1]["deadline_hours"] is None
    assert landed[1]["caller_phone"] == "06321234567"


def test_missing_required_column_rejects_the_whole_file(lake_root, unique):
    header = [h for h in HEADER_ZH if h != "诉求内容"]
    key = f"hotline/tickets/2026-03-05/missing-{unique}.csv"
    receipt = submit_and_ingest(key, csv_bytes([ticket(1), ticket(2)], "gbk", header=header))
    assert receipt.status == "rejected"
    assert "content" in receipt.reason and "诉求内容" in receipt.reason
    assert receipt.rows_accepted == 0
    stored = ingest.read_receipt(key, identity="hotline")  # the bureau reads it back
    assert stored["status"] == "rejected" and "诉求内容" in stored["reason"]
    frame = lake_frame()
    assert frame is None or frame.filter(pl.col("_source_key") == key).height == 0


def lake_frame():
    return lake.read_table(lake.raw_uri(CONTRACT))


def test_identical_bytes_twice_add_no_rows(lake_root, unique):
    data = csv_bytes([ticket(1), ticket(2), ticket(3)], "gbk")
    first = submit_and_ingest(f"hotline/tickets/2026-03-05/a-{unique}.csv", data)
    assert first.status == "accepted" and first.rows_accepted == 3
    before = lake_frame().height
    again = submit_and_ingest(f"hotline/tickets/2026-03-06/renamed-{unique}.csv", data)
    assert again.status == "duplicate"
    assert again.duplicate_of == f"hotline/tickets/2026-03-05/a-{unique}.csv"
    rerun = ingest.process(submit(f"hotline/tickets/2026-03-05/a-{unique}.csv", data), run_id="rerun")
    assert rerun.status == "accepted" and rerun.rows_accepted == 3
    assert lake_frame().height == before == 3


def test_new_version_of_a_key_replaces_exactly_its_rows(lake_root, unique):
    key = f"hotline/tickets/2026-03-05/fix-{unique}.csv"
    other = f"hotline/tickets/2026-03-05/other-{unique}.csv"
    submit_and_ingest(other, csv_bytes([ticket(9)], "gbk"))
    submit_and_ingest(key, csv_bytes([ticket(1), ticket(2), ticket(3)], "gbk"))
    receipt = submit_and_ingest(key, csv_bytes([ticket(1, 满意度="满意"), ticket(4)], "gbk"))
    assert receipt.replaces_etag is not None
    assert raw_rows(key)["ticket_id"].to_list() == ["ZZ12345-20260305-000001", "ZZ12345-20260305-000004"]
    assert raw_rows(key)["satisfaction"].to_list() == ["满意", None]
    assert raw_rows(other).height == 1


def test_bad_rows_are_quarantined_with_rules_and_row_numbers(lake_root, unique):
    rows = [
        ticket(1),  # line 2 ok
        ticket(2, 事项分类=""),  # line 3 topic.required
        ticket(3, 所属区县="370499"),  # line 4 district_code.enum
        ticket(4, 办结时间="2026-03-04 08:00"),  # line 5 closed_at before received_at
        ticket(5, 联系电话="1380000"),  # line 6 bad phone
        ticket(6, 受理时间="2026-02-30 09:00"),  # line 7 no such date
        ticket(7, 转办次数="-1"),  # line 8 transfer_count.range
        ticket(8, 诉求内容="第一次"),
        ticket(8, 诉求内容="第二次"),  # lines 9, 10: same key, last wins
    ]
    key = f"hotline/tickets/2026-03-05/dirty-{unique}.csv"
    receipt = submit_and_ingest(key, csv_bytes(rows, "gbk"))
    expected = {
        3: ["topic.required"],
        4: ["district_code.enum"],
        5: ["closed_at.not_before_received_at"],
        6: ["caller_phone.phone"],
        7: ["received_at.type"],  # present but no such date: the type rule only (spec v1.3 §4)
        8: ["transfer_count.range"],
    }
    assert {f["row_number"]: f["rules"] for f in receipt.failures} == expected
    assert (receipt.rows_received, receipt.rows_accepted, receipt.rows_quarantined, receipt.rows_superseded) == (
        9,
        2,
        6,
        1,
    )
    assert raw_rows(key)["content"].to_list() == ["夜间施工噪音扰民", "第二次"]
    quarantine = lake.read_table(lake.quarantine_uri(CONTRACT)).filter(pl.col("_source_key") == key)
    assert sorted(quarantine["_row_number"].to_list()) == sorted(expected)
    # The quarantine (engineers only) keeps the values as sent; the receipt never shows them.
    assert "1380000" in " ".join(quarantine["raw_record"].to_list())
    stored = json.dumps(ingest.read_receipt(key, identity="hotline"), ensure_ascii=False)
    assert "13800001234" not in stored and "1380000" not in stored


def test_unknown_dataset_and_bad_key_get_receipts(lake_root, unique):
    bad = ingest.process(submit(f"hotline/nosuch/2026-03-05/{unique}.csv", b"a,b\n1,2\n"), run_id="t")
    assert bad.status == "rejected" and "hotline.nosuch" in bad.reason
    assert ingest.read_receipt(f"hotline/nosuch/2026-03-05/{unique}.csv", identity="hotline")["status"] == "rejected"
    bad_date = ingest.process(submit(f"hotline/tickets/2026-13-45/{unique}.csv", b"x"), run_id="t")
    assert bad_date.status == "rejected" and "2026-13-45" in bad_date.reason


def test_archive_keeps_the_accepted_bytes(lake_root, unique, s3_client):
    data = csv_bytes([ticket(1)], "gbk")
    receipt = submit_and_ingest(f"hotline/tickets/2026-03-05/arch-{unique}.csv", data)
    bucket, key = lake.object_location(f"archive/hotline/tickets/2026-03-05/{receipt.file_sha256}/arch-{unique}.csv")
    assert key.startswith(lake_root.removeprefix(f"s3://{bucket}/"))
    assert s3_client().get_object(Bucket=bucket, Key=key)["Body"].read() == data


def test_stage_timings_are_per_batch(lake_root, unique):
    """Each batch returns the timings of its own stages (Dagster metadata and bench read them)."""
    obj = submit(
        f"hotline/tickets/2026-03-05/timings-{unique}.csv", csv_bytes([ticket(1, 诉求内容=f"计时 {unique}")], "utf-8")
    )
    result = ingest.process_batch([obj], run_id="timings")
    assert not result.errors and result.receipts[0].status == "accepted"
    timings = result.timings
    assert {"download", "parse", "validate", "delta_write", "ledger", "registry", "receipts"} <= set(timings.seconds)
    assert set(timings.peak_rss_mb()) <= set(timings.seconds)


def test_stage_profilers_are_independent():
    with ingest.StageProfiler() as a, ingest.StageProfiler() as b:
        with a.stage("parse"):
            time.sleep(0.12)
        with b.stage("validate"):
            pass
    assert set(a.timings().seconds) == {"parse"} and a.timings().rounded_seconds()["parse"] >= 0.1
    assert a.timings().peak_rss_mb()["parse"] > 0
    assert set(b.timings().seconds) == {"validate"}
