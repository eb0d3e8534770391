"""Sensors: landing bucket → ingestion runs; new raw data → one dbt + publish run.

The landing sensor keys every object on object key + ETag, so an object is never
missed (a modified time older than the cursor doesn't matter) and never processed
twice: Dagster's run keys make a request that is repeated after a daemon crash (before
the cursor was saved) a no-op.

Why sensors and not declarative automation (``AutomationCondition``): landing objects are not
assets Dagster can observe (a run is planned per object version, with the ETag in its config
and run key), and the transform must wait until *no* ingestion run is active and then build
only what is downstream of the raw tables that changed, in one run with one publish; an
eager condition would start a dbt run per raw asset materialization and race the ingestion
runs for the DuckDB writer lock.

Its cost per tick is bounded whatever the bucket holds: each tick lists (a) the recent
business-date prefixes ``<bureau>/<dataset>/<date>/`` of every contract (today and the two
days before, Asia/Shanghai; one page each), where nearly all submissions arrive, and (b) at
most ``SHUZHONG_SENSOR_PAGES`` pages (1,000 keys each) of a rotating sweep over the whole
bucket, continuing after the last key of the previous tick (``StartAfter``; it wraps at the
end). Whether a listed version is settled is decided by the file registry (one Delta read per
tick) and, for the few versions not registered, by their receipt; the cursor only keeps the
sweep position and the versions requested and not settled yet (``pending``), so it stays small.

``receipt_reconciler`` makes sure every requested object version ends with a receipt: it
reads ingestion runs that FAILED or were CANCELED (and that Dagster will not retry itself), and re-requests
each of their key@ETag still without a receipt for that ETag, one object per run (a poison
file cannot starve the others), with the attempt number in the run key. After
``SHUZHONG_MAX_INGEST_ATTEMPTS`` attempts (default 3) it writes a ``failed`` receipt (处理失败,
a reason without values) instead of silence. Its cursor is only the update time of the last
failed run it read, so it stays small.
"""

from __future__ import annotations

import hashlib
import json
import socket
from collections import defaultdict
from datetime import UTC, datetime
from functools import cache
from urllib.parse import urlsplit

