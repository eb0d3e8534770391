"""Shared fixtures: one throwaway SeaweedFS per test session.

``s3_env`` runs ``weed mini`` on free loopback ports in a temporary ``SHUZHONG_HOME``
with freshly generated keys, so it never touches (or collides with) a developer's
running demo or their ``.state/shuzhong.env``. Tests should use their own keys or
prefixes (e.g. :func:`unique`) rather than expect empty buckets.

``no_leftover_processes`` (session, autouse) fails the run when a process the tests started
(weed, a Dagster daemon or code server, dbt, ...) outlives the session.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pipelines import s3, settings
from pipelines.defs.ingestion import sensors
from pipelines.tools import dagster_home, s3server

_PR_SET_CHILD_SUBREAPER = 36
SERVER_FIXTURES = {"s3_env"}  # a test that needs the real S3 server (and so Delta, the daemon, ...)
# Longest first (seconds on one worker, measured), so that two workers start the long ones at once
# instead of one worker running them back to back at the end. `make test` passes
# --no-loadscope-reorder: otherwise xdist re-sorts its work units (files) by test count and a
# one-test file such as the Celery test, though the longest, would start last.
LONGEST_FIRST = [
    "test_celery_workers.py",
    "test_kpi_oracle.py",  # with test_web.py: one work unit, one built scenario (SHARED_HUB)
    "test_web.py",
    "test_daemon_e2e.py",
    "test_leakscan.py",
    "test_run_timeout.py",
    "test_dbt_hotline.py",
    "test_postgres_storage.py",
    "test_sensor_bounded.py",
    "test_daemon_burst.py",
    "test_published_keys.py",
    "test_daemon_lock.py",
    "test_bench_baseline.py",
    "test_dbt_datasets.py",
    "test_dbt_kpi_findings.py",
    "test_reprocess.py",
    "test_add_a_dataset.py",
]
# Modules that read the one hub built from the oracle's seeded scenario (fixture scenario_hub):
# `make test` (pytest-xdist --dist loadfile) runs them on one worker, so it is built once.
SHARED_HUB = ("test_kpi_oracle.py", "test_web.py")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "s3: needs the session's real SeaweedFS server (deselected by make test-fast)")
    config.addinivalue_line("markers", "dbt: runs dbt builds of the project (deselected by make test-fast)")


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile`` (``make test``), with the SHARED_HUB files in one work unit (one worker)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class HubFileScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            return "shared-hub" if scope.rsplit("/", 1)[-1] in SHARED_HUB else scope

    return HubFileScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test whose fixtures (directly or through others) include the S3 server, so
    ``make test-fast`` (``-m "not s3"``) runs the rest: contracts, parsing, validation, calendar..."""
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.s3)
    items.sort(
        key=lambda item: LONGEST_FIRST.index(item.path.name) if item.path.name in LONGEST_FIRST else len(LONGEST_FIRST)
    )


LEFTOVER_GRACE_S = 15.0


