"""SIGKILL at each crash point, then recovery, converges to the state of a clean run.

Every ingestion point is exercised in a real subprocess killed by the kernel; the
recovery is the rerun that the sensor's retry would do. The end state (raw and quarantine
Delta rows, registry, ledger, receipts, archive) must equal that of a run that never
crashed, in a separate lake root.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import polars as pl
import pytest
from dagster import DagsterInstance, build_sensor_context

from pipelines import faults, ingest, lake, ledger, publish, s3, sensors, settings
from pipelines.contracts import all_contracts
from tests.helpers import csv_bytes, submit, ticket

CONTRACT = all_contracts()["hotline.tickets"]
INGEST_POINTS = [p for p in faults.POINTS if "publish" not in p]
VOLATILE = {"processed_at", "run_id", "raw_table_version", "_ingested_at", "_run_id", "_uploaded_at", "ledger_hash"}
# differ between the reference and the test (versions, times, keys); ledger.verify() checks them instead
LEDGER_VOLATILE = {"delta_version", "quarantine_version", "rows_digest", "quarantine_digest"}


def _files(unique: str) -> list[tuple[str, bytes]]:
    a = csv_bytes([ticket(1), ticket(2)], "gbk")
    b = csv_bytes([ticket(3), ticket(4, 所属区县="999999"), ticket(5, 联系电话="123"), ticket(3, 满意度="满意")], "gbk")
    return [(f"hotline/tickets/2026-03-05/{unique}-a.csv", a), (f"hotline/tickets/2026-03-06/{unique}-b.csv", b)]


def _run_in_subprocess(obj: ingest.LandingObject, crash_at: str) -> int:
    code = (
        "import sys; from pipelines import ingest; "
        f"ingest.process(ingest.LandingObject({obj.key!r}, {obj.etag!r}), run_id='crashing')"
    )
    env = {**os.environ, "SHUZHONG_CRASH_AT": crash_at}
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=settings.REPO_ROOT, timeout=120).returncode


def _state(keys: list[str]) -> dict:
    def rows(uri):
        frame = lake.read_table(uri)
        frame = frame.filter(pl.col("_source_key").is_in(keys)).drop([c for c in frame.columns if c in VOLATILE])
        return sorted(json.dumps(r, default=str, ensure_ascii=False, sort_keys=True) for r in frame.to_dicts())

    registry = lake.registry().filter(pl.col("source_key").is_in(keys))
    receipts = {}
    for key in keys:
        r = ingest.read_receipt(key)
        receipts[key] = {k: v for k, v in r.items() if k not in VOLATILE}
        bucket = settings.buckets().receipts
        txt = s3.client().get_object(Bucket=bucket, Key=f"{key}.receipt.txt")["Body"].read().decode()
        receipts[key]["txt"] = "\n".join(line for line in txt.splitlines() if not line.startswith("处理时间"))
    return {
        "raw": rows(lake.raw_uri(CONTRACT)),
        "quarantine": rows(lake.quarantine_uri(CONTRACT)),
        "registry": sorted(
            tuple(r[c] for c in ("source_key", "source_etag", "file_sha256", "status", "rows_accepted",
                                 "rows_quarantined"))
            for r in registry.to_dicts()
        ),
        "ledger": [(e["seq"], e["kind"], json.dumps({k: v for k, v in e["payload"].items() if k not in LEDGER_VOLATILE},
                                                     sort_keys=True)) for e in ledger.read_entries()],
        "ledger_problems": [str(p) for p in ledger.verify()],
        "receipts": receipts,
    }


@pytest.fixture(scope="module")
def clean_state(s3_env, tmp_path_factory):
    """The reference: both files ingested without a crash, in their own lake root."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHUZHONG_LAKE_URI", f"s3://{settings.buckets().lake}/t-ref")
        files = _files("ref")
        for key, data in files:
            ingest.process(submit(key, data), run_id="clean")
        return _state([k for k, _ in files])


