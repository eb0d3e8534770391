"""The README's "Add a dataset" walkthrough, step by step, in a copy of the project.

The copy (``data_contracts/``, ``dbt_project/``, ``expectations/``) is the project folder of
every command here (``SHUZHONG_PROJECT_DIR``); the checkout is not changed. A new dataset of an
existing bureau (its S3 identity exists) gets a contract and a staging model, nothing else: no
Python. Its export goes into the landing bucket as the bureau, the landing sensor plans the
run of the ingestion job the contract created, the rows land in the Delta raw table (the bad
ones quarantined), and a real ``dbt build`` of the staging model (with its source's generated tests) shows them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines import lake, s3, settings
from pipelines.contracts import load_contract
from pipelines.dbt_plugin import configure_lake
from pipelines.defs.ingestion import sensors
from tests.helpers import submit

pytestmark = pytest.mark.dbt

CONTRACT = """\
apiVersion: v3.1.0
kind: DataContract
id: urn:zaozhuang:datahub:ecology:water_quality
name: ecology.water_quality
version: 1.0.0
status: active
domain: ecology
dataProduct: water_quality
description:
  purpose: 水质自动监测 — hourly readings of the automatic water-quality stations.
customProperties:
  - property: bureau
    value: ecology
  - property: sharing
    value: unconditional
  - property: cadence
    value: hourly
  - property: deadline
    value: {day_offset: 1, time: "02:00", timezone: Asia/Shanghai}
  - property: updateMode
    value: append
schema:
  - name: water_quality
    physicalName: ecology__water_quality
    businessName: 水质自动监测
    logicalType: object
    properties:
      - name: station_code
        businessName: 站点编码
        logicalType: string
        required: true
        primaryKey: true
        primaryKeyPosition: 1
        classification: public
      - name: observed_at
        businessName: 监测时间
        logicalType: timestamp
        required: true
        primaryKey: true
        primaryKeyPosition: 2
        classification: public
        quality:
          - {type: custom, engine: shuzhong, implementation: {rule: aligned, minutes: 60}}
      - name: ph
        businessName: pH
        logicalType: number
        required: true
        classification: public
        logicalTypeOptions: {minimum: 0, maximum: 14}
      - name: dissolved_oxygen
        businessName: 溶解氧
        logicalType: number
        classification: public
        logicalTypeOptions: {minimum: 0}
"""

STAGING_SQL = """\
-- 水质自动监测 from the raw zone, one row per file row.
with source as (

    select * from {{ source('raw', 'ecology__water_quality') }}

),

renamed as (

    select
        station_code,
        observed_at,
        ph,
        dissolved_oxygen as dissolved_oxygen_mg_l,

        -- lineage
        {{ lineage_columns() }}

    from source

)

select * from renamed
"""

STAGING_YML = """\
version: 2
models:
- name: stg_ecology__water_quality
  description: 水质自动监测, one row per row of an accepted file.
  config:
    meta:
      sharing: unconditional
      bureau: ecology
  columns:
  - name: station_code
    description: 站点编码
    data_tests:
    - not_null
  - name: observed_at
    description: 监测时间 (Asia/Shanghai wall time)
    data_tests:
    - not_null
"""

# The export: rows 4 (pH 15.2) and 5 (10:30, not on the hour) break the contract's rules.
EXPORT = (
    "站点编码,监测时间,pH,溶解氧\r\n"
    "WQ-370402-01,2026-03-05 08:00,7.21,8.4\r\n"
    "WQ-370402-01,2026-03-05 09:00,7.30,8.1\r\n"
    "WQ-370403-02,2026-03-05 08:00,6.95,\r\n"
    "WQ-370403-02,2026-03-05 09:00,15.2,7.7\r\n"
    "WQ-370403-02,2026-03-05 10:30,7.02,7.5\r\n"
)
ACCEPTED = [("WQ-370402-01", "2026-03-05 08:00:00", 7.21), ("WQ-370402-01", "2026-03-05 09:00:00", 7.30)]
ACCEPTED.append(("WQ-370403-02", "2026-03-05 08:00:00", 6.95))

# In the copy: the landing sensor's plan for the key, the run of the job it names, the asset graph.
INGEST = """
import json, sys
from dagster import AssetKey, DagsterInstance, build_sensor_context
from pipelines import ingest
from pipelines.definitions import defs
from pipelines.defs.ingestion import sensors

key = sys.argv[1]
with DagsterInstance.ephemeral() as instance:
    tick = sensors.landing_sensor(build_sensor_context(instance=instance))
    (request,) = [
        r for r in tick.run_requests
        if any(o["key"] == key for op in r.run_config["ops"].values() for o in op["config"]["objects"])
    ]
    result = defs.resolve_job_def(request.job_name).execute_in_process(
        run_config=request.run_config, instance=instance, tags=request.tags
    )
