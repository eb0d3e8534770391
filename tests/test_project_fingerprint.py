"""The transform sensor's project fingerprint (a changed one rebuilds every model from scratch):
two parses of the same project give the same fingerprint, a changed model another one."""

from __future__ import annotations

import hashlib
import json

import pytest

from pipelines.defs.ingestion.sensors import manifest_fingerprint
from tests.helpers import run_dbt


@pytest.mark.dbt
def test_a_reparse_of_an_unchanged_project_keeps_the_fingerprint(tmp_path):
    manifests = []
    for _ in (1, 2):  # the same settings (the lake URI is rendered into the sources), parsed twice
        run_dbt(
            tmp_path, tmp_path / "lake", "parse", "--no-partial-parse", pii_key="fp", report_at="2026-04-01 09:00:00"
        )
        manifests.append((tmp_path / "target" / "manifest.json").read_bytes())
    first, second = manifests
    assert hashlib.sha256(first).digest() != hashlib.sha256(second).digest()  # the files differ (times, ids)
    assert manifest_fingerprint(first) == manifest_fingerprint(second)

    doc = json.loads(second)
    node = next(k for k in doc["nodes"] if k.endswith(".fct_traffic_flow_hourly"))
    doc["nodes"][node]["raw_code"] += "\n-- changed"
    assert manifest_fingerprint(json.dumps(doc).encode()) != manifest_fingerprint(first)
