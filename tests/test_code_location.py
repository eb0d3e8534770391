"""One code location: `dagster dev` in the repository root, `make ui` and the daemon share its name,
and the sensors skip with one clear message while S3 is not configured or not up."""

from __future__ import annotations

import socket
import tomllib

from dagster import DagsterInstance, SkipReason, build_sensor_context

from pipelines import settings
from pipelines.defs.ingestion import sensors
from pipelines.tools import dagster_home


def test_dagster_dev_make_ui_and_the_daemon_load_the_same_location():
    tool = tomllib.loads((settings.REPO_ROOT / "pyproject.toml").read_text())["tool"]["dagster"]
    assert tool["module_name"] == "pipelines.definitions"
    assert tool["code_location_name"] == dagster_home.LOCATION_NAME
    ui = [line for line in (settings.REPO_ROOT / "Makefile").read_text().splitlines() if "dagster dev" in line]
    assert ui and all(" -m " not in line and " -f " not in line for line in ui), ui  # no second location


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sensors_skip_with_a_clear_message_while_s3_is_down(monkeypatch):
    monkeypatch.setenv("SHUZHONG_S3_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    # configured (keys present, whatever this process read before), only the endpoint is down
    monkeypatch.setenv("SHUZHONG_PIPELINE_ACCESS_KEY", "AKIDTESTONLY")
    monkeypatch.setenv("SHUZHONG_PIPELINE_SECRET_KEY", "test-only-secret")
    instance = DagsterInstance.ephemeral()
    for sensor in (sensors.landing_sensor, sensors.receipt_reconciler):
        result = sensor(build_sensor_context(instance=instance))
        assert isinstance(result, SkipReason), result
        assert "not reachable" in result.skip_message and "shuzhong s3 start" in result.skip_message


def test_sensors_skip_with_a_clear_message_before_shuzhong_init(monkeypatch):
    settings.load_env_file()
    monkeypatch.delenv("SHUZHONG_PIPELINE_ACCESS_KEY", raising=False)
    result = sensors.landing_sensor(build_sensor_context(instance=DagsterInstance.ephemeral()))
    assert isinstance(result, SkipReason), result
    assert "not configured" in result.skip_message and "shuzhong init" in result.skip_message


def test_dbt_debug_passes_on_a_fresh_state_after_shuzhong_init(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("SHUZHONG_")} | {"SHUZHONG_HOME": str(tmp_path)}
    shuzhong = [sys.executable, "-m", "pipelines.tools.cli"]
    cwd = str(settings.REPO_ROOT)
    assert subprocess.run([*shuzhong, "init"], env=env, cwd=cwd, capture_output=True).returncode == 0
    debug = subprocess.run([*shuzhong, "dbt", "debug"], env=env, cwd=cwd, capture_output=True, text=True)
    assert debug.returncode == 0, debug.stdout[-3000:]
    assert "All checks passed" in debug.stdout