model = AssetKey(["stg_ecology__water_quality"])
upstream = {k.to_user_string() for k in defs.resolve_assets_def(model).asset_deps[model]}
print(json.dumps({"job": request.job_name, "success": result.success, "receipt": ingest.read_receipt(key),
                  "staging_upstream": sorted(upstream)}, ensure_ascii=False))
"""


def shuzhong(project: Path, *args: str, env: dict[str, str]) -> str:
    """A command of the checkout's CLI with the copy as the project folder; its output."""
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=project,
        env={**os.environ, **env, settings.PROJECT_DIR_VAR: str(project)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"{args[:3]}: {proc.stdout[-5000:]}\n{proc.stderr[-5000:]}"
    return proc.stdout


def test_a_new_dataset_is_ingested_and_modelled_from_its_contract_and_staging_model(lake_root, unique, tmp_path):
    project = tmp_path / "project"
    for folder in settings.PROJECT_FOLDERS:
        shutil.copytree(
            settings.PROJECT_DIR / folder, project / folder, ignore=shutil.ignore_patterns("target", "logs")
        )
    env = {
        "SHUZHONG_WORK_DB": str(tmp_path / "work.duckdb"),
        "SHUZHONG_SENSOR_PAGES": "1000",  # one tick sweeps the whole landing bucket
        "PYTHONPATH": str(settings.REPO_ROOT),
    }
    cli = ("-m", "pipelines.tools.cli")

    # 1. the contract
    contract_path = project / "data_contracts" / "ecology" / "water_quality.yaml"
    contract_path.write_text(CONTRACT, encoding="utf-8")
    # 2. shuzhong generate: its GX suite, its dbt source, its deadline row, the lock
    wrote = set(shuzhong(project, *cli, "generate", env=env).split("\n"))
    assert {
        "wrote expectations/ecology/water_quality.json",
        "wrote dbt_project/models/staging/ecology/_ecology__sources.yml",
        "wrote dbt_project/seeds/dataset_deadlines.csv",
        "wrote data_contracts/contracts.lock.json",
    } <= wrote
    assert (
        "ecology__water_quality" in (project / "dbt_project/models/staging/ecology/_ecology__sources.yml").read_text()
    )
    assert not (settings.EXPECTATIONS_DIR / "ecology" / "water_quality.json").exists()  # the checkout is untouched
    shuzhong(project, *cli, "generate", "--check", env=env)
    # 3. the staging model
    staging = project / "dbt_project" / "models" / "staging" / "ecology"
    (staging / "stg_ecology__water_quality.sql").write_text(STAGING_SQL, encoding="utf-8")
    (staging / "stg_ecology__water_quality.yml").write_text(STAGING_YML, encoding="utf-8")

    # 4. the bureau submits; the landing sensor plans the contract's ingestion job, which lands it
    key = f"ecology/water_quality/2026-03-05/{unique}.csv"
    client = s3.client("pipeline")  # the session's landing bucket is the tests' own: earlier tests'
    for o in sensors.list_landing():  # objects were processed by their own runs, the sweep needs only this one
        client.delete_object(Bucket=settings.buckets().landing, Key=o["key"])
    submit(key, EXPORT.encode("utf-8"), identity="ecology")
    seen = json.loads(shuzhong(project, "-c", INGEST, key, env=env).strip().splitlines()[-1])
    assert seen["job"] == "ingest_ecology__water_quality" and seen["success"]
    receipt = seen["receipt"]
    assert (receipt["status"], receipt["rows_received"], receipt["rows_accepted"]) == ("accepted", 5, 3)
    assert sorted(f["row_number"] for f in receipt["failures"]) == [5, 6]  # data rows 4 and 5 (+ header)
    assert seen["staging_upstream"] == ["raw/ecology/water_quality"]

    contract = load_contract(contract_path)
    raw = lake.read_table(lake.raw_uri(contract)).filter(pl.col("_source_key") == key).sort("_row_number")
    assert [(r["station_code"], str(r["observed_at"]), r["ph"]) for r in raw.iter_rows(named=True)] == ACCEPTED

    # 5. dbt builds the staging model (and runs its source's generated tests); its view shows the same rows
    shuzhong(
        project,
        *cli,
        "dbt",
        "build",
        "--select",
        "stg_ecology__water_quality",
        "source:raw.ecology__water_quality",
        env=env,
    )
    with duckdb.connect(env["SHUZHONG_WORK_DB"], read_only=True) as con:
        configure_lake(con)  # the view reads the raw Delta table on S3, as dbt's connections do
        shown = con.execute(
            "select station_code, cast(observed_at as varchar), ph, source_key from stg_ecology__water_quality "
            "where source_key = ?",
            [key],
        ).fetchall()
    assert sorted(r[:3] for r in shown) == sorted(ACCEPTED) and {r[3] for r in shown} == {key}