from dagster import (
    AssetKey,
    AssetSelection,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from pipelines import ingest, lake, s3, settings, workdays
from pipelines.contracts import all_contracts
from pipelines.defs.ingestion.assets import ingest_job_name, ingest_jobs, raw_asset_key, reject_unroutable_objects
from pipelines.defs.transform import VISIBLE_THROUGH_TAG


def max_objects_per_run() -> int:
    """Objects handed to one ingestion run (a run costs seconds of start-up; a batch amortises it)."""
    return int(settings.get("SHUZHONG_MAX_OBJECTS_PER_RUN", "500"))


def max_bytes_per_run() -> int:
    """Bytes of landing objects per ingestion run (a run lands them in chunks, see ingest.max_bytes_per_commit;
    a bigger run spreads its start-up cost over more files)."""
    return int(settings.get("SHUZHONG_MAX_MB_PER_RUN", "256")) * 2**20


def batches(objs: list[dict]) -> list[list[dict]]:
    """Consecutive batches of at most ``max_objects_per_run`` objects and ``max_bytes_per_run`` bytes."""
    out: list[list[dict]] = []
    size = 0
    for o in objs:
        if not out or len(out[-1]) >= max_objects_per_run() or size + o.get("size", 0) > max_bytes_per_run():
            out.append([])
            size = 0
        out[-1].append(o)
        size += o.get("size", 0)
    return out


TRIAGE_JOB = "reject_unroutable_objects"
MAX_RUNTIME_TAG = "dagster/max_runtime"  # enforced by Dagster's run monitoring (dagster.yaml)
TRANSFORM_JOB = "transform_and_publish"
ACTIVE = [  # a run that may still write (CANCELING: its worker may not have stopped yet)
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


LIST_PAGE = 1000
RECENT_DAYS = 3  # business dates listed on every tick: today and the two days before
MAX_PENDING = 5_000  # requested, unsettled versions the cursor keeps (oldest dropped beyond; a
# dropped one listed again is requested again, and its run key makes that a no-op)
RECEIPT_THREADS = 32  # receipt lookups are small GETs: latency-bound
PENDING_RECEIPT_CHECKS = 200  # pending versions whose receipt is looked up per tick (rotating)


def sensor_pages() -> int:
    """Pages (of ``LIST_PAGE`` keys) of the rotating sweep listed per tick."""
    return int(settings.get("SHUZHONG_SENSOR_PAGES", "1"))


def _entry(o: dict) -> dict:
    return {
        "key": o["Key"],
        "etag": o["ETag"].strip('"'),
        "size": int(o.get("Size", 0)),
        "last_modified": o["LastModified"].isoformat(),
    }


def list_landing() -> list[dict]:
    """Every object in the landing bucket: key, etag, size, last_modified (tests, tools; not the sensor)."""
    client = s3.client("pipeline")
    out = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=settings.buckets().landing):
        out += [_entry(o) for o in page.get("Contents", [])]
    return out


def list_page(client, prefix: str = "", start_after: str = "") -> tuple[list[dict], bool]:
    """One page of at most ``LIST_PAGE`` objects; and whether more follow."""
    kwargs = {"Bucket": settings.buckets().landing, "MaxKeys": LIST_PAGE}
    if prefix:
        kwargs["Prefix"] = prefix
    if start_after:
        kwargs["StartAfter"] = start_after
    page = client.list_objects_v2(**kwargs)
    return [_entry(o) for o in page.get("Contents", [])], bool(page.get("IsTruncated"))


def recent_prefixes() -> list[str]:
    """``<bureau>/<dataset>/<date>/`` of every contract for the last ``RECENT_DAYS`` business dates."""
    from datetime import timedelta

    today = workdays.today()
    return [
        f"{c.bureau}/{c.dataset}/{today - timedelta(days=d)}/"
        for c in all_contracts().values()
        for d in range(RECENT_DAYS)
    ]


def list_tick(after: str) -> tuple[list[dict], str, int]:
    """The objects one tick examines (recent prefixes + the next sweep pages), the new sweep
    position ("" once the sweep wrapped) and the number of list calls made."""
    client = s3.client("pipeline")
    found: dict[str, dict] = {}
    calls = 0
    for prefix in recent_prefixes():
        objs, _ = list_page(client, prefix=prefix)
        calls += 1
        found.update((o["key"], o) for o in objs)
    for _ in range(sensor_pages()):
        objs, more = list_page(client, start_after=after)
        calls += 1
        found.update((o["key"], o) for o in objs)
        after = objs[-1]["key"] if objs and more else ""
        if not after:
            break
    return list(found.values()), after, calls


def registered_versions() -> set[tuple[str, str]]:
    """(key, etag) of every version in the file registry (one Delta read)."""
    registry = lake.registry()
    if not registry.height:
        return set()
    return set(zip(registry["source_key"].to_list(), registry["source_etag"].to_list(), strict=True))


def _with_receipt(versions: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Those of ``versions`` whose receipt is for that ETag (parallel GETs)."""
    from concurrent.futures import ThreadPoolExecutor

    def has(version: tuple[str, str]) -> bool:
        receipt = ingest.read_receipt(version[0])
        return receipt is not None and receipt.get("etag") == version[1]

    with ThreadPoolExecutor(RECEIPT_THREADS) as pool:
        return {v for v, ok in zip(versions, pool.map(has, versions), strict=True) if ok}


def settled(objects: list[dict], pending: dict[str, str], known: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """(key, etag) of ``objects`` that need no run: registered (``known``), requested and pending, or
    with a receipt for that ETag (rejected unroutable keys and ``failed`` receipts are not registered)."""
    out = {
        (o["key"], o["etag"]) for o in objects if (o["key"], o["etag"]) in known or pending.get(o["key"]) == o["etag"]
    }
    rest = [(o["key"], o["etag"]) for o in objects if (o["key"], o["etag"]) not in out]
    return out | _with_receipt(rest)


def prune_pending(pending: dict[str, str], known: set[tuple[str, str]]) -> dict[str, str]:
    """Drop pending versions that are settled now: registered (a set lookup, all of them), or
    with their receipt (looked up for the oldest ``PENDING_RECEIPT_CHECKS`` only, which then move
    to the end), so a tick's cost does not grow with the number of runs still in flight."""
    rest = [(k, e) for k, e in pending.items() if (k, e) not in known]
    head, tail = rest[:PENDING_RECEIPT_CHECKS], rest[PENDING_RECEIPT_CHECKS:]
    done = _with_receipt(head)
    out = dict(tail + [v for v in head if v not in done])
    return dict(list(out.items())[-MAX_PENDING:])


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
        for batch in batches(objs):
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
                    tags={
                        "shuzhong/objects": str(len(batch)),
                        "shuzhong/first_key": batch[0]["key"][:200],
                        MAX_RUNTIME_TAG: str(settings.max_run_seconds()),
                    },
                )
            )
    new_seen = dict(seen)
    new_seen.update({o["key"]: o["etag"] for o in fresh})
    return requests, new_seen


