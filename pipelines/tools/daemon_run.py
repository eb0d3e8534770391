"""``dagster-daemon run`` with a sensor loop of ``SHUZHONG_SENSOR_LOOP_SECONDS`` (default 1).

Dagster's sensor daemon starts a round of sensor evaluations at most every 5 s
(``dagster._daemon.sensor.MIN_INTERVAL_LOOP_TIME``), whatever a sensor's
``minimum_interval_seconds``: a new file waited up to 5 s for the landing sensor and the
transform up to 5 s more for its sensor. Each sensor's own minimum interval still applies."""

from __future__ import annotations

import sys

from dagster._daemon import sensor
from dagster._daemon.cli import main

from pipelines import settings


def run(argv: list[str]) -> int:
    sensor.MIN_INTERVAL_LOOP_TIME = settings.sensor_loop_seconds()
    sys.argv = ["dagster-daemon", *argv]
    return main()


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
