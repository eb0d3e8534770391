"""One daemon per instance (pipelines/tools/daemon_lock.py), on real processes and a real PostgreSQL.

The lock must outlive the ``exec`` into ``dagster-daemon`` and end with that process however
it dies; a second daemon pointed at the same instance (another DAGSTER_HOME: another
machine) waits as a standby, runs nothing, and takes over when the first is killed.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest
from dagster import DagsterInstance, RunsFilter

from pipelines import ingest, settings
from pipelines.tools import daemon_lock, dagster_home, postgres
from tests.daemon_common import wait_for
from tests.helpers import csv_bytes, submit, ticket

# Takes the lock as the daemon does, then becomes another program (here: sleep).
HOLDER = """
import os, sys
from pathlib import Path
from pipelines.tools import daemon_lock
kind, where = sys.argv[1], sys.argv[2]
fd = daemon_lock.try_postgres(where) if kind == "pg" else daemon_lock.try_file(Path(where))
assert fd is not None, "the lock was free"
print("locked", flush=True)
os.execv("/bin/sleep", ["sleep", "120"])
"""


def _holder(kind: str, where: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, kind, where], cwd=settings.REPO_ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def _advisory_holders(server: postgres.Server) -> int:
    """Sessions holding an advisory lock that were opened by daemon_lock."""
    con = psycopg2.connect(server.dsn)
    try:
        with con.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = 'shuzhong-daemon-lock'"
            )
            return cur.fetchone()[0]
    finally:
        con.close()


@pytest.fixture
def pg_server():
    with postgres.running(database="dagster") as server:
        yield server


def test_file_lock_survives_exec_and_ends_with_the_process(tmp_path):
    proc = _holder("file", str(tmp_path))
    try:
        # "locked" is printed just before the exec: wait until the holder is another program
        assert dagster_home.wait_until(
            lambda: Path(f"/proc/{proc.pid}/exe").resolve().name == "sleep", timeout=30, interval=0.05
        )
        assert daemon_lock.try_file(tmp_path) is None
        assert daemon_lock.acquire(tmp_path, None, log=lambda m: None, wait=False) is None
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    fd = daemon_lock.try_file(tmp_path)
    assert fd is not None
    assert daemon_lock.try_file(tmp_path) is None  # exclusive within one process too (separate opens)


def test_postgres_lock_survives_exec_and_ends_with_the_process(pg_server):
    proc = _holder("pg", pg_server.url)
    try:
        assert _advisory_holders(pg_server) == 1
        assert daemon_lock.try_postgres(pg_server.url) is None
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert dagster_home.wait_until(lambda: _advisory_holders(pg_server) == 0, timeout=30, interval=0.2)
    assert daemon_lock.try_postgres(pg_server.url) is not None


def _daemon_processes(proc: subprocess.Popen) -> list[str]:
    """Command lines of ``dagster-daemon`` processes in ``proc``'s process group."""
    out = []
    for pid in dagster_home.group_members(proc.pid):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "pipelines.tools.daemon_run run" in cmd:  # `dagster-daemon run` (pipelines/tools/daemon_run.py)
            out.append(cmd)
    return out


def _ingest_runs(instance: DagsterInstance, key: str) -> list:
    runs = instance.get_runs(RunsFilter(tags={"shuzhong/kind": "ingest"}))
    return [r for r in runs if key in str(r.run_config)]


def test_second_daemon_on_one_postgres_instance_is_a_standby(pg_server, daemon_home, unique, tmp_path, monkeypatch):
    _, procs = daemon_home
    monkeypatch.setenv(dagster_home.PG_URL_VAR, pg_server.url)
    monkeypatch.setenv(daemon_lock.STANDBY_VAR, "1")
    home_a = dagster_home.prepare(tmp_path / "machine-a")  # two DAGSTER_HOMEs: two machines
    home_b = dagster_home.prepare(tmp_path / "machine-b")
    a = dagster_home.start_daemon(home_a)
    procs.append(a)
    wait_for(lambda: _daemon_processes(a), "daemon A to run", home_a, 180)
    b = dagster_home.start_daemon(home_b)
    procs.append(b)
    wait_for(lambda: "standby:" in (home_b / "daemon.log").read_text(), "daemon B to wait as standby", home_b, 120)

    instance = DagsterInstance.get()  # machine-b's home; the same PostgreSQL instance
    try:
        first = f"hotline/tickets/2026-03-05/{unique}-a.csv"
        submit(first, csv_bytes([ticket(1, 诉求内容=f"值守 {unique} a")]))
        wait_for(lambda: ingest.read_receipt(first), "the first file's receipt", home_a, 300)
        assert ingest.read_receipt(first)["status"] == "accepted"
        assert len(_ingest_runs(instance, first)) == 1
        assert _daemon_processes(b) == [], "the standby runs no daemon"
        assert _advisory_holders(pg_server) == 1

        dagster_home.kill(a)  # machine A dies: SIGKILL to the daemon and its code server
        wait_for(lambda: _daemon_processes(b), "daemon B to take over", home_b, 180)
        assert "daemon lock taken" in (home_b / "daemon.log").read_text()
        second = f"hotline/tickets/2026-03-06/{unique}-b.csv"
        submit(second, csv_bytes([ticket(2, 诉求内容=f"值守 {unique} b")]))
        wait_for(lambda: ingest.read_receipt(second), "the second file's receipt", home_b, 300)
        assert ingest.read_receipt(second)["status"] == "accepted"
        assert len(_ingest_runs(instance, second)) == 1
        assert len(_ingest_runs(instance, first)) == 1  # not ingested again by the new daemon
    finally:
        instance.dispose()
