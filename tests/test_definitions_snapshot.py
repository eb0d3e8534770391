"""The whole Dagster graph, loaded as the code location loads it, against a committed snapshot:
a change to assets, checks, jobs, sensors or schedules shows in review as a change to
``tests/snapshots/definitions.json``. Regenerate with
``SHUZHONG_UPDATE_SNAPSHOT=1 pytest tests/test_definitions_snapshot.py`` and commit the diff."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pipelines.definitions import defs

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"


def _graph() -> dict[str, list[str]]:
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    return {
        "assets": sorted(k.to_user_string() for k in graph.get_all_asset_keys()),
        "asset_checks": sorted(f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys),
        "jobs": sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__")),
        "sensors": sorted(s.name for s in repo.sensor_defs),
        "schedules": sorted(s.name for s in repo.schedule_defs),
    }


def test_definitions_load_and_match_the_committed_snapshot():
    graph = _graph()
    if os.environ.get("SHUZHONG_UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(json.dumps(graph, indent=1, ensure_ascii=False) + "\n")
    want = json.loads(SNAPSHOT.read_text())
    for kind in graph:
        added, removed = sorted(set(graph[kind]) - set(want[kind])), sorted(set(want[kind]) - set(graph[kind]))
        assert not added and not removed, f"{kind}: added {added}, removed {removed} (regenerate the snapshot)"
    assert graph["assets"] and graph["jobs"] and graph["sensors"]
