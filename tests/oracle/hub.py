"""One built hub from a seeded scenario, shared by the oracle and the browser tests.

:func:`build` submits a :mod:`tests.oracle.scenarios` scenario to the real landing bucket (each
bureau with its own credentials, upload times as the sensor would pass them), ingests it with the
real ingestion, builds it with ``dbt build`` and publishes it, then writes the duty reminders: what
a day of the hub leaves behind. It runs once per test worker and seed (``conftest.scenario_hub``);
each test module applies :attr:`Hub.env` for its own lifetime.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipelines import alerts, deadlines, ingest, lake, publish, s3, settings, workdays
from tests.helpers import submit
from tests.oracle.kpis import is_workday
from tests.oracle.scenarios import Scenario, Submission, generate


@dataclass(frozen=True)
class Hub:
    scenario: Scenario
    env: dict[str, str]  # the lake, work database and published locations of this hub
    manifest: Path
    reminders: list[Any]
    tmp: Path


def ingest_scenario(sc: Scenario) -> None:
    """Upload and ingest in rounds: a round never holds two versions of one key, nor a file and its copy."""
    rounds: list[list[Submission]] = [[]]
    keys: set[str] = set()
    shas: set[bytes] = set()
    for s in sc.submissions:
        if s.key in keys or (s.data and s.data in shas):
            rounds.append([])
            keys, shas = set(), set()
        rounds[-1].append(s)
        keys.add(s.key)
        shas.add(s.data)
    for i, batch in enumerate(rounds):
        by_ds: dict[str, list[ingest.LandingObject]] = {}
        for s in batch:
            obj = submit(s.key, s.data, identity=s.key.split("/")[0])
            by_ds.setdefault(s.dataset, []).append(
                ingest.LandingObject(obj.key, obj.etag, obj.size, last_modified=s.uploaded_at)
            )
        for ds, objs in by_ds.items():
            ingest.process_batch(objs, run_id=f"oracle-{i}-{ds}")


def dbt_build(tmp: Path, report_at: str) -> Path:
    """``dbt build`` of the project (``--vars report_at``) into ``tmp/target``; returns the manifest."""
    env = dict(
        os.environ,
        DBT_TARGET_PATH=str(tmp / "target"),
        DBT_LOG_PATH=str(tmp / "logs"),
        DBT_SEND_ANONYMOUS_USAGE_STATS="False",
        PYTHONPATH=os.pathsep.join(filter(None, [str(settings.REPO_ROOT), os.environ.get("PYTHONPATH")])),
    )
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            "build",
            "--exclude-resource-type",
            "unit_test",
            "--profiles-dir",
            ".",
            "--vars",
            f"{{report_at: '{report_at}'}}",
        ],
        cwd=settings.DBT_PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    return tmp / "target" / "manifest.json"


def build(seed: int, tmp: Path) -> Hub:
    """Submit, ingest, build, publish and remind for the scenario of ``seed`` (about 2 minutes)."""
    buckets = settings.buckets()
    env = {
        "SHUZHONG_LAKE_URI": f"s3://{buckets.lake}/scenario-{seed}-{tmp.name}",
        "SHUZHONG_WORK_DB": str(tmp / "work.duckdb"),
        "SHUZHONG_PUBLISHED_DB": str(tmp / "published" / "warehouse.duckdb"),
        "SHUZHONG_PUBLISHED_URI": f"s3://{buckets.published}/scenario-{seed}-{tmp.name}",
        "SHUZHONG_DBT_MANIFEST": str(tmp / "target" / "manifest.json"),
    }
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        # The session's receipts bucket is shared by every test's lake root: clear what earlier tests
        # left, so that the portal (which reads receipts) and this hub's registry see the same files.
        client = s3.client("pipeline")
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=buckets.receipts):
            for o in page.get("Contents", []):
                client.delete_object(Bucket=buckets.receipts, Key=o["Key"])
        sc = generate(seed, f"o{seed}", workday=is_workday)
        ingest_scenario(sc)
        lake.ensure_raw_tables()
        manifest = dbt_build(tmp, sc.report_at.isoformat(sep=" "))
        publish.publish(manifest)
        as_of = sc.report_at.replace(tzinfo=workdays.TZ)
        reminders = alerts.reminders_for(deadlines.evaluate_all(as_of).values())
        alerts.write_reminders(reminders, detected_at=as_of)
    return Hub(scenario=sc, env=env, manifest=manifest, reminders=reminders, tmp=tmp)
