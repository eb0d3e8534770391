"""A corpus of bad input, submitted as one burst with good files: every object gets a clear
receipt, no run fails, nothing partial lands, and the good files are unaffected."""

from __future__ import annotations

import io
import json
import os
import zipfile

import polars as pl
import pytest
from botocore.exceptions import ClientError
from dagster import DagsterInstance

from pipelines import ingest, lake, rules, s3, settings
from pipelines.contracts import all_contracts
from pipelines.definitions import defs
from pipelines.defs.ingestion import sensors
from tests.helpers import HEADER_ZH, csv_bytes, ticket

CONTRACT = all_contracts()["hotline.tickets"]
D = "hotline/tickets/2026-03-05"


def _xlsx(rows: list[list], title: str | None = "枣庄市12345热线工单明细表") -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    if title:
        ws.append([title])
        ws.append([])
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _zip_bomb() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/worksheets/sheet1.xml", b"0" * (600 * 1024 * 1024))
    return buf.getvalue()


def _sparse_xlsx(u: str) -> bytes:
    """Two cells far apart: a few KB that calamine would spread over a 200,000 × 2,000 grid."""
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active["A1"] = u
    wb.active.cell(row=200_000, column=2_000, value="y")
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _good_rows(*ns: int) -> list[dict]:
    return [ticket(n) for n in ns]


