"""Concurrent writers to one Delta table on the real S3 server: nothing lost, in both write modes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from pipelines import lake, settings

WRITER = """
import json, sys, time
import pyarrow as pa
from pipelines import lake
uri, writer, start, n = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
while time.time() < start:
    time.sleep(0.005)
spans = []
for i in range(n):
    t0 = time.time()
    version = lake.append(uri, pa.table({"writer": [writer], "i": [i]}))
    spans.append([t0, time.time(), version])
print(json.dumps({"spans": spans, "races_lost": lake.RACES_LOST}))
"""


def _race(uri: str, writers: int, commits: int, env: dict) -> list[dict]:
    start = time.time() + 6  # every process imports first, then all start together
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, uri, f"w{w}", str(start), str(commits)],
            stdout=subprocess.PIPE,
            env=env,
            cwd=settings.REPO_ROOT,
            text=True,
        )
        for w in range(writers)
    ]
    outs = [p.communicate(timeout=180)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    return [json.loads(o.strip().splitlines()[-1]) for o in outs]


@pytest.mark.parametrize("mode", ["conditional", "locked"])
def test_concurrent_commits_to_one_table_all_land(mode, lake_root):
    uri = f"{lake_root}/race-{mode}"
    env = {**os.environ, "SHUZHONG_DELTA_WRITE_MODE": mode}  # one SHUZHONG_HOME: one lock folder
    writers, commits = 3, 4
    lake.append(uri, pa.table({"writer": pa.array([], pa.string()), "i": pa.array([], pa.int64())}))  # version 0
    results = _race(uri, writers, commits, env)

    table = DeltaTable(uri, storage_options=lake.storage_options())
    rows = table.to_pyarrow_table().to_pylist()
    assert sorted((r["writer"], r["i"]) for r in rows) == sorted(
        (f"w{w}", i) for w in range(writers) for i in range(commits)
    )
    versions = [v for r in results for _, _, v in r["spans"]]
    assert sorted(versions) == list(range(1, writers * commits + 1))  # every commit got its own version
    spans = sorted((a, b) for r in results for a, b, _ in r["spans"])
    overlapping = sum(1 for (a1, b1), (a2, _) in zip(spans, spans[1:], strict=False) if a2 < b1)
    if mode == "conditional":
        # Commits really raced: some were in flight at the same time against the same table.
        assert overlapping >= 1
    print(f"{mode}: {overlapping} overlapping commits, races lost and retried: {sum(r['races_lost'] for r in results)}")


@pytest.mark.parametrize("mode", ["conditional", "locked"])
def test_registry_compaction_while_others_append_loses_nothing(mode, lake_root):
    """The registry is compacted at its twentieth commit (``lake.REGISTRY_COMPACT_EVERY``), here
    while two other processes keep appending to it."""
    uri = lake.registry_uri()
    env = {**os.environ, "SHUZHONG_DELTA_WRITE_MODE": mode}
    writers, commits = 3, 10
    lake.append(uri, pa.table({"writer": pa.array([], pa.string()), "i": pa.array([], pa.int64())}))  # version 0
    _race(uri, writers, commits, env)

    table = DeltaTable(uri, storage_options=lake.storage_options())
    rows = table.to_pyarrow_table().to_pylist()
    assert sorted((r["writer"], r["i"]) for r in rows) == sorted(
        (f"w{w}", i) for w in range(writers) for i in range(commits)
    )
    operations = [h["operation"] for h in table.history()]
    assert operations.count("OPTIMIZE") == 1
    assert len(table.file_uris()) < writers * commits  # the first twenty files are one now
