"""A throwaway PostgreSQL server: loopback port, its own data directory, stopped when done.

Used by the tests to run Dagster's instance storage on a real PostgreSQL (see
``dagster_home.PG_URL_VAR``), and usable for a local trial of that set-up. It is not a way
to run a production database: no backups, no tuning for durability (``fsync`` is off).

The server binaries are Debian's ``postgresql`` package (``make setup`` installs it):
``/usr/lib/postgresql/<version>/bin`` (the newest), or ``SHUZHONG_PG_BIN_DIR``, or
``pg_ctl`` on ``PATH``. PostgreSQL refuses to run as root, so as root the data directory
belongs to the unprivileged ``postgres`` user (created by that package) and every server
command runs through ``runuser -u postgres --``.

Only 127.0.0.1 is listened on, Unix sockets are off, and ``pg_hba.conf`` admits one role
with a generated password (SCRAM) from 127.0.0.1: nothing else can connect.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

BIN_DIR_VAR = "SHUZHONG_PG_BIN_DIR"
SERVER_USER = "postgres"  # the OS user the server runs as when we are root (Debian's package creates it)
REQUIRED = ("initdb", "pg_ctl", "postgres")
INSTALL_HINT = "install Debian's postgresql package (`make setup` does: apt-get install -y postgresql)"


class PostgresUnavailable(RuntimeError):
    """The server binaries (or, as root, the ``postgres`` user) are missing."""


def bin_dir() -> Path:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``."""
    candidates: list[Path] = []
    if os.environ.get(BIN_DIR_VAR):
        candidates.append(Path(os.environ[BIN_DIR_VAR]))
    else:
        versions = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.parent.name.isdigit()]
        candidates += sorted(versions, key=lambda p: int(p.parent.name), reverse=True)
        if found := shutil.which("pg_ctl"):
            candidates.append(Path(found).resolve().parent)
    for d in candidates:
        if all(os.access(d / name, os.X_OK) for name in REQUIRED):
            return d
    where = os.environ.get(BIN_DIR_VAR) or "/usr/lib/postgresql/<version>/bin or PATH"
    raise PostgresUnavailable(
        f"PostgreSQL server binaries ({', '.join(REQUIRED)}) not found in {where}: {INSTALL_HINT}"
    )


def version() -> str:
    out = subprocess.run([str(bin_dir() / "postgres"), "--version"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running server: ``url`` reaches database ``database`` as role ``user`` over 127.0.0.1."""

    root: Path  # holds data/, server.log; removed by stop()
    port: int
    user: str
    password: str
    database: str
    run_as: str | None  # OS user the server commands run as (None: the current user)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    @property
    def dsn(self) -> str:
        """libpq connection URL (``psycopg2.connect(server.dsn)``, ``psql``)."""
        return (
            f"postgresql://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@127.0.0.1:{self.port}/{quote(self.database, safe='')}"
        )

    @property
    def url(self) -> str:
        """SQLAlchemy URL naming the psycopg2 driver, the form ``SHUZHONG_DAGSTER_PG_URL`` takes
        (SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3, which is not installed)."""
        return "postgresql+psycopg2://" + self.dsn.removeprefix("postgresql://")

    def pid(self) -> int | None:
        """The postmaster's pid from ``postmaster.pid`` (None when not running)."""
        try:
            first = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
        except OSError:
            return None
        return int(first) if first.strip().isdigit() else None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no server log)"

    def stop(self, remove: bool = True, timeout: float = 60) -> None:
        """``pg_ctl stop -m fast``; SIGKILL the postmaster if it is still there; remove the files."""
        pid = self.pid()
        if pid is not None:
            proc = _run(
                self.run_as,
                [
                    str(bin_dir() / "pg_ctl"),
                    "stop",
                    "-D",
                    str(self.data_dir),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    str(int(timeout)),
                ],
                cwd=self.root,
                check=False,
            )
            if _alive(pid):
                os.kill(pid, 9)  # its backends exit when the postmaster goes
                deadline = time.monotonic() + 10
                while _alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.1)
                if proc.returncode == 0:
                    raise RuntimeError(f"pg_ctl stop returned but postmaster {pid} was still running (killed)")
            _reap(pid)
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)