def _normalise(state: dict, unique: str) -> str:
    return json.dumps(state, ensure_ascii=False, sort_keys=True).replace(unique, "ref")


@pytest.mark.parametrize("point", INGEST_POINTS)
def test_sigkill_then_recovery_converges_to_a_clean_run(point, clean_state, lake_root, unique):
    (key_a, a), (key_b, b) = _files(unique)
    ingest.process(submit(key_a, a), run_id="first")
    obj = submit(key_b, b)
    assert _run_in_subprocess(obj, point) == -signal.SIGKILL
    ledger.forget_cache()
    recovered = ingest.process(obj, run_id="recovery")  # what the run retry / sensor rerun does
    assert recovered.status == "accepted"
    state = _state([key_a, key_b])
    assert state["ledger_problems"] == []
    assert _normalise(state, unique) == _normalise(clean_state, "ref")


def test_crash_during_publish_keeps_the_previous_warehouse(tmp_path, monkeypatch):
    import duckdb

    work = tmp_path / "work.duckdb"
    con = duckdb.connect(str(work))
    con.execute("CREATE TABLE main.kpi_demo AS SELECT 1 AS v")
    con.close()
    manifest = tmp_path / "manifest.json"
    node = {"resource_type": "model", "original_file_path": "models/marts/kpi_demo.sql", "name": "kpi_demo",
            "schema": "main", "description": "demo", "columns": {}}
    manifest.write_text(json.dumps({"nodes": {"model.x.kpi_demo": node}}))
    target = tmp_path / "published" / "warehouse.duckdb"
    monkeypatch.setenv("SHUZHONG_PUBLISHED_URI", str(tmp_path / "published_delta"))
    publish.publish(manifest, work, target)
    code = (f"from pipelines import publish; from pathlib import Path; "
            f"publish.publish(Path({str(manifest)!r}), Path({str(work)!r}), Path({str(target)!r}))")
    for point in ("before_publish_swap", "after_publish_swap"):
        env = {**os.environ, "SHUZHONG_CRASH_AT": point, "SHUZHONG_PUBLISHED_URI": str(tmp_path / "published_delta")}
        rc = subprocess.run([sys.executable, "-c", code], env=env, cwd=settings.REPO_ROOT, timeout=120).returncode
        assert rc == -signal.SIGKILL
        # readers always find a complete warehouse: the old one before the swap, the new one after
        con = duckdb.connect(str(target), read_only=True)
        assert con.execute("SELECT v FROM kpi_demo").fetchall() == [(1,)]
        con.close()
    publish.publish(manifest, work, target)  # the rerun cleans up what the crash left
    assert [p.name for p in target.parent.iterdir()] == ["warehouse.duckdb"]


def test_sensor_crash_before_cursor_save_repeats_no_run(lake_root, unique):
    """A tick whose cursor was never saved is evaluated again: same run keys, so Dagster skips them."""
    submit(f"hotline/tickets/2026-03-05/{unique}-s1.csv", csv_bytes([ticket(1)]))
    submit(f"hotline/tickets/2026-03-05/{unique}-s2.csv", csv_bytes([ticket(2)]))
    instance = DagsterInstance.ephemeral()
    first = sensors.landing_sensor(build_sensor_context(instance=instance, cursor=None))
    again = sensors.landing_sensor(build_sensor_context(instance=instance, cursor=None))  # cursor lost
    keys = lambda result: sorted(r.run_key for r in result.run_requests)  # noqa: E731
    assert keys(first) == keys(again) and keys(first)
    mine = [o for r in first.run_requests for o in next(iter(r.run_config["ops"].values()))["config"]["objects"]
            if unique in o["key"]]
    assert len(mine) == 2
    later = sensors.landing_sensor(build_sensor_context(instance=instance, cursor=first.cursor))
    assert not getattr(later, "run_requests", None)  # with the saved cursor: nothing new
