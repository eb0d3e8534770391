"""The daemon's code server, whose run workers start from a warm process instead of a cold one.

Dagster's gRPC code server starts every run in a new interpreter (multiprocessing ``spawn``),
which imports Dagster, dagster-dbt, the code location and, in an ingestion run, Great
Expectations again: 6–10 s of CPU per run on this hardware, most of the cost of a small load.
Started through this module, the server starts its run workers with multiprocessing
``forkserver`` instead: one helper process imports those modules once (nothing else — no
connection, no thread pool, no cached configuration) and forks a worker per run. A worker
still runs Dagster's own ``start_run_in_subprocess`` with the run's arguments, reads the
instance and the environment as before, and is terminated the same way; only the import cost
is gone. ``SHUZHONG_RUN_WORKER_START=spawn`` keeps Dagster's default.

Usage (as ``dagster api grpc``): ``python -m pipelines.tools.code_server -m pipelines.definitions ...``
"""

from __future__ import annotations

import multiprocessing
import os
import sys

START_METHOD_VAR = "SHUZHONG_RUN_WORKER_START"
# Imported once by the fork server. Only imports: a module that opened a connection or started
# a thread pool at import time would hand a copy of it to every worker.
PRELOAD = ["pipelines.tools.run_worker_preload"]


def start_method() -> str:
    """``forkserver`` (default) or ``spawn`` (Dagster's own), from ``SHUZHONG_RUN_WORKER_START``."""
    method = os.environ.get(START_METHOD_VAR, "forkserver").strip() or "forkserver"
    if method not in ("forkserver", "spawn"):
        raise SystemExit(f"{START_METHOD_VAR} must be 'forkserver' or 'spawn', not {method!r}")
    return method


def use_start_method(method: str) -> None:
    """Make every Dagster code server created in this process start run workers with ``method``."""
    from dagster._grpc import server

    if method == "spawn":
        return
    context = multiprocessing.get_context(method)
    context.set_forkserver_preload(PRELOAD)
    original_init = server.DagsterApiServer.__init__

    def init(self, *args, **kwargs) -> None:
        original_init(self, *args, **kwargs)
        self._mp_ctx = context  # Dagster hard-codes get_context("spawn") here

    server.DagsterApiServer.__init__ = init
    # Start the fork server (and its imports) now, not on the first run.
    from multiprocessing import forkserver

    forkserver.ensure_running()


def main(argv: list[str]) -> None:
    use_start_method(start_method())
    from dagster._cli import main as dagster_main

    sys.argv = ["dagster", "api", "grpc", *argv]
    dagster_main()


if __name__ == "__main__":
    main(sys.argv[1:])