def _reap(pid: int) -> None:
    """Collect the exit status of the postmaster if it became our child (a child subreaper,
    such as the test session, inherits it when pg_ctl exits)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours is not running
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _run(run_as: str | None, cmd: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    if run_as:
        cmd = ["runuser", "-u", run_as, "--", *cmd]
    # stdin/stdout/stderr never the caller's: the daemonised postmaster must not hold pytest's pipes.
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"},
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return proc


def _server_user() -> tuple[str | None, int | None, int | None]:
    if os.geteuid() != 0:
        return None, None, None
    try:
        entry = pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root, PostgreSQL needs the unprivileged user {SERVER_USER!r}, "
            f"which does not exist: {INSTALL_HINT}"
        ) from None
    if not shutil.which("runuser"):
        raise PostgresUnavailable("running as root, `runuser` (util-linux) is needed to start PostgreSQL")
    return SERVER_USER, entry.pw_uid, entry.pw_gid


_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def start(database: str = "dagster", user: str = "shuzhong", startup_timeout: float = 60, attempts: int = 3) -> Server:
    """initdb a fresh data directory in the system temp folder, start the server on a free
    127.0.0.1 port, create ``database`` owned by ``user``; return the running :class:`Server`.

    The caller must :meth:`Server.stop` it (or use :func:`running`)."""
    if not (_NAME.match(database) and _NAME.match(user)):
        raise ValueError("database and user: lower-case letters, digits and _")
    bins = bin_dir()
    run_as, uid, gid = _server_user()
    root = Path(tempfile.mkdtemp(prefix="shuzhong-pg-"))  # 0700; the server's own user owns it
    server = Server(root=root, port=0, user=user, password=secrets.token_urlsafe(24), database=database, run_as=run_as)
    try:
        if uid is not None:
            os.chown(root, uid, gid)
        pwfile = root / "pwfile"
        pwfile.write_text(server.password + "\n")
        if uid is not None:
            os.chown(pwfile, uid, gid)
        os.chmod(pwfile, 0o600)
        _run(
            run_as,
            [
                str(bins / "initdb"),
                "-D",
                str(server.data_dir),
                "-U",
                user,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-instructions",
            ],
            cwd=root,
        )
        pwfile.unlink()
        # Only this role, only with its password, only over 127.0.0.1.
        (server.data_dir / "pg_hba.conf").write_text(
            "# pipelines/tools/postgres.py: one role, with its password, from 127.0.0.1 only\n"
            f"host  all  {user}  127.0.0.1/32  scram-sha-256\n"
        )
        with (server.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# pipelines/tools/postgres.py: a throwaway server\n"
                "listen_addresses = '127.0.0.1'\n"
                "unix_socket_directories = ''\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "max_connections = 50\nshared_buffers = 32MB\n"
            )
        for attempt in range(attempts):
            server.port = _free_port()
            proc = _run(
                run_as,
                [
                    str(bins / "pg_ctl"),
                    "start",
                    "-D",
                    str(server.data_dir),
                    "-l",
                    str(server.log_file),
                    "-w",
                    "-t",
                    str(int(startup_timeout)),
                    "-o",
                    f"-p {server.port}",
                ],
                cwd=root,
                check=False,
            )
            if proc.returncode == 0:
                break
            if server.pid() is not None and _alive(server.pid()):
                server.stop(remove=False)
            in_use = "could not bind" in server.log_tail() or "already in use" in server.log_tail()
            if not in_use or attempt == attempts - 1:
                raise RuntimeError(
                    f"PostgreSQL did not start (pg_ctl {proc.returncode}): "
                    f"{proc.stdout[-1000:]}{proc.stderr[-1000:]}\nserver log:\n{server.log_tail()}"
                )
        _create_database(server)
        return server
    except BaseException:
        server.stop()
        raise


def _create_database(server: Server) -> None:
    import psycopg2

    con = psycopg2.connect(
        host="127.0.0.1",
        port=server.port,
        user=server.user,
        password=server.password,
        dbname="postgres",
        connect_timeout=10,
    )
    try:
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{server.database}" OWNER "{server.user}"')
    finally:
        con.close()


@contextmanager
def running(**kwargs) -> Iterator[Server]:
    """:func:`start`, yield the server, stop it and remove its files however the block ends."""
    server = start(**kwargs)
    try:
        yield server
    finally:
        server.stop()
