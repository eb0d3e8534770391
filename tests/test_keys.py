"""Safe landing keys (spec §1, v1.2): unsafe characters rejected, never logged raw; receipts
found again by the exact key the bureau sent."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pipelines import ingest, s3, settings
from pipelines.ingest.keys import log_safe
from tests.helpers import csv_bytes, submit, ticket

UNSAFE = ["\n", "\t", "\x1b", "\x7f", "\x85", "\u2028", "\u2029", "\u202e", "\u200b"]


@pytest.mark.parametrize("ch", UNSAFE, ids=[f"U+{ord(c):04X}" for c in UNSAFE])
def test_keys_with_control_characters_are_rejected_with_a_receipt(lake_root, unique, ch):
    key = f"hotline/tickets/2026-03-05/{unique}{ch}[x].csv"
    logged: list[str] = []
    result = ingest.process_batch(
        [ingest.LandingObject(key=key, etag="e")], "t", {key: csv_bytes([ticket(1)])}, log=logged.append
    )
    receipt = result.receipts[0]
    assert receipt.status == "rejected" and receipt.rule == "key.unsafe_characters"
    assert f"U+{ord(ch):04X}" in receipt.reason
    assert ingest.read_receipt(key)["rule"] == "key.unsafe_characters"
    assert logged and not any(ch in line for line in logged)
    assert ch not in log_safe(key) and ch not in receipt.summary_zh().splitlines()[0]


def test_receipt_of_a_key_with_an_empty_segment_is_found_by_the_exact_key(lake_root, unique):
    key = f"hotline//tickets/2026-03-05/{unique}.csv"
    submitted = submit(key, csv_bytes([ticket(1)]))
    listed = s3.client("pipeline").list_objects_v2(
        Bucket=settings.buckets().landing, Prefix="hotline/tickets/2026-03-05/"
    )["Contents"]
    stored = next(o["Key"] for o in listed if unique in o["Key"])  # the key the sensor will see
    receipt = ingest.process(ingest.LandingObject(key=stored, etag=submitted.etag), run_id="t")
    assert receipt.status == "accepted", receipt.reason
    back = ingest.read_receipt(key, identity="hotline")
    assert back is not None and back["status"] == "accepted"
    out = subprocess.run(
        [sys.executable, "-m", "pipelines.tools.cli", "receipt", "--bureau", "hotline", key],
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["file_sha256"] == back["file_sha256"]


def test_source_file_id_is_the_same_in_python_and_duckdb():
    import duckdb

    from pipelines.ingest.keys import source_file_id

    key = "market/enterprises/2026-03-05/张三_" + "138" + "12345678.csv"
    got = duckdb.execute("SELECT left(sha256(?), 16)", [key]).fetchone()[0]
    assert got == source_file_id(key) and len(got) == 16
