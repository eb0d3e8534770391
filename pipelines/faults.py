"""Crash points for the crash-safety tests: ``SHUZHONG_CRASH_AT=<point>`` SIGKILLs the process there.

Off unless the variable is set; it names exactly one point, so production runs never stop here.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

POINTS = (
    "after_download",
    "before_archive",
    "before_raw_commit",
    "after_raw_commit",
    "before_ledger",
    "before_registry",
    "before_receipt",
    "between_receipt_files",
    "before_publish_swap",
    "after_publish_swap",
)


def crash_point(name: str) -> None:
    if os.environ.get("SHUZHONG_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def stall_point(name: str) -> None:
    """Hang at ``name`` when ``SHUZHONG_STALL_AT`` names it (the maximum-run-time test): sleeps
    ``SHUZHONG_STALL_SECONDS`` (default 3600). With ``SHUZHONG_STALL_ONCE=<file>`` only the first
    process to get here hangs (it creates the file); later ones, e.g. the retry, go on."""
    if os.environ.get("SHUZHONG_STALL_AT") != name:
        return
    once = os.environ.get("SHUZHONG_STALL_ONCE")
    if once:
        try:
            Path(once).touch(exist_ok=False)
        except FileExistsError:
            return
    time.sleep(float(os.environ.get("SHUZHONG_STALL_SECONDS", "3600")))


class InjectedFault(RuntimeError):
    """An infrastructure failure injected by ``SHUZHONG_FAIL_AT`` (tests of retries and failed receipts)."""


def fail_point(name: str, key: str = "") -> None:
    """Raise :class:`InjectedFault` at ``name`` when ``SHUZHONG_FAIL_AT`` names it (and, if
    ``SHUZHONG_FAIL_KEY`` is set, only for object keys containing it): a poison file or an outage."""
    if os.environ.get("SHUZHONG_FAIL_AT") == name and os.environ.get("SHUZHONG_FAIL_KEY", "") in key:
        raise InjectedFault(f"injected failure at {name}")
