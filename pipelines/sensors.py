"""Sensors: landing bucket → ingestion runs; new raw data → one dbt + publish run.

The landing sensor keys every object on object key + ETag, so an object is never
missed (a modified time older than the cursor doesn't matter) and never processed
twice: the cursor remembers what was requested, and Dagster's run keys make a
request that is repeated after a daemon crash (before the cursor was saved) a no-op.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict

from dagster import (
    AssetKey,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from pipelines import s3, settings
from pipelines.contracts import all_contracts
from pipelines.ingestion_assets import ingest_job_name, ingest_jobs, raw_asset_key, reject_unroutable_objects


def max_objects_per_run() -> int:
    """Objects handed to one ingestion run (a run costs seconds of start-up; a batch amortises it)."""
    return int(settings.get("SHUZHONG_MAX_OBJECTS_PER_RUN", "50"))

TRIAGE_JOB = "reject_unroutable_objects"
TRANSFORM_JOB = "transform_and_publish"
ACTIVE = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


def list_landing() -> list[dict]:
    """Every object in the landing bucket: key, etag, size, last_modified."""
    client = s3.client("pipeline")
    out = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=settings.buckets().landing):
        for o in page.get("Contents", []):
            out.append(
                {
                    "key": o["Key"],
                    "etag": o["ETag"].strip('"'),
                    "size": int(o.get("Size", 0)),
                    "last_modified": o["LastModified"].isoformat(),
                }
            )
    return out


def route(key: str) -> str | None:
    """The ingestion job of an object key, or None for keys no contract accepts."""
    parts = key.split("/")
    if len(parts) != 4:
        return None
    contract = all_contracts().get(f"{parts[0]}.{parts[1]}")
    return ingest_job_name(contract) if contract else None


def plan_runs(objects: list[dict], seen: dict[str, str]) -> tuple[list[RunRequest], dict[str, str]]:
    """Run requests for objects not yet seen with this ETag; and the new cursor state."""
    fresh = [o for o in objects if seen.get(o["key"]) != o["etag"]]
    by_job: dict[str, list[dict]] = defaultdict(list)
    for o in sorted(fresh, key=lambda o: (o["last_modified"], o["key"])):  # in upload order
        by_job[route(o["key"]) or TRIAGE_JOB].append(o)
    requests = []
    for job, objs in sorted(by_job.items()):
        size = max_objects_per_run()
        for i in range(0, len(objs), size):
            batch = objs[i : i + size]
            ident = hashlib.sha256("\n".join(f"{o['key']}@{o['etag']}" for o in batch).encode()).hexdigest()[:24]
            config = {"objects": batch}
            run_config = (
                {"ops": {"reject_objects": {"config": config}}}
                if job == TRIAGE_JOB
                else {"ops": {_op_name(job): {"config": config}}}
            )
            requests.append(
                RunRequest(
                    run_key=f"{job}:{ident}",
                    job_name=job,
                    run_config=run_config,
                    tags={"shuzhong/objects": str(len(batch)), "shuzhong/first_key": batch[0]["key"][:200]},
                )
            )
    new_seen = dict(seen)
    new_seen.update({o["key"]: o["etag"] for o in fresh})
    return requests, new_seen


def _op_name(job: str) -> str:
    contract = next(c for c in all_contracts().values() if ingest_job_name(c) == job)
    return "__".join(raw_asset_key(contract).path)


@sensor(
    name="landing_sensor",
    jobs=[*ingest_jobs(), reject_unroutable_objects],
    minimum_interval_seconds=5,
    default_status=DefaultSensorStatus.RUNNING,
    description="Lists the landing bucket and launches ingestion runs for new objects (key + ETag).",
)
def landing_sensor(context: SensorEvaluationContext):
    seen = json.loads(context.cursor) if context.cursor else {}
    objects = list_landing()
    requests, new_seen = plan_runs(objects, seen)
    if not requests:
        return SkipReason(f"no new objects among {len(objects)}")
    fresh = sum(1 for k, v in new_seen.items() if seen.get(k) != v)
    context.log.info(f"{fresh} new object(s) in {len(requests)} run(s)")
    return SensorResult(run_requests=requests, cursor=json.dumps(new_seen, sort_keys=True))


@sensor(
    name="transform_sensor",
    job_name=TRANSFORM_JOB,
    minimum_interval_seconds=10,
    default_status=DefaultSensorStatus.RUNNING,
    description="After new raw data has landed and no ingestion run is active, runs dbt and publishes once.",
)
def transform_sensor(context: SensorEvaluationContext):
    instance = context.instance
    latest = 0
    for contract in all_contracts().values():
        records = instance.fetch_materializations(raw_asset_key(contract), limit=1).records
        if records:
            latest = max(latest, records[0].storage_id)
    done = int(context.cursor or 0)
    if latest <= done:
        return SkipReason("no new raw data since the last transform")
    active = instance.get_runs_count(RunsFilter(statuses=ACTIVE, tags={"shuzhong/kind": "ingest"}))
    if active:
        return SkipReason(f"waiting for {active} ingestion run(s) to finish")
    return SensorResult(
        run_requests=[RunRequest(run_key=f"transform-{latest}", tags={"shuzhong/raw_storage_id": str(latest)})],
        cursor=str(latest),
    )


def raw_keys() -> list[AssetKey]:
    return [raw_asset_key(c) for c in all_contracts().values()]
