"""End to end through the real Dagster daemon: landing sensor → ingestion runs → dbt → publish.

The daemon is SIGKILLed between two batches of submissions (one object submitted while it
is down, one key corrected with new bytes): after a restart every object version is
ingested exactly once and nothing is missed.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from pathlib import Path

import duckdb
import polars as pl
from dagster import DagsterInstance, RunsFilter

from pipelines import ingest, lake, publish
from pipelines.contracts import all_contracts
from pipelines.defs.operations import status
from pipelines.tools import dagster_home
from tests.daemon_common import wait_for
from tests.helpers import csv_bytes, submit, ticket

CONTRACT = all_contracts()["hotline.tickets"]
TIMEOUT = 600  # a full dbt build under load takes minutes; waits end as soon as the condition holds


def test_sensor_misses_nothing_and_repeats_nothing_across_daemon_restart(daemon_home, unique):
    home, procs = daemon_home
    instance = DagsterInstance.get()
    versions: dict[str, str] = {}  # key → etag of every version we submit, in order
    all_versions: list[tuple[str, str]] = []

    def put(day: int, name: str, tickets: list[int]) -> str:
        key = f"hotline/tickets/2026-03-{day:02d}/{unique}-{name}.csv"
        obj = submit(key, csv_bytes([ticket(n) for n in tickets], "gbk"))
        versions[key] = obj.etag
        all_versions.append((key, obj.etag))
        return key

    put(1, "a", [1, 2])
    put(1, "b", [3])
    put(2, "c", [4, 5, 6])
    procs.append(dagster_home.start_daemon(home))
    wait_for(lambda: not status.missing_receipts(versions), "the first three receipts", home)

    os.kill(procs[-1].pid, signal.SIGKILL)  # the daemon crashes; run workers already launched live on
    procs[-1].wait()
    put(3, "d", [7])  # arrives while the daemon is down
    corrected = put(1, "a", [1, 8, 9])  # a correction: same key, new bytes

    procs.append(dagster_home.start_daemon(home))
    wait_for(lambda: not status.missing_receipts(versions), "receipts of every object version", home)
    wait_for(
        lambda: status.active_runs(instance) == 0 and status.published_up_to_date(instance),
        "ingestion, dbt and publish to finish",
        home,
    )

    # Each object version was handed to exactly one ingestion run.
    handed = Counter()
    for run in instance.get_runs(RunsFilter(job_name="ingest_hotline__tickets")):
        for obj in run.run_config["ops"]["raw__hotline__tickets"]["config"]["objects"]:
            if unique in obj["key"]:
                handed[(obj["key"], obj["etag"])] += 1
    assert sorted(handed) == sorted(all_versions)
    assert set(handed.values()) == {1}

    # The registry holds each version once; the raw table holds only the latest version of each key.
    registry = lake.registry().filter(pl.col("source_key").str.contains(unique))
    assert registry.group_by("source_key", "source_etag").len()["len"].to_list() == [1] * len(all_versions)
    raw = lake.read_table(lake.raw_uri(CONTRACT)).filter(pl.col("_source_key").str.contains(unique))
    assert raw.height == 2 + 1 + 3 + 1 - 2 + 3  # a's first version (2 rows) replaced by 3 rows
    assert raw.filter(pl.col("_source_key") == corrected)["ticket_id"].to_list() == [
        "ZZ12345-20260305-000001",
        "ZZ12345-20260305-000008",
        "ZZ12345-20260305-000009",
    ]
    assert raw.select("_source_key", "_row_number").is_duplicated().sum() == 0
    assert ingest.read_receipt(corrected)["replaces_etag"] == all_versions[0][1]

    # dbt ran in the same asset graph and the analysts' warehouse was published.
    con = duckdb.connect(str(publish.conditional_db_path("hotline.tickets")), read_only=True)  # a conditional dataset
    ids = {r[0] for r in con.execute("SELECT ticket_id FROM fct_hotline_tickets").fetchall()}
    con.close()
    assert {f"ZZ12345-20260305-{n:06d}" for n in (1, 3, 4, 5, 6, 7, 8, 9)} <= ids

    # What the daemon's runs wrote stays private: folders 0700, files 0600 (umask 077), and the
    # published warehouse files read-only for their owner (0400).
    published = set(publish.published_files().values())
    assert published and {p.stat().st_mode & 0o777 for p in published} == {0o400}
    state = [home, Path(os.environ["SHUZHONG_WORK_DB"]).parent, Path(os.environ["SHUZHONG_PUBLISHED_DB"]).parent]
    checked = 0
    for path in [p for root in state for p in [root, *root.rglob("*")] if not p.is_symlink() and p not in published]:
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:  # the daemon still runs: SQLite's -wal/-shm files come and go
            assert path.name.endswith(("-wal", "-shm", "-journal")), path
            continue
        checked += 1
        assert (mode == 0o700) if path.is_dir() else (mode & 0o077 == 0), f"{path}: {oct(mode)}"
    assert checked > 10
