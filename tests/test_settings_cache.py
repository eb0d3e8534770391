"""``settings.get`` reads the env file once per process, and again only after the file changes."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pipelines import settings


def test_env_file_is_read_once_until_it_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("SHUZHONG_HOME", str(tmp_path))
    monkeypatch.delenv("SHUZHONG_TEST_CACHED", raising=False)
    monkeypatch.delenv("SHUZHONG_TEST_LATER", raising=False)
    path = settings.env_file()
    path.write_text("SHUZHONG_TEST_CACHED=1\n")
    reads = []
    real = Path.read_text

    def counting(self, *args, **kwargs):
        if self == path:
            reads.append(self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counting)
    for _ in range(2_000):
        assert settings.get("SHUZHONG_TEST_CACHED") == "1"
    assert len(reads) == 1
    path.write_text("SHUZHONG_TEST_CACHED=1\nSHUZHONG_TEST_LATER=2\n")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))  # a new mtime even on coarse clocks
    assert settings.get("SHUZHONG_TEST_LATER") == "2"
    assert len(reads) == 2
    os.environ.pop("SHUZHONG_TEST_CACHED", None)
    os.environ.pop("SHUZHONG_TEST_LATER", None)
