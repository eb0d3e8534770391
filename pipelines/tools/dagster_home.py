"""The local Dagster instance: DAGSTER_HOME under the state folder, with the repo's dagster.yaml."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipelines import settings

# Set to a PostgreSQL URL (postgresql+psycopg2://user:password@host:port/db), Dagster's run, event-log
# and schedule storage go to that database instead of SQLite files in DAGSTER_HOME.
PG_URL_VAR = "SHUZHONG_DAGSTER_PG_URL"
PG_URL_SCHEME = "postgresql+psycopg2://"  # dagster-postgres' driver, named: SQLAlchemy 2.1 defaults to psycopg 3

POSTGRES_STORAGE = f"""
# Written by pipelines/dagster_home.py because {PG_URL_VAR} is set: run, event-log and
# schedule storage in PostgreSQL (dagster-postgres). Every Dagster process reads the URL,
# password included, from its environment; it is never written to this file.
storage:
  postgres:
    postgres_url:
      env: {PG_URL_VAR}

# Steps may run on other machines (Celery workers): their stdout/stderr go to S3, not to a
# path under this DAGSTER_HOME (pipelines/tools/compute_logs.py).
compute_logs:
  module: pipelines.tools.compute_logs
  class: LakeComputeLogManager
"""


def instance_yaml() -> str:
    """The instance configuration: the repo's ``dagster.yaml`` (SQLite storage in DAGSTER_HOME),
    plus, when ``SHUZHONG_DAGSTER_PG_URL`` is set, the PostgreSQL ``storage`` block and step logs in S3."""
    import yaml

    text = settings.bundled("dagster.yaml").read_text()
    url = os.environ.get(PG_URL_VAR, "").strip()
    if not url:
        return text
    if not url.startswith(PG_URL_SCHEME):
        hint = (
            f" (SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3, which is not installed: "
            f"write {PG_URL_SCHEME}...)"
            if url.startswith(("postgresql://", "postgres://"))
            else ""
        )
        raise ValueError(f"{PG_URL_VAR} must be a {PG_URL_SCHEME}user:password@host:port/database URL{hint}")
    base = yaml.safe_load(text) or {}
    clash = {"storage", "run_storage", "event_log_storage", "schedule_storage", "compute_logs"} & set(base)
    if clash:
        raise ValueError(f"dagster.yaml already configures {', '.join(sorted(clash))}: {PG_URL_VAR} cannot replace it")
    return text.rstrip("\n") + "\n" + POSTGRES_STORAGE


def prepare(home: Path | None = None) -> Path:
    """Create DAGSTER_HOME (default ``<state>/dagster``) with the repo's ``dagster.yaml``
    (:func:`instance_yaml`: PostgreSQL storage when ``SHUZHONG_DAGSTER_PG_URL`` is set)."""
    home = Path(home or settings.state_dir() / "dagster")
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(home, 0o700)  # private whatever the caller's umask (the instance holds the ledger's anchor)
    target = home / "dagster.yaml"
    tmp = home / f".dagster.yaml.{os.getpid()}.tmp"
    tmp.write_text(instance_yaml())
    os.chmod(tmp, 0o600)
    os.replace(tmp, target)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def start_daemon(home: Path, log: Path | None = None) -> subprocess.Popen:
    """Start the Dagster daemon with its code server, in their own process group (so both can
    be stopped cleanly): see :func:`serve_and_run_daemon`."""
    os.umask(0o077)  # the daemon, code server and run workers inherit it: private state
    settings.export_defaults()
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    log = log or home / "daemon.log"
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.tools.dagster_home"],
        cwd=settings.REPO_ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def serve_and_run_daemon(startup_timeout: float = 120) -> None:
    """Start one code server for the daemon's lifetime, then become ``dagster-daemon run``
    connected to it (the server stays a child of the daemon, in the same process group).

    Started with ``-m``, the daemon spawns its own code server and replaces it every 60 s
    (a new process loads the code while the old one lingers for 20 s): two code servers of
    ~0.4 GB each for a third of the time. With one long-lived server it only reconnects. A
    changed contract or dbt project therefore needs a daemon restart (as a new code location
    does anyway).

    First it takes the instance's daemon lock (:mod:`pipelines.tools.daemon_lock`), waiting
    as a standby while another daemon holds it: one daemon per instance, across machines
    when the instance is in PostgreSQL."""
    import socket

    from pipelines.tools import daemon_lock
    from pipelines.tools.s3server import free_port

    daemon_lock.acquire(Path(os.environ["DAGSTER_HOME"]), os.environ.get(PG_URL_VAR, "").strip() or None)
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipelines.tools.code_server",  # `dagster api grpc`, run workers forked from a warm process
            "-m",
            "pipelines.definitions",
            "--working-directory",
            str(settings.REPO_ROOT),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=settings.REPO_ROOT,
        preexec_fn=functools.partial(_exit_with_parent, os.getpid()),
    )
    deadline = time.monotonic() + startup_timeout
    while True:
        if server.poll() is not None:
            raise SystemExit(f"the code server exited with code {server.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                server.kill()
                raise SystemExit(f"the code server did not listen on port {port} in {startup_timeout:.0f} s") from None
            time.sleep(0.2)
    workspace = Path(os.environ["DAGSTER_HOME"]) / "workspace.yaml"
    workspace.write_text(  # the location keeps its name (sensor cursors and run keys are stored by it)
        "load_from:\n  - grpc_server:\n      host: 127.0.0.1\n"
        f"      port: {port}\n      location_name: {LOCATION_NAME}\n"
    )
    # `dagster-daemon run`, with a shorter sensor loop (pipelines/tools/daemon_run.py)
    os.execv(sys.executable, [sys.executable, "-m", "pipelines.tools.daemon_run", "run", "-w", str(workspace)])


LOCATION_NAME = "zaozhuang_hub"  # = [tool.dagster] code_location_name: `dagster dev` and the daemon share it
_PR_SET_PDEATHSIG = 1


def _exit_with_parent(parent: int) -> None:
    """In the code server, before exec: SIGTERM when its parent (the daemon) dies, however it
    dies (a SIGKILLed daemon otherwise leaves its code server running for ever, orphaned)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl
            os.kill(os.getpid(), signal.SIGTERM)


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, from ``/proc``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":  # state, ppid, pgrp
            members.append(int(entry.name))
    return members


def stop(proc: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM the daemon's process group, SIGKILL what is left after ``timeout`` seconds.

    The group is signalled even when the daemon itself has already exited (e.g. SIGKILLed):
    its code server may still be running in it."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        proc.poll()
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc.poll()
        if not group_members(proc.pid):
            return
        time.sleep(0.2)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL the whole process group (crash simulation)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def wait_until(predicate, timeout: float, interval: float = 2.0, on_wait=None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if on_wait:
            on_wait()
        time.sleep(interval)
    return predicate()


if __name__ == "__main__":
    serve_and_run_daemon()
