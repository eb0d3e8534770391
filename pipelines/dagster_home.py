"""The local Dagster instance: DAGSTER_HOME under the state folder, with the repo's dagster.yaml."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipelines import settings


def prepare(home: Path | None = None) -> Path:
    """Create DAGSTER_HOME (default ``<state>/dagster``) with the repo's ``dagster.yaml``."""
    home = Path(home or settings.state_dir() / "dagster")
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(settings.REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def start_daemon(home: Path, log: Path | None = None) -> subprocess.Popen:
    """Start ``dagster-daemon run`` in its own process group (so it can be stopped cleanly)."""
    settings.export_defaults()
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    log = log or home / "daemon.log"
    return subprocess.Popen(
        [_bin("dagster-daemon"), "run", "-m", "pipelines.definitions", "--working-directory",
         str(settings.REPO_ROOT)],
        cwd=settings.REPO_ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM the process group, SIGKILL after ``timeout`` seconds."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


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
