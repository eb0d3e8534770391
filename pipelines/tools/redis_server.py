"""A throwaway Redis server on 127.0.0.1 (Debian's ``redis-server``), the Celery broker of the tests.

No persistence, a free port, stopped (and reaped) when the ``running`` block ends.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def binary() -> str:
    path = shutil.which("redis-server")
    if not path:
        raise RuntimeError("redis-server not found: `make setup` installs Debian's redis-server package")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def running(workdir: Path, startup_timeout: float = 30) -> Iterator[str]:
    """Start Redis in ``workdir``; yields its URL (``redis://127.0.0.1:PORT/0``)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    log = open(workdir / "redis.log", "w")
    proc = subprocess.Popen(
        [binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        + ["--dir", str(workdir)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + startup_timeout
        while not _ping(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start: {(workdir / 'redis.log').read_text()[-2000:]}")
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
