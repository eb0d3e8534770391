"""Reprocessing archived files against the current contract (issue 15.3), on the real S3 server,
real Delta tables and the real GX suite: a loosened rule lets previously quarantined rows in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import yaml
from dagster import DagsterInstance
from dagster._core.instance.ref import InstanceRef

from pipelines import contracts, lake, ledger, parsing, s3, settings, validation
from pipelines.contracts import all_contracts, load_contract
from pipelines.defs.operations.reprocess import reprocess_archive
from pipelines.ingest import read_receipt, receipt_key_for
from tests.helpers import csv_bytes, submit_and_ingest, ticket

CONTRACT = all_contracts()["hotline.tickets"]
NEW_CHANNEL = "小程序"


def loosen_contract(tmp_path, monkeypatch):
    """Make contract 1.1.0 of hotline.tickets current, as a new contract file would: channel accepts
    小程序. Loaded from a modified copy of the YAML; its GX suite generated from it (`shuzhong generate`)."""
    doc = yaml.safe_load(CONTRACT.path.read_text(encoding="utf-8"))
    doc["version"] = "1.1.0"
    for prop in doc["schema"][0]["properties"]:
        if prop["name"] == "channel":
            prop["quality"][0]["arguments"]["validValues"].append(NEW_CHANNEL)
    path = tmp_path / "hotline" / "tickets.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    new = load_contract(path)
    assert new.version == "1.1.0"
    current = {**all_contracts(), new.key: new}
    monkeypatch.setattr(contracts, "all_contracts", lambda root=None: current)
    monkeypatch.setattr("pipelines.ingest.orchestrate.get_contract", contracts.get_contract)
    real_load_suite = validation.load_suite
    monkeypatch.setattr(
        validation,
        "load_suite",
        lambda c: validation.suite_from_contract(c) if c.version == "1.1.0" else real_load_suite(c),
    )
    return new


def raw_rows(key: str) -> pl.DataFrame:
    frame = lake.read_table(lake.raw_uri(CONTRACT))
    return frame.filter(pl.col("_source_key") == key).sort("_row_number")


def quarantined(key: str) -> pl.DataFrame:
    frame = lake.read_table(lake.quarantine_uri(CONTRACT))
    return frame.filter(pl.col("_source_key") == key).sort("_row_number")


def run_reprocess(partition: str, **config):
    instance = DagsterInstance.ephemeral()
    result = reprocess_archive.execute_in_process(
        partition_key=partition,
        instance=instance,
        run_config={"ops": {"reprocess_archived_files": {"config": {"datasets": ["hotline.tickets"], **config}}}},
    )
    messages = [e.message for e in instance.all_logs(result.run_id)]
    return result, messages


def test_reprocess_lets_rows_in_under_a_loosened_contract(lake_root, unique, monkeypatch, tmp_path):
    rows = [
        ticket(1),
        ticket(2, 来源渠道=NEW_CHANNEL),
        ticket(3, 来源渠道=NEW_CHANNEL),
        ticket(4),
        ticket(1, 诉求内容="更正后的内容"),
    ]  # the last row supersedes row 1 (same ticket id)
    key = f"hotline/tickets/2026-03-05/reproc-{unique}.csv"
    other = f"hotline/tickets/2026-03-06/reproc-{unique}.csv"  # outside the reprocessed range
    first = submit_and_ingest(key, csv_bytes(rows))
    untouched = submit_and_ingest(other, csv_bytes([ticket(1), ticket(2, 来源渠道=NEW_CHANNEL)]))
    assert (first.rows_received, first.rows_accepted, first.rows_quarantined, first.rows_superseded) == (5, 2, 2, 1)
    assert first.contract_version == CONTRACT.version and not first.reprocessed
    other_receipt_before = read_receipt(other)
    other_rows_before = raw_rows(other).drop("_ingested_at")

    # The contract changes (1.1.0 accepts 小程序): reprocess 2026-03-05, deleting the landing
    # object first (the bureau may have): the archive copy is what is read.
    loosen_contract(tmp_path, monkeypatch)
    s3.client("pipeline").delete_object(Bucket=settings.buckets().landing, Key=key)
    result, messages = run_reprocess("2026-03-05", reason="测试：来源渠道新增小程序")
    assert result.success

    landed = raw_rows(key)
    assert landed.height == 4  # received 5 = accepted 4 + quarantined 0 + superseded 1
    assert sorted(landed["channel"].to_list()) == sorted(["电话", NEW_CHANNEL, NEW_CHANNEL, "电话"])
    assert set(landed["_contract_version"].to_list()) == {"1.1.0"}
    assert quarantined(key).height == 0
    assert landed.filter(pl.col("ticket_id").str.ends_with("000001"))["content"].to_list() == ["更正后的内容"]

    receipt = read_receipt(key)
    assert receipt["reprocessed"] is True and receipt["contract_version"] == "1.1.0"
    assert receipt["reprocess_reason"] == "测试：来源渠道新增小程序"
    assert (
        receipt["rows_received"],
        receipt["rows_accepted"],
        receipt["rows_quarantined"],
        receipt["rows_superseded"],
    ) == (5, 4, 0, 1)
    assert (
        receipt["rows_received"] == receipt["rows_accepted"] + receipt["rows_quarantined"] + receipt["rows_superseded"]
    )
    assert receipt["reprocess_of"]["contract_version"] == CONTRACT.version
    assert (receipt["reprocess_of"]["rows_accepted"], receipt["reprocess_of"]["rows_quarantined"]) == (2, 2)
    assert receipt["etag"] == first.etag and receipt["file_sha256"] == first.file_sha256
    summary = (
        s3.client("pipeline")
        .get_object(Bucket=settings.buckets().receipts, Key=receipt_key_for(key).removesuffix(".json") + ".txt")["Body"]
        .read()
    )
    assert "重新处理" in summary.decode() and "1.1.0" in summary.decode()

    entries = ledger.read_entries()
    reprocess_entries = [e for e in entries if e["kind"] == "reprocess"]
    assert len(reprocess_entries) == 1
    payload = reprocess_entries[0]["payload"]
    assert payload["source_key"] == key and payload["contract_version"] == "1.1.0" and payload["reprocessed"]
    assert (payload["rows_accepted"], payload["rows_quarantined"]) == (4, 0)
    assert receipt["ledger_seq"] == reprocess_entries[0]["seq"]
    assert ledger.verify() == []

    registry = lake.registry().filter(pl.col("source_key") == key)
    assert sorted(registry["status"].to_list()) == ["accepted", "reprocessed"]
    assert registry.filter(pl.col("status") == "reprocessed")["rows_accepted"].to_list() == [4]

    # The other business date is untouched: rows, quarantine and receipt.
    assert raw_rows(other).drop("_ingested_at").equals(other_rows_before)
    assert quarantined(other).height == 1
    assert read_receipt(other) == other_receipt_before and not untouched.reprocessed

    # The raw asset reports a materialization, so the transform sensor picks the change up.
    assert any("reprocessed against 1.1.0" in m for m in messages)
    mats = [e for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"]
    assert [m.asset_key.path for m in mats] == [["raw", "hotline", "tickets"]]

    # Reprocessing again (same contract) is a new, verified entry; the rows stay the same.
    again, _ = run_reprocess("2026-03-05")
    assert again.success
    assert raw_rows(key).height == 4
    assert len([e for e in ledger.read_entries() if e["kind"] == "reprocess"]) == 2
    assert ledger.verify() == []


def test_reprocess_of_a_date_without_archived_files_is_a_no_op(lake_root, unique):
    result, messages = run_reprocess("2026-02-01")
    assert result.success
    assert any("no archived accepted file, nothing to reprocess" in m for m in messages)
    assert not [e for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"]
    assert json.dumps(ledger.read_entries()) == "[]"


def test_a_file_the_current_contract_cannot_read_keeps_its_rows(lake_root, unique, monkeypatch):
    key = f"hotline/tickets/2026-03-07/kept-{unique}.csv"
    first = submit_and_ingest(key, csv_bytes([ticket(1), ticket(2)]))
    rows_before = raw_rows(key).drop("_ingested_at")
    receipt_before = read_receipt(key)
    entries_before = len(ledger.read_entries())

    def unreadable(*args, **kwargs):
        raise parsing.UnreadableFile("缺少必填列 / a required column is missing")

    monkeypatch.setattr(parsing, "parse_file", unreadable)
    result, messages = run_reprocess("2026-03-07")
    assert result.success
    assert any("unreadable under the current contract, rows kept" in m for m in messages)
    assert raw_rows(key).drop("_ingested_at").equals(rows_before) and first.rows_accepted == 2
    assert read_receipt(key) == receipt_before
    assert len(ledger.read_entries()) == entries_before
    assert lake.registry().filter(pl.col("source_key") == key)["status"].to_list() == ["accepted"]
    assert not [e for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"]


def test_cli_backfill_reprocesses_each_business_date_of_a_range(lake_root, unique, tmp_path):
    """`dagster job backfill` over a date range: one run per business date (runs launched
    directly: a DAGSTER_HOME with Dagster's default run coordinator, no daemon)."""
    keys = {day: f"hotline/tickets/2026-03-{day:02d}/cli-{unique}.csv" for day in (5, 6, 7)}
    for day, key in keys.items():  # different bytes per day (identical ones would be duplicates)
        submit_and_ingest(key, csv_bytes([ticket(day * 10), ticket(day * 10 + 1, 来源渠道=NEW_CHANNEL)]))
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\nrun_coordinator:\n  module: dagster.core.run_coordinator\n"
        "  class: DefaultRunCoordinator\n"
    )
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    out = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "job",
            "backfill",
            "-m",
            "pipelines.definitions",
            "-j",
            "reprocess_archive",
            "--from",
            "2026-03-05",
            "--to",
            "2026-03-06",
            "--noprompt",
        ],
        cwd=settings.REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        runs = instance.get_runs()
        if len(runs) == 2 and all(r.is_finished for r in runs):
            break
        time.sleep(3)
    assert sorted((r.tags["dagster/partition"], r.status.value) for r in runs) == [
        ("2026-03-05", "SUCCESS"),
        ("2026-03-06", "SUCCESS"),
    ]
    logs = [e.message for r in runs for e in instance.all_logs(r.run_id)]
    assert any("1 file(s) reprocessed" in m for m in logs), [m for m in logs if "hotline" in m or "lake" in m]
    for day in (5, 6):
        receipt = read_receipt(keys[day])
        assert receipt["reprocessed"] is True
        assert (receipt["rows_received"], receipt["rows_accepted"], receipt["rows_quarantined"]) == (2, 1, 1)
    assert read_receipt(keys[7])["reprocessed"] is False  # outside the range
    ledger.forget_cache()
    assert len([e for e in ledger.read_entries() if e["kind"] == "reprocess"]) == 2
    assert ledger.verify() == []