def corpus(u: str) -> list[tuple[str, str, bytes, str]]:
    """(kind, key, bytes, expected status)."""
    good = csv_bytes(_good_rows(1, 2))
    utf8_line = ",".join(ticket(3).values()).encode("utf-8")
    gbk_line = ",".join(ticket(4).values()).encode("gbk")
    xlsx_good = _xlsx([HEADER_ZH, list(ticket(5).values()), [], ["合计", "1"], ["制表人：张三"]])
    long_line = b"x" * (50 * 1024 * 1024)
    return [
        ("empty file", f"{D}/{u}-empty.csv", b"", "rejected"),
        ("whitespace only", f"{D}/{u}-blank.csv", b" \r\n \r\n", "rejected"),
        (
            "header only",
            f"{D}/{u}-header.csv",
            csv_bytes([ticket(1)])[: csv_bytes([ticket(1)]).index(b"\r\n")],
            "accepted",
        ),
        ("binary data named .csv", f"{D}/{u}-binary.csv", bytes(range(256)) * 64, "rejected"),
        ("png named .csv", f"{D}/{u}-png.csv", b"\x89PNG\r\n\x1a\n" + os.urandom(2048), "rejected"),
        ("truncated xlsx", f"{D}/{u}-trunc.xlsx", xlsx_good[: len(xlsx_good) // 2], "rejected"),
        ("xlsx zip bomb", f"{D}/{u}-bomb.xlsx", _zip_bomb(), "rejected"),
        ("xlsx with two far-apart cells", f"{D}/{u}-sparse.xlsx", _sparse_xlsx(u), "rejected"),
        ("csv renamed .xlsx", f"{D}/{u}-fake.xlsx", good, "rejected"),
        ("xlsx renamed .csv", f"{D}/{u}-zip.csv", _xlsx([HEADER_ZH, list(ticket(6).values())]), "rejected"),
        ("50 MB single line", f"{D}/{u}-longline.csv", long_line, "rejected"),
        (
            "duplicated header names",
            f"{D}/{u}-duphdr.csv",
            csv_bytes(_good_rows(1), header=HEADER_ZH + ["工单编号"]),
            "rejected",
        ),
        (
            "missing required column",
            f"{D}/{u}-missing.csv",
            csv_bytes(_good_rows(1), header=[h for h in HEADER_ZH if h != "受理时间"]),
            "rejected",
        ),
        ("no recognisable header", f"{D}/{u}-nohdr.csv", b"a,b,c\n1,2,3\n", "rejected"),
        (
            "unknown extra columns (schema drift)",
            f"{D}/{u}-drift.csv",
            csv_bytes([{**ticket(1), "备注": "x", "内部编号": "9"}]),
            "accepted",
        ),
        (
            "SQL-injection header",
            f"{D}/{u}-sqlhdr.csv",
            csv_bytes([{**ticket(1), "x'); DROP TABLE raw; --": "1"}]),
            "accepted",
        ),
        (
            "path-injection header",
            f"{D}/{u}-pathhdr.csv",
            csv_bytes([{**ticket(1), "../../etc/passwd": "1"}]),
            "accepted",
        ),
        ("object key with spaces", f"{D}/{u} with spaces.csv", csv_bytes(_good_rows(11)), "accepted"),
        ("object key with odd unicode", f"{D}/{u}-工单🚀（全角）.csv", csv_bytes(_good_rows(12)), "accepted"),
        ("object key with a bidi override", f"{D}/{u}-\u202e工单.csv", csv_bytes(_good_rows(13)), "rejected"),
        (
            "mixed encodings in one file",
            f"{D}/{u}-mixed.csv",
            ",".join(HEADER_ZH).encode("utf-8") + b"\r\n" + utf8_line + b"\r\n" + gbk_line + b"\r\n",
            "rejected",
        ),
        (
            "rows with the wrong number of fields",
            f"{D}/{u}-ragged.csv",
            csv_bytes(_good_rows(1, 2)) + b"ZZ12345-20260305-000009,2026-03-05\r\n",
            "accepted",
        ),
        (
            "dates out of range",
            f"{D}/{u}-dates.csv",
            csv_bytes([ticket(1, 受理时间="1899-12-31 10:00"), ticket(2, 受理时间="2026-13-01"), ticket(3)]),
            "accepted",
        ),
        ("dataset that does not exist", f"hotline/weather/2026-03-05/{u}.csv", good, "rejected"),
        ("business date that does not exist", f"hotline/tickets/2026-02-30/{u}.csv", good, "rejected"),
        ("key without a date folder", f"hotline/tickets/{u}.csv", good, "rejected"),
        ("unsupported file type", f"{D}/{u}.pdf", b"%PDF-1.4\n", "rejected"),
        ("NUL bytes in text", f"{D}/{u}-nul.csv", good.replace(b"\r\n", b"\x00\r\n", 1), "rejected"),
        (
            "broken JSON Lines",
            f"{D}/{u}-broken.jsonl",
            json.dumps({"ticket_id": "ZZ12345-20260305-000001"}).encode() + b"\n{not json\n",
            "rejected",
        ),
        (
            "unbalanced quotes",
            f"{D}/{u}-quotes.csv",
            csv_bytes(_good_rows(1)) + b'"ZZ12345-20260305-000002,"oops\r\n',
            "accepted",
        ),
        (
            "formula injection in a value",
            f"{D}/{u}-formula.csv",
            csv_bytes([ticket(1, 诉求内容="=cmd|' /C calc'!A0")]),
            "accepted",
        ),
        ("xlsx with title, blank rows and footer", f"{D}/{u}-good.xlsx", xlsx_good, "accepted"),
        ("UTF-16 text", f"{D}/{u}-utf16.csv", csv_bytes(_good_rows(13), encoding="utf-16"), "accepted"),
        ("good GBK file", f"{D}/{u}-good.csv", csv_bytes(_good_rows(21, 22, 23)), "accepted"),
    ]


@pytest.fixture
def burst(lake_root, unique):
    items = corpus(unique)
    assert len(items) >= 32
    client = s3.client("pipeline")  # only the pipeline may write keys outside a bureau's layout
    for _, key, data, _ in items:
        client.put_object(Bucket=settings.buckets().landing, Key=key, Body=data)
    return items


def test_bad_input_corpus_gets_clear_receipts_and_spares_the_good_files(burst, unique):
    objects = [o for o in sensors.list_landing() if unique in o["key"]]
    assert len(objects) == len(burst)
    requests, _ = sensors.plan_runs(objects, {})
    instance = DagsterInstance.ephemeral()
    for request in requests:  # each planned run, as the daemon would launch it
        result = defs.resolve_job_def(request.job_name).execute_in_process(
            run_config=request.run_config, instance=instance, raise_on_error=False
        )
        assert result.success, request.job_name

    for kind, key, _, expected in burst:
        receipt = ingest.read_receipt(key)
        assert receipt is not None, kind
        assert receipt["status"] == expected, (kind, receipt.get("reason"))
        if expected == "rejected":
            assert receipt["reason"], kind
            assert receipt["rows_accepted"] == 0
            # every rejection names its rule, from the rule catalogue
            assert rules.resolve(receipt["rule"])[0].severity == rules.REJECT, (kind, receipt["rule"])
        assert all(rules.known(r) for r in receipt["rule_counts"]), (kind, receipt["rule_counts"])

    raw = lake.read_table(lake.raw_uri(CONTRACT))
    landed = raw.group_by("_source_key").len()
    counts = dict(zip(landed["_source_key"], landed["len"], strict=True))
    by_kind = {kind: key for kind, key, _, _ in burst}
    for kind, _, _, expected in burst:
        if expected == "rejected":
            assert counts.get(by_kind[kind], 0) == 0, f"{kind}: rows landed from a rejected file"
    assert counts[by_kind["good GBK file"]] == 3
    assert counts[by_kind["xlsx with title, blank rows and footer"]] == 1
    assert counts[by_kind["object key with spaces"]] == 1
    assert counts[by_kind["object key with odd unicode"]] == 1
    assert counts.get(by_kind["header only"], 0) == 0

    drift = ingest.read_receipt(by_kind["unknown extra columns (schema drift)"])
    assert drift["unknown_columns"] == ["备注", "内部编号"] and drift["rows_accepted"] == 1
    ragged = ingest.read_receipt(by_kind["rows with the wrong number of fields"])
    assert [f["rules"] for f in ragged["failures"]] == [["row.field_count"]] and ragged["rows_accepted"] == 2
    dates = ingest.read_receipt(by_kind["dates out of range"])
    assert {f["row_number"]: f["rules"] for f in dates["failures"]} == {
        2: ["received_at.type"],
        3: ["received_at.type"],
    }  # present values: the type rule only (v1.3 §4)
    formula = raw.filter(pl.col("_source_key") == by_kind["formula injection in a value"])
    assert formula["content"].to_list() == ["=cmd|' /C calc'!A0"]  # kept as text, never evaluated
    mixed = ingest.read_receipt(by_kind["mixed encodings in one file"])
    assert "编码" in mixed["reason"]


def test_a_bureau_cannot_submit_under_another_bureau(s3_env, unique):
    with pytest.raises(ClientError) as err:
        s3.client("hotline").put_object(
            Bucket=settings.buckets().landing, Key=f"market/enterprises/2026-03-05/{unique}.csv", Body=b"x"
        )
    assert err.value.response["Error"]["Code"] == "AccessDenied"


def test_object_keys_with_dot_segments_are_refused(lake_root, unique):
    key = f"hotline/tickets/../{unique}-dots.csv"
    with pytest.raises(ClientError) as err:  # the S3 server refuses the key outright ...
        s3.client("hotline").put_object(Bucket=settings.buckets().landing, Key=key, Body=b"x")
    assert err.value.response["Error"]["Code"] == "InvalidRequest"
    # ... and a store that accepted it would still get a rejection receipt, never a write outside the layout
    receipt = ingest.process(ingest.LandingObject(key=key, etag="e"), run_id="t", data=b"x")
    assert receipt.status == "rejected" and "路径" in receipt.reason
    assert receipt.receipt_key.startswith("hotline/_rejected/")
