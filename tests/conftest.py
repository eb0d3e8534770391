"""Shared fixtures: one throwaway SeaweedFS per test session.

``s3_env`` runs ``weed mini`` on free loopback ports in a temporary ``SHUZHONG_HOME``
with freshly generated keys, so it never touches (or collides with) a developer's
running demo or their ``.state/shuzhong.env``. Tests should use their own keys or
prefixes (e.g. :func:`unique`) rather than expect empty buckets.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pipelines import s3, s3server, settings


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


@pytest.fixture(scope="session")
def s3_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A running SeaweedFS with the hub's identities and buckets, for the whole session.

    Yields ``endpoint``, ``home`` (the temporary ``SHUZHONG_HOME``), ``data_dir``,
    ``env_file``, ``buckets`` (:class:`settings.Buckets`) and ``pid``. All ``SHUZHONG_*``
    variables are set in ``os.environ`` for the session and restored afterwards.
    """
    home = tmp_path_factory.mktemp("shuzhong_home")
    with pytest.MonkeyPatch.context() as mp:
        # Nothing from the developer's shell or .state/shuzhong.env may leak in.
        for key in [k for k in os.environ if k.startswith("SHUZHONG_")]:
            mp.delenv(key)
        mp.setenv("SHUZHONG_HOME", str(home))
        assert settings.env_file() == home / "shuzhong.env"

        port = s3server.free_port()
        endpoint = f"http://127.0.0.1:{port}"
        s3server.init_local_env(endpoint=endpoint)
        for key, value in _read_env_file(settings.env_file()).items():
            mp.setenv(key, value)

        data_dir = home / "s3"
        proc, endpoint = s3server.start_ephemeral(data_dir, s3_port=port)
        try:
            yield {
                "endpoint": endpoint,
                "home": home,
                "data_dir": data_dir,
                "env_file": settings.env_file(),
                "buckets": settings.buckets(),
                "pid": proc.pid,
            }
        finally:
            s3server.stop(data_dir, proc)


@pytest.fixture
def s3_client(s3_env: dict[str, Any]) -> Callable[..., Any]:
    """Factory of boto3 clients on the session's server: ``s3_client("hotline")``."""
    return lambda identity="pipeline": s3.client(identity)


@pytest.fixture
def unique() -> str:
    """A short unique token for keys/prefixes of one test."""
    return uuid.uuid4().hex[:12]


@pytest.fixture
def lake_root(s3_env: dict[str, Any], unique: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh lake root (raw, quarantine, archive, registry) for one test, on the session's S3."""
    uri = f"s3://{settings.buckets().lake}/t-{unique}"
    monkeypatch.setenv("SHUZHONG_LAKE_URI", uri)
    return uri
