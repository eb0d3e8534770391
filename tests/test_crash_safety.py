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

from pipelines import faults, ingest, lake, ledger, publish, s3, settings
from pipelines.contracts import all_contracts
from pipelines.defs.ingestion import sensors
from tests.helpers import csv_bytes, submit, ticket

CONTRACT = all_contracts()["hotline.tickets"]
INGEST_POINTS = [p for p in faults.POINTS if "publish" not in p]
VOLATILE = {
    "processed_at",
    "run_id",
    "raw_table_version",
    "_ingested_at",
    "_run_id",
    "_uploaded_at",
    "uploaded_at",
    "first_submitted_at",
    "ledger_hash",
}
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
            tuple(
                r[c]
                for c in ("source_key", "source_etag", "file_sha256", "status", "rows_accepted", "rows_quarantined")
            )
            for r in registry.to_dicts()
        ),
        "ledger": [
            (
                e["seq"],
                e["kind"],
                json.dumps({k: v for k, v in e["payload"].items() if k not in LEDGER_VOLATILE}, sort_keys=True),
            )
            for e in ledger.read_entries()
        ],
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


PUBLISH_POINTS = [p for p in faults.POINTS if "publish" in p]
# What readers must find after a crash at each point: the previous publish or the new one, whole.
AFTER_CRASH = {"before_publish_swap": "old", "after_publish_swap": "new"}


def _write_work_db(work, version: str) -> None:
    """The working tables of one publish: ``old`` or ``new`` (other values, one more row)."""
    import duckdb

    n = 1 if version == "old" else 2
    with duckdb.connect(str(work)) as con:
        con.execute(
            "CREATE OR REPLACE TABLE main.kpi_demo AS SELECT i AS v, ? AS version FROM range(?) t(i)", [version, n]
        )
        con.execute(
            "CREATE OR REPLACE TABLE main.fct_demo_tickets AS SELECT 'T' || i AS ticket_id, ? AS version "
            "FROM range(?) t(i)",
            [version, n + 1],
        )


def _warehouse(target) -> dict[str, dict[str, list]]:
    """Every published file (main and conditional) → table → sorted rows."""
    import duckdb

    out = {}
    for key, path in publish.published_files(target).items():
        with duckdb.connect(str(path), read_only=True) as con:
            tables = [
                r[0]
                for r in con.execute(
                    "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' ORDER BY 1"
                ).fetchall()
            ]
            out[key] = {t: sorted(con.execute(f'SELECT * FROM main."{t}"').fetchall()) for t in tables}
    return out


@pytest.mark.dbt
@pytest.mark.parametrize("point", PUBLISH_POINTS)
def test_crash_during_publish_leaves_the_old_or_the_new_warehouse_whole(point, tmp_path, monkeypatch):
    """SIGKILL at each publish point: every published file (main and conditional) is still the old
    publish, or every one is the new; the rerun leaves the whole new warehouse and no temp files."""
    import duckdb

    work = tmp_path / "work.duckdb"
    manifest = tmp_path / "manifest.json"

    def node(name: str, meta: dict) -> dict:
        return {
            "resource_type": "model",
            "original_file_path": f"models/marts/{name}.sql",
            "name": name,
            "schema": "main",
            "description": "demo",
            "columns": {},
            "meta": meta,
            "config": {"meta": meta},
            "depends_on": {"nodes": []},
        }

    manifest.write_text(
        json.dumps(
            {
                "nodes": {
                    "model.x.kpi_demo": node("kpi_demo", {}),
                    "model.x.fct_demo_tickets": node(
                        "fct_demo_tickets", {"sharing": "conditional", "dataset": "hotline.tickets"}
                    ),
                },
                "sources": {},
            }
        )
    )
    target = tmp_path / "published" / "warehouse.duckdb"
    delta_root = str(tmp_path / "published_delta")  # local: the DuckDB files are what is checked here
    monkeypatch.setenv("SHUZHONG_PUBLISHED_URI", delta_root)

    states = {}
    for version in ("new", "old"):  # what the warehouse holds after each publish, read from the work tables
        _write_work_db(work, version)
        with duckdb.connect(str(work), read_only=True) as con:
            states[version] = {
                file: {t: sorted(con.execute(f"SELECT * FROM main.{t}").fetchall())}
                for file, t in (("unconditional", "kpi_demo"), ("hotline.tickets", "fct_demo_tickets"))
            }
    for key in states["old"]:
        assert states["old"][key] != states["new"][key], key  # each file tells old from new
    publish.publish(manifest, work, target)
    assert _warehouse(target) == states["old"]

    _write_work_db(work, "new")
    code = (
        f"from pipelines import publish; from pathlib import Path; "
        f"publish.publish(Path({str(manifest)!r}), Path({str(work)!r}), Path({str(target)!r}))"
    )
    env = {**os.environ, "SHUZHONG_CRASH_AT": point, "SHUZHONG_PUBLISHED_URI": delta_root}
    rc = subprocess.run([sys.executable, "-c", code], env=env, cwd=settings.REPO_ROOT, timeout=120).returncode
    assert rc == -signal.SIGKILL
    after_crash = _warehouse(target)
    assert after_crash in (states["old"], states["new"]), "a mix of the old and the new publish"
    assert after_crash == states[AFTER_CRASH[point]]

    publish.publish(manifest, work, target)  # the rerun
    assert _warehouse(target) == states["new"]
    left = sorted(str(p.relative_to(target.parent)) for p in target.parent.rglob("*") if p.is_file())
    assert left == ["conditional/hotline.tickets.duckdb", "warehouse.duckdb"]


def test_sensor_crash_before_cursor_save_repeats_no_run(lake_root, unique):
    """A tick whose cursor was never saved is evaluated again: same run keys, so Dagster skips them."""
    submit(f"hotline/tickets/2026-03-05/{unique}-s1.csv", csv_bytes([ticket(1)]))
    submit(f"hotline/tickets/2026-03-05/{unique}-s2.csv", csv_bytes([ticket(2)]))
    instance = DagsterInstance.ephemeral()
    first = sensors.landing_sensor(build_sensor_context(instance=instance, cursor=None))
    again = sensors.landing_sensor(build_sensor_context(instance=instance, cursor=None))  # cursor lost
    keys = lambda result: sorted(r.run_key for r in result.run_requests)  # noqa: E731
    assert keys(first) == keys(again) and keys(first)
    mine = [
        o
        for r in first.run_requests
        for o in next(iter(r.run_config["ops"].values()))["config"]["objects"]
        if unique in o["key"]
    ]
    assert len(mine) == 2
    later = sensors.landing_sensor(build_sensor_context(instance=instance, cursor=first.cursor))
    assert not getattr(later, "run_requests", None)  # with the saved cursor: nothing new
