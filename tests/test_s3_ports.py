"""The embedded server starts beside other software holding weed's usual ports (Jupyter on 8888 ...)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines import settings
from pipelines.tools import cli, s3server


@pytest.fixture
def fresh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in [k for k in os.environ if k.startswith("SHUZHONG_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("SHUZHONG_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _hold(ports: tuple[int, ...]) -> tuple[list[socket.socket], set[int]]:
    held, taken = [], set()
    for port in ports:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
            held.append(sock)
        except OSError:  # already someone else's: taken all the same
            sock.close()
        taken.add(port)
    return held, taken


def test_start_and_submit_beside_taken_ports(fresh_home: Path, tmp_path: Path):
    held, taken = _hold((8888, 8333, 9333))
    assert held, "could bind none of 8888, 8333, 9333"
    data_dir = fresh_home / "s3"
    try:
        proc = s3server.start_local(data_dir)
        assert proc is not None
        try:
            recorded = json.loads((data_dir / s3server.PORTS_FILE).read_text())
            assert not taken & set(recorded.values()), recorded
            assert settings.s3_endpoint() == f"http://127.0.0.1:{recorded['s3.port']}"
            assert f"SHUZHONG_S3_ENDPOINT=http://127.0.0.1:{recorded['s3.port']}" in settings.env_file().read_text()
            export = tmp_path / "a.csv"
            export.write_bytes("工单编号\nZZ1\n".encode("gbk"))
            assert (
                cli.main(["submit", "--bureau", "hotline", "--dataset", "tickets", "--date", "2026-03-05", str(export)])
                == 0
            )
        finally:
            s3server.stop(data_dir, proc)
    finally:
        for sock in held:
            sock.close()


def test_pinned_port_taken_is_one_sentence(fresh_home: Path):
    held, _ = _hold((s3server.free_port(),))
    port = held[0].getsockname()[1]
    env = {**os.environ, "SHUZHONG_S3_ENDPOINT": f"http://127.0.0.1:{port}", "PYTHONPATH": str(settings.REPO_ROOT)}
    try:
        out = subprocess.run(
            [sys.executable, "-m", "pipelines.tools.cli", "s3", "start"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        held[0].close()
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    assert str(port) in out.stderr and "SHUZHONG_S3_ENDPOINT" in out.stderr, out.stderr
