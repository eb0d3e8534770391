"""The analysts' KPI notebook runs end to end (nbclient, the venv's own kernel) on a small
published warehouse and draws its charts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb
import nbformat
import pytest
from nbclient import NotebookClient

from pipelines import publish, settings

NOTEBOOK = settings.REPO_ROOT / "notebooks" / "kpi_walkthrough.ipynb"

KPI_COLUMNS = """
    kpi_month DATE, district_code VARCHAR, district_name VARCHAR, dimension_type VARCHAR,
    dimension_code VARCHAR, dimension_name VARCHAR, kpi_code VARCHAR, kpi_name VARCHAR, unit VARCHAR,
    kpi_value DOUBLE, numerator DOUBLE, denominator DOUBLE, target_value DOUBLE, comparator VARCHAR,
    baseline_value DOUBLE, gap DOUBLE, is_target_met BOOLEAN, report_at TIMESTAMP
"""
# (code, name, unit, target, comparator, base value)
KPIS = [
    ("mobile_handling_rate", "掌上办比例", "ratio", 0.9, ">=", 0.8),
    ("grid_event_handling_hours_median", "网格事件处置时长中位数", "hours", 8.0, "<=", 9.0),
    ("traffic_peak_congestion_index", "早晚高峰平均拥堵指数", "index", None, None, 1.6),
]
HOTLINE_KPIS = [
    ("hotline_on_time_closure_rate", "12345热线按时办结率", "ratio", 0.95, ">=", 0.9),
    ("citizen_satisfaction_score", "群众满意度", "score", 90.0, ">=", 88.0),
]
DISTRICTS = [("370402", "市中区"), ("370403", "薛城区"), ("370481", "滕州市")]
MONTHS = ["2026-02-01", "2026-03-01"]


def _rows(kpis, with_dimension: bool) -> list[tuple]:
    rows = []
    for m, month in enumerate(MONTHS):
        for d, (code, name) in enumerate(DISTRICTS):
            for k, (kcode, kname, unit, target, comp, base) in enumerate(kpis):
                value = base * (1 + 0.03 * d - 0.02 * m + 0.01 * k)
                gap = None if target is None else value - target
                met = None if target is None else (value >= target if comp == ">=" else value <= target)
                dim = ("district", code, name) if with_dimension else ()
                rows.append(
                    (
                        month,
                        code,
                        name,
                        *dim,
                        kcode,
                        kname,
                        unit,
                        value,
                        value * 100,
                        100.0,
                        target,
                        comp,
                        None,
                        gap,
                        met,
                        "2026-04-01 08:00:00",
                    )
                )
    return rows


def build_published_warehouse(tmp: Path) -> Path:
    work = tmp / "work.duckdb"
    con = duckdb.connect(str(work))
    for table in ("kpi_scorecard_monthly", "kpi_city_monthly"):
        con.execute(f"CREATE TABLE {table} ({KPI_COLUMNS})")
        con.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * 18)})", _rows(KPIS, True))
    hotline_cols = KPI_COLUMNS.replace("dimension_type VARCHAR,", "").replace(
        "dimension_code VARCHAR, dimension_name VARCHAR,", ""
    )
    con.execute(f"CREATE TABLE kpi_hotline_monthly ({hotline_cols})")
    con.executemany(f"INSERT INTO kpi_hotline_monthly VALUES ({', '.join('?' * 15)})", _rows(HOTLINE_KPIS, False))
    con.execute("""INSERT INTO kpi_scorecard_monthly
        SELECT kpi_month, district_code, district_name, 'district', district_code, district_name, kpi_code,
               kpi_name, unit, kpi_value, numerator, denominator, target_value, comparator, baseline_value,
               gap, is_target_met, report_at FROM kpi_hotline_monthly""")
    con.close()
    nodes = {}
    for table in ("kpi_scorecard_monthly", "kpi_city_monthly", "kpi_hotline_monthly"):
        nodes[f"model.x.{table}"] = {
            "resource_type": "model",
            "name": table,
            "schema": "main",
            "original_file_path": f"models/marts/{table}.sql",
            "description": f"{table} (test)",
            "columns": {"kpi_value": {"description": "KPI value"}, "gap": {"description": "kpi_value - target_value."}},
            "depends_on": {"nodes": []},
        }
    manifest = tmp / "manifest.json"
    manifest.write_text(json.dumps({"nodes": nodes}))
    target = tmp / "published" / "warehouse.duckdb"
    publish.publish(manifest, work, target)
    return target


@pytest.fixture
def notebook_env(tmp_path, monkeypatch):
    # Hermetic: a local published root (no S3), private IPython/matplotlib dirs.
    monkeypatch.setenv("SHUZHONG_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SHUZHONG_PUBLISHED_URI", str(tmp_path / "published_delta"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))
    target = build_published_warehouse(tmp_path)
    monkeypatch.setenv("SHUZHONG_PUBLISHED_DB", str(target))
    return target


def _execute(nb, cwd: Path):
    client = NotebookClient(nb, kernel_name="python3", timeout=180, resources={"metadata": {"path": str(cwd)}})
    client.execute()
    return nb


def test_kpi_notebook_runs_and_draws_charts(notebook_env):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    _execute(nb, NOTEBOOK.parent)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # scorecard, hotline, city heat map (+ trend with two months)
    text = "".join(o.get("text", "") for o in outputs)
    assert f"published warehouse: {notebook_env}" in text
    # the notebook never wrote to the published file
    assert not list(notebook_env.parent.glob("*.wal"))


def test_kernel_is_this_venvs_python(tmp_path, monkeypatch):
    """The python3 kernelspec resolves offline to this environment's interpreter."""
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import sys; print(sys.prefix)")])
    _execute(nb, tmp_path)
    printed = nb.cells[0].outputs[0]["text"].strip()
    assert printed == sys.prefix != sys.base_prefix  # the venv, not the base interpreter


pytestmark = pytest.mark.dbt  # runs dbt builds: deselected by make test-fast
