"""One Dagster daemon per instance: a lock held for the daemon's whole life, standby otherwise.

Dagster does not support two daemons on one instance (both would tick the sensors, the
daily settlement and the run queue; Dagster only logs a heartbeat warning). The hub
enforces it: before it becomes ``dagster-daemon run``, the daemon takes

- with PostgreSQL instance storage (``SHUZHONG_DAGSTER_PG_URL``): a session-level advisory
  lock (``pg_try_advisory_lock``) in that database, so daemons on different machines pointed
  at one instance exclude each other;
- with SQLite storage in ``DAGSTER_HOME``: an exclusive ``flock`` on ``DAGSTER_HOME/daemon.lock``.

The lock's file descriptor (the PostgreSQL connection's socket, or the lock file) is made
inheritable and survives the ``exec`` into ``dagster-daemon``: the lock lasts exactly as long
as the daemon process, however it ends (the kernel closes the descriptor; PostgreSQL ends
the session and frees the lock). A second daemon waits as a standby, retrying every
``SHUZHONG_DAEMON_STANDBY_SECONDS`` (default 5), and takes over when the first one is gone.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

STANDBY_VAR = "SHUZHONG_DAEMON_STANDBY_SECONDS"
LOCK_NAME = "shuzhong/dagster-daemon"


def advisory_key(name: str = LOCK_NAME) -> int:
    """A stable signed 64-bit key for ``pg_try_advisory_lock``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _dsn(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+psycopg2://", "postgresql://", 1)


def try_postgres(url: str) -> int | None:
    """The socket of a session holding the daemon's advisory lock, or None if another holds it."""
    import psycopg2

    con = psycopg2.connect(_dsn(url), application_name="shuzhong-daemon-lock", keepalives=1, keepalives_idle=30)
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", (advisory_key(),))
        (got,) = cur.fetchone()
    if not got:
        con.close()
        return None
    # Keep the session past this interpreter: a duplicate of its socket, inheritable across exec.
    # The psycopg2 object is dropped without closing (closing would end the session and the lock).
    fd = os.dup(con.fileno())
    os.set_inheritable(fd, True)
    _KEEP.append(con)
    return fd


def try_file(home: Path) -> int | None:
    """A descriptor holding an exclusive ``flock`` on ``home/daemon.lock``, or None if held."""
    fd = os.open(home / "daemon.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    os.set_inheritable(fd, True)
    return fd


_KEEP: list = []  # lock connections, never garbage-collected (that would close their sessions)


def acquire(home: Path, pg_url: str | None, log: Callable[[str], None] | None = None, wait: bool = True) -> int | None:
    """Take the instance's daemon lock, waiting as a standby while another daemon holds it.
    Returns the descriptor that holds it (inheritable); None only when ``wait`` is false."""
    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    interval = float(os.environ.get(STANDBY_VAR, "5"))
    where = "PostgreSQL advisory lock" if pg_url else f"{home / 'daemon.lock'}"
    waited = 0.0
    while True:
        fd = try_postgres(pg_url) if pg_url else try_file(home)
        if fd is not None:
            log(f"daemon lock taken ({where}); this is the instance's only daemon")
            return fd
        if not wait:
            return None
        if waited == 0 or waited // 60 != (waited + interval) // 60:
            log(f"standby: another daemon holds the instance's daemon lock ({where}); retrying every {interval:g} s")
        time.sleep(interval)
        waited += interval
