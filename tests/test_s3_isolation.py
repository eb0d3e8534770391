"""Only signed S3 requests reach data: raw HTTP to weed's filer, master and volume ports gets nothing."""

from __future__ import annotations

import re
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from pipelines.tools import s3server


def _ports(pid: int) -> dict[str, int]:
    """weed's listening ports, from its command line (``-master.port=N`` ...)."""
    args = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    return {m[1]: int(m[2]) for a in args if (m := re.match(r"^-([a-z.]+port[a-z.]*)=(\d+)$", a))}


def _raw(method: str, url: str, data: bytes | None = None) -> tuple[int | str, bytes]:
    """A request without any credentials; (status or error name, body)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, method=method), timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError as exc:
        return type(exc).__name__, b""


def _fid(env: dict[str, Any], ports: dict[str, int], path: str) -> str:
    """The volume file id of a filer path, asked over authorised gRPC (the node certificate)."""
    sec = env["data_dir"] / s3server.SECURITY_DIR
    out = subprocess.run(
        [
            str(s3server.weed_binary()),
            f"-config_dir={sec}",
            "shell",
            f"-master=127.0.0.1:{ports['master.port']}.{ports['master.port.grpc']}",
            f"-filer=127.0.0.1:{ports['filer.port']}.{ports['filer.port.grpc']}",
        ],
        input=f"fs.meta.cat {path}\n",
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    match = re.search(r'"fileId":\s*"([^"]+)"', out)
    assert match, out[-2000:]
    return match.group(1)


def _denied(status: int | str) -> bool:
    return not (isinstance(status, int) and 200 <= status < 300)


def test_filer_master_volume_refuse_unauthenticated(s3_env, s3_client, unique):
    ports = _ports(s3_env["pid"])
    filer, master, volume = (f"http://127.0.0.1:{ports[p]}" for p in ("filer.port", "master.port", "volume.port"))
    pipeline = s3_client("pipeline")
    secret = b"market-secret-" + unique.encode()
    s3_client("market").put_object(Bucket="landing", Key=f"market/{unique}.csv", Body=secret)
    pipeline.put_object(Bucket="published", Key=f"conditional/hotline.tickets/{unique}.csv", Body=secret)
    pipeline.put_object(Bucket="lake", Key=f"ledger/entries/{unique}.json", Body=b'{"seq": 1}')
    pipeline.put_object(Bucket="receipts", Key=f"hotline/{unique}.receipt.json", Body=b'{"ok": 1}')

    attacks = {
        "filer GET another bureau's landing file": ("GET", f"{filer}/buckets/landing/market/{unique}.csv", None),
        "filer GET conditional published data": (
            "GET",
            f"{filer}/buckets/published/conditional/hotline.tickets/{unique}.csv",
            None,
        ),
        "filer listing": ("GET", f"{filer}/buckets/landing/market/?pretty=y", None),
        "filer PUT over a ledger entry": ("PUT", f"{filer}/buckets/lake/ledger/entries/{unique}.json", b"forged"),
        "filer POST over a ledger entry": ("POST", f"{filer}/buckets/lake/ledger/entries/{unique}.json", b"forged"),
        "filer DELETE a receipt": ("DELETE", f"{filer}/buckets/receipts/hotline/{unique}.receipt.json", None),
        "master /dir/assign": ("GET", f"{master}/dir/assign", None),
        "master /dir/lookup": ("GET", f"{master}/dir/lookup?volumeId=1", None),
    }
    for name, (method, url, data) in attacks.items():
        status, body = _raw(method, url, data)
        assert _denied(status), f"{name}: {status} {body[:200]!r}"
        assert secret not in body, name

    fid = _fid(s3_env, ports, f"/buckets/landing/market/{unique}.csv")
    for method, data in (("GET", None), ("PUT", b"forged"), ("POST", b"forged"), ("DELETE", None)):
        status, body = _raw(method, f"{volume}/{fid}", data)
        assert _denied(status), f"volume {method} {fid}: {status} {body[:200]!r}"
        assert secret not in body

    # Everything is still there, unchanged, through S3.
    assert s3_client("market").get_object(Bucket="landing", Key=f"market/{unique}.csv")["Body"].read() == secret
    assert pipeline.get_object(Bucket="lake", Key=f"ledger/entries/{unique}.json")["Body"].read() == b'{"seq": 1}'
    assert pipeline.get_object(Bucket="receipts", Key=f"hotline/{unique}.receipt.json")["Body"].read() == b'{"ok": 1}'


def test_grpc_without_node_certificate_is_refused(s3_env):
    ports = _ports(s3_env["pid"])
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run(
            [
                str(s3server.weed_binary()),
                f"-config_dir={s3_env['home'] / 'nonexistent'}",
                "shell",
                f"-master=127.0.0.1:{ports['master.port']}.{ports['master.port.grpc']}",
                f"-filer=127.0.0.1:{ports['filer.port']}.{ports['filer.port.grpc']}",
            ],
            input="fs.ls /buckets\n",
            capture_output=True,
            text=True,
            timeout=15,
        )


def test_state_is_private(s3_env):
    home: Path = s3_env["home"]
    for path in [home, *home.rglob("*")]:
        if path.is_socket() or path.is_symlink():
            continue
        mode = path.stat().st_mode & 0o777
        if path.is_dir():
            assert mode == 0o700, f"{path}: {oct(mode)}"
        elif path.suffix != ".vif":  # weed writes volume info files 0644 (no object data; dir is 0700)
            assert mode & 0o077 == 0, f"{path}: {oct(mode)}"
    sec = s3_env["data_dir"] / s3server.SECURITY_DIR
    assert (sec / "security.toml").stat().st_mode & 0o777 == 0o600
    assert 'key = ""' not in (sec / "security.toml").read_text()