def _op_name(job: str) -> str:
    contract = next(c for c in all_contracts().values() if ingest_job_name(c) == job)
    return "__".join(raw_asset_key(contract).path)


def _landing_cursor(text: str | None) -> tuple[str, dict[str, str]]:
    """(sweep position, pending versions); the cursor before the bounded sweep (every key seen) starts afresh."""
    if not text:
        return "", {}
    state = json.loads(text)
    if not isinstance(state, dict) or set(state) != {"after", "pending"}:
        return "", {}
    return state["after"], dict(state["pending"])


def s3_not_ready() -> str | None:
    """Why the object store cannot be used yet (settings missing, endpoint not listening), or
    None. Sensors skip with this message instead of failing every tick on a fresh clone."""
    try:
        endpoint = settings.s3_endpoint()
        settings.credentials("pipeline")
    except (RuntimeError, KeyError, OSError) as exc:
        return f"S3 is not configured ({exc}); run `shuzhong init` and `shuzhong s3 start`, or set SHUZHONG_S3_*"
    url = urlsplit(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname or "127.0.0.1", port), timeout=2).close()
    except OSError as exc:
        return (
            f"S3 endpoint {url.scheme}://{url.hostname}:{port} is not reachable ({exc.strerror or exc}); "
            "start it with `shuzhong s3 start` (or `make s3-start`)"
        )
    return None


@sensor(
    name="landing_sensor",
    jobs=[*ingest_jobs(), reject_unroutable_objects],
    minimum_interval_seconds=2,  # a new file waits at most ~2 s; a tick is ~35 list calls
    default_status=DefaultSensorStatus.RUNNING,
    description="Lists recent prefixes and a bounded sweep of the landing bucket and launches ingestion runs "
    "for new object versions (key + ETag).",
)
def landing_sensor(context: SensorEvaluationContext):
    if reason := s3_not_ready():
        return SkipReason(reason)
    after, pending = _landing_cursor(context.cursor)
    known = registered_versions()
    pending = prune_pending(pending, known)
    objects, after, calls = list_tick(after)
    done = settled(objects, pending, known)
    fresh = [o for o in objects if (o["key"], o["etag"]) not in done]
    requests, _ = plan_runs(fresh, {})
    pending.update({o["key"]: o["etag"] for o in fresh})
    cursor = json.dumps({"after": after, "pending": dict(list(pending.items())[-MAX_PENDING:])}, sort_keys=True)
    if not requests:
        return SensorResult(
            skip_reason=SkipReason(f"no new objects among {len(objects)} examined ({calls} list calls)"), cursor=cursor
        )
    context.log.info(
        f"{len(fresh)} new object(s) in {len(requests)} run(s); {len(objects)} examined, {calls} list calls"
    )
    return SensorResult(run_requests=requests, cursor=cursor)


def max_ingest_attempts() -> int:
    """Ingestion attempts of one object version before it gets a ``failed`` receipt."""
    return int(settings.get("SHUZHONG_MAX_INGEST_ATTEMPTS", "3"))


ATTEMPT_TAG = "shuzhong/attempt"
WILL_RETRY_TAG = "dagster/will_retry"
RUNS_PER_RECONCILE = 100  # failed runs read per tick (the cursor continues from the last one)


def _run_objects(run) -> tuple[str | None, list[dict]]:
    """(job, objects) a run was handed in its run config."""
    ops = (run.run_config or {}).get("ops", {})
    for op in ops.values():
        objects = op.get("config", {}).get("objects")
        if objects is not None:
            return run.job_name, objects
    return run.job_name, []


