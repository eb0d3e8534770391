"""The landing sensor's cost per tick and its cursor are bounded whatever the bucket holds, and
every object is still picked up within a bounded number of ticks (rotating sweep)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from dagster import DagsterInstance, build_sensor_context

from pipelines import ingest, s3, settings
from pipelines.defs.ingestion import sensors

N = 2_000


def test_sweep_is_bounded_and_misses_nothing(lake_root, unique, monkeypatch):
    monkeypatch.setenv("SHUZHONG_SENSOR_PAGES", "1")
    client = s3.client("hotline")
    keys = [f"hotline/tickets/2026-02-{1 + n % 28:02d}/{unique}-{n:05d}.csv" for n in range(N)]
    with ThreadPoolExecutor(16) as pool:
        etags = dict(
            zip(
                keys,
                pool.map(
                    lambda k: client.put_object(Bucket=settings.buckets().landing, Key=k, Body=k.encode())[
                        "ETag"
                    ].strip('"'),
                    keys,
                ),
                strict=True,
            )
        )
    total = len(sensors.list_landing())
    bound_objects = len(sensors.recent_prefixes()) * sensors.LIST_PAGE + sensors.LIST_PAGE
    bound_calls = len(sensors.recent_prefixes()) + 1

    objects, after, calls = sensors.list_tick("")
    assert calls <= bound_calls and len(objects) <= bound_objects and after  # one page, more to come

    instance = DagsterInstance.ephemeral()
    cursor, picked, ticks = None, {}, 0
    while ticks < total // sensors.LIST_PAGE + 3:
        result = sensors.landing_sensor(build_sensor_context(instance=instance, cursor=cursor))
        ticks += 1
        cursor = result.cursor
        for request in result.run_requests or []:
            for o in next(iter(request.run_config["ops"].values()))["config"]["objects"]:
                picked[o["key"]] = o["etag"]
                # the run finishing: its receipt settles the version
                ingest.write_receipt(ingest.Receipt(object_key=o["key"], status="accepted", etag=o["etag"]))
        assert len(cursor) < 200_000  # pending: requested and not settled; the sweep position
        if all(picked.get(k) == e for k, e in etags.items()):
            break
    assert all(picked.get(k) == e for k, e in etags.items())
    assert ticks <= total // sensors.LIST_PAGE + 2
    # Settled versions leave the cursor: the receipts of at most PENDING_RECEIPT_CHECKS pending
    # versions are looked up per tick, so they leave within a bounded number of ticks.
    pending = len(json.loads(cursor)["pending"])
    for _ in range(pending // sensors.PENDING_RECEIPT_CHECKS + 1):
        final = sensors.landing_sensor(build_sensor_context(instance=instance, cursor=cursor))
        left = len(json.loads(final.cursor)["pending"])
        assert left >= pending - sensors.PENDING_RECEIPT_CHECKS - sensors.LIST_PAGE  # bounded work per tick
        cursor, pending = final.cursor, left
    assert pending < sensors.LIST_PAGE
    assert not [
        o
        for r in final.run_requests or []
        for o in next(iter(r.run_config["ops"].values()))["config"]["objects"]
        if unique in o["key"]
    ]
