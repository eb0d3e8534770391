"""Ingestion steps on two Celery workers (dagster-celery), a real Redis broker and a real PostgreSQL instance.

The daemon (its own DAGSTER_HOME) launches the runs; each run's step goes through the broker
to one of two workers, each with its own working directory, DAGSTER_HOME and SHUZHONG_HOME:
all they share is S3 (lake, landing, receipts), PostgreSQL (the instance) and the broker.
Then a worker is SIGKILLed right after its Delta commit, before ledger, registry and receipt:
the broker hands the step to the other worker, and the file lands once.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from deltalake import DeltaTable

from pipelines import ingest, lake, ledger, s3, settings
from pipelines.contracts import all_contracts
from pipelines.tools import compute_logs, dagster_home, leakscan, postgres, redis_server
from pipelines.tools.compute_logs import LakeComputeLogManager
from tests.daemon_common import wait_for
from tests.helpers import csv_bytes, submit, ticket

CONTRACT = all_contracts()["hotline.tickets"]
BURST = 8
STEP = "raw__hotline__tickets"  # the ingestion step of the hotline job


@pytest.fixture
def cluster(daemon_home, tmp_path, monkeypatch):
    """PostgreSQL, Redis and a daemon whose ingestion jobs use the Celery executor."""
    _, procs = daemon_home
    with postgres.running(database="dagster") as pg, redis_server.running(tmp_path / "broker") as broker:
        monkeypatch.setenv(dagster_home.PG_URL_VAR, pg.url)
        monkeypatch.setenv("SHUZHONG_EXECUTOR", "celery")
        monkeypatch.setenv("SHUZHONG_CELERY_BROKER", broker)
        # Longer than any step here, even on a loaded machine: a live worker's step is never redelivered.
        monkeypatch.setenv("SHUZHONG_CELERY_VISIBILITY_SECONDS", "900")
        monkeypatch.setenv("SHUZHONG_MAX_OBJECTS_PER_RUN", "1")  # a burst of files: one run each
        home = dagster_home.prepare(tmp_path / "daemon")
        workers: list[subprocess.Popen] = []
        try:
            yield home, procs, workers
        finally:
            # The daemon first, while PostgreSQL and the broker still answer (else its run
            # workers hang until the SIGKILL 30 s later), then the workers.
            while procs:
                dagster_home.stop(procs.pop())
            for w in workers:
                _kill(w)


def _start_worker(name: str, tmp_path: Path, **env: str) -> subprocess.Popen:
    """A Celery worker in its own working directory, process group and Dagster home."""
    workdir = tmp_path / f"worker-{name}"
    workdir.mkdir()
    wenv = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home.prepare(workdir / "dagster")),
        "SHUZHONG_HOME": str(workdir / "state"),
        **env,
    }
    log = open(workdir / "worker.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "pipelines.tools.celery_worker", "worker", "--pool", "solo"]
        + ["-Q", "dagster", "-n", f"{name}@%h", "-l", "info"]
        + ["--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=workdir,
        env=wenv,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    proc.log_path = workdir / "worker.log"
    started = dagster_home.wait_until(
        lambda: " ready." in proc.log_path.read_text() or proc.poll() is not None, timeout=180, interval=0.5
    )
    assert started and proc.poll() is None, f"worker {name} did not start:\n{proc.log_path.read_text()[-3000:]}"
    return proc


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _runs_of(instance: DagsterInstance, key: str) -> list:
    runs = instance.get_runs(RunsFilter(tags={"shuzhong/kind": "ingest"}))
    return [r for r in runs if key in str(r.run_config)]


def _step_workers(instance: DagsterInstance, run_id: str) -> list[str]:
    """The Celery workers that executed the run's ingestion step, in order (from the run's engine
    events; the run's other step, the dataset's freshness check, is a task of its own).

    A worker logs "Executing steps ... in celery worker" when it starts the step and returns the
    event with the step's others, which the run then logs again: consecutive repeats are one
    execution."""
    out = []
    for record in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        data = record.dagster_event.engine_event_data
        worker = data.metadata.get("Celery worker") if data else None
        if worker is not None and record.step_key == STEP:
            out.append(worker.value.split("@")[0])
    return [name for name, _ in itertools.groupby(out)]


def _engine_log(instance: DagsterInstance, run_id: str) -> list[str]:
    return [
        f"{r.timestamp:.1f} {r.dagster_event.message} {r.dagster_event.engine_event_data.metadata}"
        for r in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)
    ]


def _raw_rows(keys: list[str]) -> dict[str, int]:
    frame = lake.read_table(lake.raw_uri(CONTRACT))
    frame = frame.filter(pl.col("_source_key").is_in(keys))
    return dict(frame.group_by("_source_key").len().iter_rows())


def _assert_step_log_in_s3(instance: DagsterInstance, run_id: str) -> None:
    """The ingestion step's captured stderr is in the lake bucket, and the instance (as the
    webserver does) reads it back from there: this process stages logs under its own
    SHUZHONG_HOME, where no worker wrote."""
    manager = instance.compute_log_manager
    assert isinstance(manager, LakeComputeLogManager)
    (file_key,) = [
        r.dagster_event.logs_captured_data.file_key
        for r in instance.all_logs(run_id, of_type=DagsterEventType.LOGS_CAPTURED)
        if STEP in r.dagster_event.logs_captured_data.step_keys
    ]
    listed = s3.client("pipeline").list_objects_v2(
        Bucket=settings.buckets().lake, Prefix=f"{compute_logs.PREFIX}/storage/{run_id}/"
    )
    assert any(o["Key"].endswith(f"/{file_key}.err") for o in listed.get("Contents", [])), listed
    log = manager.get_log_data(manager.build_log_key_for_run(run_id, file_key))
    assert f'Started execution of step "{STEP}"' in log.stderr.decode(), log.stderr[-2000:]


def test_a_burst_spreads_over_two_workers_and_a_killed_worker_is_retried_on_the_other(cluster, tmp_path, unique):
    home, procs, workers = cluster
    workers.append(_start_worker("alpha", tmp_path))
    workers.append(_start_worker("beta", tmp_path))
    procs.append(dagster_home.start_daemon(home))
    instance = DagsterInstance.get()  # the worker-independent view: the daemon's home, PostgreSQL
    try:
        keys = [f"hotline/tickets/2026-03-{d:02d}/{unique}-{d}.csv" for d in range(2, 2 + BURST)]
        for n, key in enumerate(keys):
            submit(key, csv_bytes([ticket(n * 10 + i, 诉求内容=f"并行 {unique} {n}") for i in range(1, 3)]))
        wait_for(lambda: all(ingest.read_receipt(k) for k in keys), "the burst's receipts", home, 420)
        done = (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)
        wait_for(lambda: all(r.status in done for k in keys for r in _runs_of(instance, k)), "the runs", home, 300)

        receipts = [ingest.read_receipt(k) for k in keys]
        assert [r["status"] for r in receipts] == ["accepted"] * BURST
        assert [r["rows_accepted"] for r in receipts] == [2] * BURST
        by_worker = {}
        for key in keys:
            runs = _runs_of(instance, key)
            assert len(runs) == 1, key  # every file in exactly one run
            assert runs[0].status == DagsterRunStatus.SUCCESS
            steps = _step_workers(instance, runs[0].run_id)
            assert len(steps) == 1, (key, steps, _engine_log(instance, runs[0].run_id))  # ran once, on one worker
            worker = steps[0]
            by_worker.setdefault(worker, []).append(key)
        assert set(by_worker) == {"alpha", "beta"}, by_worker  # spread over both
        assert _raw_rows(keys) == dict.fromkeys(keys, 2)  # every row once
        versions = [r["raw_table_version"] for r in receipts]
        assert len(set(versions)) == BURST  # one commit per file, none lost or shared
        table = DeltaTable(lake.raw_uri(CONTRACT), storage_options=lake.storage_options())
        history = {h["version"] for h in table.history()}
        assert set(versions) <= history
        assert ledger.verify() == []
        for key in keys:
            _assert_step_log_in_s3(instance, _runs_of(instance, key)[0].run_id)
        scan = leakscan.Scan([ticket(1)["联系电话"]])  # the step logs carry no clear-text phone number
        leakscan.scan_compute_logs(instance, scan=scan)
        assert len(scan.scanned) >= BURST and scan.findings == [], scan.findings
        # Nothing a worker wrote went under the daemon's DAGSTER_HOME, the path the instance ref names.
        assert not [p for p in home.rglob("*") if p.suffix in (".out", ".err", ".complete")]

        # A worker dies right after its Delta commit (before ledger, registry, receipt).
        for w in workers:
            _kill(w)
        doomed = _start_worker("gamma", tmp_path, SHUZHONG_CRASH_AT="after_raw_commit")
        workers.append(doomed)
        late = f"hotline/tickets/2026-03-20/{unique}-late.csv"
        submit(late, csv_bytes([ticket(900 + i, 诉求内容=f"重试 {unique}") for i in range(1, 4)]))
        wait_for(lambda: doomed.poll() is not None, "the worker to die at its crash point", home, 300)
        assert doomed.returncode == -signal.SIGKILL
        assert ingest.read_receipt(late) is None  # nothing half-done is visible: no receipt yet
        # The broker hands an unacknowledged task on once it is older than the visibility timeout
        # of the worker that looks: with the other worker dead, this one may look after 15 s.
        workers.append(_start_worker("delta", tmp_path, SHUZHONG_CELERY_VISIBILITY_SECONDS="15"))
        wait_for(lambda: ingest.read_receipt(late), "the late file's receipt from the other worker", home, 300)

        receipt = ingest.read_receipt(late)
        assert (receipt["status"], receipt["rows_accepted"]) == ("accepted", 3)
        (run,) = _runs_of(instance, late)
        wait_for(lambda: instance.get_run_by_id(run.run_id).status == DagsterRunStatus.SUCCESS, "the run", home, 120)
        assert _step_workers(instance, run.run_id) == ["gamma", "delta"]  # redelivered, not run anew
        assert _raw_rows([late]) == {late: 3}  # the dead worker's commit is not doubled
        assert ledger.verify() == []
    finally:
        instance.dispose()
