"""Waiting in the daemon end-to-end tests (their ``daemon_home`` fixture is in conftest.py).

The two daemon tests live in two files so that parallel workers (pytest-xdist, one file per
worker) run them at the same time."""

from __future__ import annotations

from pipelines.tools import dagster_home

TIMEOUT = 600  # a full dbt build under load takes minutes; waits end as soon as the condition holds


def wait_for(predicate, what: str, home, timeout: float = TIMEOUT) -> None:
    if not dagster_home.wait_until(predicate, timeout=timeout, interval=2):
        log = (home / "daemon.log").read_text()[-4000:]
        raise AssertionError(f"timed out waiting for {what}; daemon log tail:\n{log}")