def reconcile(instance: DagsterInstance, after: float) -> tuple[list[RunRequest], list[ingest.Receipt], float]:
    """Retry requests and ``failed`` receipts for object versions of failed or canceled ingestion runs updated
    after ``after`` (a timestamp) that have no receipt for their ETag; and the new watermark."""
    records = instance.get_run_records(
        RunsFilter(
            statuses=[DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED],  # canceled: e.g. past its max run time
            tags={"shuzhong/kind": "ingest"},
            updated_after=datetime.fromtimestamp(after, UTC),
        ),
        limit=RUNS_PER_RECONCILE,
        order_by="update_timestamp",
        ascending=True,
    )
    requests: list[RunRequest] = []
    failed: list[ingest.Receipt] = []
    watermark = after
    for record in records:
        watermark = max(watermark, record.update_timestamp.timestamp())
        run = record.dagster_run
        if run.tags.get(WILL_RETRY_TAG) == "true":  # Dagster's own run retry comes first
            continue
        attempt = int(run.tags.get(ATTEMPT_TAG, "1"))
        job, objects = _run_objects(run)
        for o in objects:
            receipt = ingest.read_receipt(o["key"])
            if receipt is not None and receipt.get("etag") == o["etag"]:
                continue  # settled (by this run, another one, or an earlier reconcile)
            if attempt >= max_ingest_attempts():
                failed.append(failed_receipt(o, attempt, run.run_id))
                continue
            ident = hashlib.sha256(f"{o['key']}@{o['etag']}".encode()).hexdigest()[:24]
            requests.append(
                RunRequest(
                    run_key=f"{job}:retry{attempt + 1}:{ident}",
                    job_name=job,
                    run_config={"ops": {_op_name(job): {"config": {"objects": [o]}}}},
                    tags={
                        "shuzhong/objects": "1",
                        "shuzhong/first_key": o["key"][:200],
                        ATTEMPT_TAG: str(attempt + 1),
                        "shuzhong/retry_of": run.run_id,
                        MAX_RUNTIME_TAG: str(settings.max_run_seconds()),
                    },
                )
            )
    return requests, failed, watermark


def failed_receipt(obj: dict, attempts: int, run_id: str) -> ingest.Receipt:
    """The receipt of a version that could not be processed in ``attempts`` attempts (no values)."""
    receipt = ingest.Receipt(
        object_key=obj["key"],
        status="failed",
        etag=obj["etag"],
        run_id=run_id,
        reason=f"处理失败：已尝试 {attempts} 次仍未完成，数据中心将排查；可重新提交 / "
        f"processing failed after {attempts} attempts",
    )
    try:
        bureau, dataset, business_date, _ = ingest.parse_key(obj["key"])
        receipt.bureau, receipt.dataset, receipt.business_date = bureau, dataset, str(business_date)
    except ingest.InvalidKey:
        pass
    return receipt