def _processes() -> dict[int, dict[str, Any]]:
    """Every process of this machine from ``/proc``: pid → ppid, state, cmdline, cwd."""
    out: dict[int, dict[str, Any]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            cwd = ""
        out[int(entry.name)] = {"state": fields[0], "ppid": int(fields[1]), "cmdline": cmdline, "cwd": cwd}
    return out


# multiprocessing's resource tracker / forkserver belong to the pytest process itself: they
# exit when it exits (their pipe closes), so they cannot outlive the test run.
_OWN_HELPERS = re.compile(r"multiprocessing\.(resource_tracker|forkserver)")


def _started_by_tests(root: int, temp_dir: str) -> dict[int, dict[str, Any]]:
    """Live (not zombie) processes descending from ``root``, or whose cwd or command line is
    inside ``temp_dir`` (this session's pytest temporary directory)."""
    procs = _processes()
    inside = temp_dir.rstrip("/") + "/"

    def descends(pid: int) -> bool:
        seen = set()
        while pid in procs and pid not in seen and pid > 1:
            seen.add(pid)
            pid = procs[pid]["ppid"]
            if pid == root:
                return True
        return False

    return {
        pid: p
        for pid, p in procs.items()
        if pid != root
        and p["state"] != "Z"
        and not _OWN_HELPERS.search(p["cmdline"])
        and (descends(pid) or (p["cwd"] + "/").startswith(inside) or inside in p["cmdline"] + "/")
    }


def _reap_zombie_children() -> None:
    for pid, p in _processes().items():
        if p["ppid"] == os.getpid() and p["state"] == "Z":
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


@pytest.fixture(scope="session", autouse=True)
def no_leftover_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Fail the session if a process started by the tests is still alive when it ends.

    The pytest process becomes a child subreaper (Linux), so processes orphaned by the tests
    (a daemon's code server whose daemon was SIGKILLed) are re-parented to it and still count
    as its descendants. Leftovers get ``LEFTOVER_GRACE_S`` to exit, are then listed, stopped
    (SIGTERM, then SIGKILL) and the session fails."""
    if not sys.platform.startswith("linux"):
        yield
        return
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    temp_dir = str(tmp_path_factory.getbasetemp().resolve())
    yield
    deadline = time.monotonic() + LEFTOVER_GRACE_S
    while (left := _started_by_tests(os.getpid(), temp_dir)) and time.monotonic() < deadline:
        _reap_zombie_children()
        time.sleep(0.5)
    _reap_zombie_children()
    if not left:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in set(left) & set(_started_by_tests(os.getpid(), temp_dir)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        time.sleep(3)
        _reap_zombie_children()
    listing = "\n".join(f"  pid {pid} (cwd {p['cwd']}): {p['cmdline'][:300]}" for pid, p in sorted(left.items()))
    pytest.fail(
        f"{len(left)} process(es) started by the tests were still running {LEFTOVER_GRACE_S:.0f} s "
        f"after the session ended (now stopped):\n{listing}",
        pytrace=False,
    )


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


@pytest.fixture(scope="session")
def s3_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A running SeaweedFS with the hub's identities and buckets, for the whole session.

    Yields ``endpoint``, ``home`` (the temporary ``SHUZHONG_HOME``), ``data_dir``,
    ``env_file``, ``buckets`` (:class:`settings.Buckets`) and ``pid``. All ``SHUZHONG_*``
    variables are set in ``os.environ`` for the session and restored afterwards.
    """
    home = tmp_path_factory.mktemp("shuzhong_home")
    with pytest.MonkeyPatch.context() as mp:
        # Nothing from the developer's shell or .state/shuzhong.env may leak in.
        for key in [k for k in os.environ if k.startswith("SHUZHONG_")]:
            mp.delenv(key)
        mp.setenv("SHUZHONG_HOME", str(home))
        assert settings.env_file() == home / "shuzhong.env"

        port = s3server.free_port()
        endpoint = f"http://127.0.0.1:{port}"
        s3server.init_local_env(endpoint=endpoint)
        for key, value in _read_env_file(settings.env_file()).items():
            mp.setenv(key, value)

        data_dir = home / "s3"
        proc, endpoint = s3server.start_ephemeral(data_dir, s3_port=port)
        try:
            yield {
                "endpoint": endpoint,
                "home": home,
                "data_dir": data_dir,
                "env_file": settings.env_file(),
                "buckets": settings.buckets(),
                "pid": proc.pid,
            }
        finally:
            s3server.stop(data_dir, proc)


@pytest.fixture(scope="session")
def scenario_hub(s3_env: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Callable[[int], Any]:
    """``scenario_hub(seed)``: the :mod:`tests.oracle.hub` built from that seed, once per worker."""
    from tests.oracle import hub

    built: dict[int, hub.Hub] = {}

    def get(seed: int) -> hub.Hub:
        if seed not in built:
            built[seed] = hub.build(seed, tmp_path_factory.mktemp(f"scenario-{seed}"))
        return built[seed]

    return get


@pytest.fixture
def s3_client(s3_env: dict[str, Any]) -> Callable[..., Any]:
    """Factory of boto3 clients on the session's server: ``s3_client("hotline")``."""
    return lambda identity="pipeline": s3.client(identity)


@pytest.fixture
def unique() -> str:
    """A short unique token for keys/prefixes of one test."""
    return uuid.uuid4().hex[:12]


@pytest.fixture
def lake_root(s3_env: dict[str, Any], unique: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh lake root (raw, quarantine, archive, registry) for one test, on the session's S3."""
    uri = f"s3://{settings.buckets().lake}/t-{unique}"
    monkeypatch.setenv("SHUZHONG_LAKE_URI", uri)
    return uri


@pytest.fixture
def daemon_home(lake_root, tmp_path, monkeypatch):
    """A private Dagster home (work DB, published files) for a test that starts the daemon;
    the daemons it started are stopped at the end."""
    monkeypatch.setenv("SHUZHONG_WORK_DB", str(tmp_path / "work.duckdb"))
    monkeypatch.setenv("SHUZHONG_PUBLISHED_DB", str(tmp_path / "published" / "warehouse.duckdb"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    # The session's landing bucket is the tests' own: clear what earlier tests left, so that the
    # sensor here sees only this test's objects (their own runs processed them already).
    client = s3.client("pipeline")
    for o in sensors.list_landing():
        client.delete_object(Bucket=settings.buckets().landing, Key=o["key"])
    home = dagster_home.prepare(tmp_path / "dagster")
    procs = []
    yield home, procs
    for p in procs:
        dagster_home.stop(p)
