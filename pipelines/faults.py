"""Crash points for the crash-safety tests: ``SHUZHONG_CRASH_AT=<point>`` SIGKILLs the process there.

Off unless the variable is set; it names exactly one point, so production runs never stop here.
"""

from __future__ import annotations

import os
import signal

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


class InjectedFault(RuntimeError):
    """An infrastructure failure injected by ``SHUZHONG_FAIL_AT`` (tests of retries and failed receipts)."""


def fail_point(name: str, key: str = "") -> None:
    """Raise :class:`InjectedFault` at ``name`` when ``SHUZHONG_FAIL_AT`` names it (and, if
    ``SHUZHONG_FAIL_KEY`` is set, only for object keys containing it): a poison file or an outage."""
    if os.environ.get("SHUZHONG_FAIL_AT") == name and os.environ.get("SHUZHONG_FAIL_KEY", "") in key:
        raise InjectedFault(f"injected failure at {name}")