@sensor(
    name="receipt_reconciler",
    jobs=list(ingest_jobs()),
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Re-requests object versions of failed ingestion runs that have no receipt (one object per "
    "run, attempt number in the run key); after SHUZHONG_MAX_INGEST_ATTEMPTS writes a 处理失败 receipt.",
)
def receipt_reconciler(context: SensorEvaluationContext):
    if reason := s3_not_ready():
        return SkipReason(reason)
    after = float(json.loads(context.cursor)["after"]) if context.cursor else 0.0
    requests, failed, watermark = reconcile(context.instance, after)
    for receipt in failed:
        ingest.write_receipt(receipt)
        context.log.warning(
            f"{receipt.object_key[:200]!r}@{receipt.etag}: failed receipt after {max_ingest_attempts()} attempts"
        )
    cursor = json.dumps({"after": watermark})
    if not requests:
        return SensorResult(skip_reason=SkipReason(f"{len(failed)} failed receipt(s), nothing to retry"), cursor=cursor)
    context.log.info(f"retrying {len(requests)} object version(s) of failed ingestion runs")
    return SensorResult(run_requests=requests, cursor=cursor)


REGISTRY_KEY = AssetKey(["raw", "meta", "files"])  # the file registry: every ingestion changes it


@cache
def project_fingerprint() -> str:
    """Checksum of the dbt manifest: a changed project (new model, new column) rebuilds everything."""
    from pipelines.defs.transform.dbt_assets import DBT_PROJECT

    return manifest_fingerprint(DBT_PROJECT.manifest_path.read_bytes())


def manifest_fingerprint(manifest: bytes) -> str:
    """Checksum of a dbt manifest's content, without what changes at every parse (its
    ``metadata``: time, invocation id; each node's ``created_at``): a re-parse of an unchanged
    project (a touched file, a checkout) must not look like a changed project and rebuild it all."""
    doc = json.loads(manifest)
    doc.pop("metadata", None)
    for section in doc.values():
        if isinstance(section, dict):
            for node in section.values():
                if isinstance(node, dict):
                    node.pop("created_at", None)
    return hashlib.sha256(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def transform_selection(asset_graph, changed: list[AssetKey]) -> list[AssetKey]:
    """The dbt models (and the publish asset) downstream of raw tables with new data and of the
    file registry: what one transform has to rebuild."""
    sources = AssetSelection.assets(*changed, REGISTRY_KEY)
    selected = (sources.downstream() - AssetSelection.assets(*raw_keys(), REGISTRY_KEY)).resolve(asset_graph)
    return sorted(selected, key=lambda k: k.to_user_string())


def _transform_cursor(text: str | None) -> tuple[int, str | None]:
    if not text:
        return 0, None
    try:
        state = json.loads(text)
    except json.JSONDecodeError:
        return 0, None
    if isinstance(state, int):  # the cursor before incremental transforms: rebuild everything once
        return state, None
    return int(state.get("storage_id", 0)), state.get("project")


@sensor(
    name="transform_sensor",
    job_name=TRANSFORM_JOB,
    minimum_interval_seconds=1,  # instance queries only: cheap
    default_status=DefaultSensorStatus.RUNNING,
    description="After new raw data has landed and no ingestion run is active, runs dbt on what it "
    "changed (downstream models and their tests) and publishes once.",
)
def transform_sensor(context: SensorEvaluationContext):
    instance = context.instance
    done, project = _transform_cursor(context.cursor)
    latest, changed = 0, []
    for contract in all_contracts().values():
        records = instance.fetch_materializations(raw_asset_key(contract), limit=1).records
        if records:
            latest = max(latest, records[0].storage_id)
            if records[0].storage_id > done:
                changed.append(raw_asset_key(contract))
    if latest <= done:
        return SkipReason("no new raw data since the last transform")
    # Taken before looking for active runs: with none active, every row stamped before this
    # instant is committed (a run started later stamps later), so the facts may read from here
    # next time (SHUZHONG_VISIBLE_THROUGH for dbt, macro incremental_watermark).
    visible_through = datetime.now(UTC).isoformat()
    active = sum(
        instance.get_runs_count(RunsFilter(statuses=ACTIVE, tags={"shuzhong/kind": kind}))
        for kind in ("ingest", "reprocess")
    )
    if active:
        return SkipReason(f"waiting for {active} ingestion or reprocess run(s) to finish")
    full = project != project_fingerprint() or context.repository_def is None
    selection = None if full else transform_selection(context.repository_def.asset_graph, changed)
    context.log.info(
        "full rebuild (first transform or changed dbt project)"
        if full
        else f"new data in {', '.join(k.to_user_string() for k in changed)}: {len(selection)} downstream asset(s)"
    )
    return SensorResult(
        run_requests=[
            RunRequest(
                run_key=f"transform-{latest}",
                asset_selection=selection,
                tags={
                    "shuzhong/raw_storage_id": str(latest),
                    MAX_RUNTIME_TAG: str(settings.max_run_seconds()),
                    "shuzhong/transform": "full" if full else "incremental",
                    VISIBLE_THROUGH_TAG: visible_through,
                },
            )
        ],
        cursor=json.dumps({"storage_id": latest, "project": project_fingerprint()}),
    )


def raw_keys() -> list[AssetKey]:
    return [raw_asset_key(c) for c in all_contracts().values()]


@sensor(
    name="calendar_sensor",
    minimum_interval_seconds=3600,
    default_status=DefaultSensorStatus.RUNNING,
    description="From 1 December, reports a next year missing from the working-day calendar "
    "(seed cn_workday_calendar). Only reports: intake goes on, with provisional deadlines.",
)
def calendar_sensor(context: SensorEvaluationContext) -> SkipReason:
    message = workdays.missing_year_message()
    if message:
        context.log.warning(message)
        return SkipReason(message)
    year = workdays.today().year
    return SkipReason(
        f"working-day calendar holds {year}" + (f" and {year + 1}" if workdays.load().holds(year + 1) else "")
    )
