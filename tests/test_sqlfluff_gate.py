"""`make lint-sql` (part of `make lint`) fails on a model that breaks the SQLFluff rules.

A copy of the dbt project gets two new models, one written to the house style and one not;
the real gate (Makefile target, dbt templater, DuckDB dialect, dbt_project/.sqlfluff) lints
both: the run fails, naming the bad model's violations, and passes the good one. No warehouse,
S3 or secret is involved (the Makefile supplies the compile-only environment).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pipelines import settings

pytestmark = pytest.mark.dbt  # compiles the dbt project: deselected by make test-fast

GOOD = """-- Grid names (lint probe).
select
    grid_code,
    grid_name
from {{ ref('stg_grid__grids') }}
"""
BAD = """-- Grid names (lint probe).
SELECT grid_code,grid_name
FROM {{ ref('stg_grid__grids') }}
"""


def test_lint_fails_on_a_bad_model(tmp_path: Path) -> None:
    project = tmp_path / "dbt_project"
    shutil.copytree(settings.DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    probe = project / "models" / "staging" / "probe"
    probe.mkdir()
    (probe / "stg_probe__good.sql").write_text(GOOD)
    (probe / "stg_probe__bad.sql").write_text(BAD)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHUZHONG_", "DBT_", "MAKE"))}
    proc = subprocess.run(
        ["make", "-s", "lint-sql", f"DBT_PROJECT={project}", "SQL_PATHS=models/staging/probe"],
        cwd=settings.REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "== [models/staging/probe/stg_probe__bad.sql] FAIL" in out, out
    assert "CP01" in out and "LT01" in out, out  # upper-case keywords; no space after the comma
    assert "stg_probe__good.sql] FAIL" not in out, out
    assert "Unable to" not in out and "TMP" not in out and "PRS" not in out, out  # it compiled and parsed
