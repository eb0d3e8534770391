"""The bench baseline (``pipelines/tools/bench_baseline.py``) and the real pipeline agree exactly.

A tiny set from the bench's own generator (GBK and UTF-8 traffic CSV, pipe-pressure JSON Lines,
3 % dirty rows) plus two hand-made files (every timestamp spelling of spec §1, thousands
separators per v1.3, full-width digits, missing tokens, empty and invalid districts, in-file
duplicates, a cut-off JSON line) goes through ingestion → dbt → publish on the session's
SeaweedFS, and through the baseline. Receipt counts per file, the fact rows and the KPI
numerators, denominators and values must be equal; the counts of the hand-made files are
worked out by hand, and those of the generated files must match the generator's dirty rows.
"""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance

from pipelines import ingest, settings
from pipelines.tools import bench_baseline, generator
from tests.helpers import submit

START = date(2026, 3, 2)
TRAFFIC_HEADER = ["卡口编号", "路段名称", "所属区县", "统计时段开始", "车流量", "平均车速（km/h）", " 拥堵指数"]
TRAFFIC_ROWS = [  # row 1 is the header; (row, cells, expected outcome)
    (2, ["KK370402T0001", "光明路", "370402", "2026-03-03T07:00:00", "1,234", "45.5", "3.5"], "accepted"),
    (3, ["KK370402T0001", "光明路", "370402", "2026年3月3日 07时05分", "１２３", "40", "4"], "accepted"),
    (4, ["KK370402T0001", "光明路", "370402", "2026/3/3 7:10", "1,2,3", "40", "4"], "quarantined"),  # not a number
    (5, ["KK370402T0001", "光明路", "", "2026-03-03 07:15", "10", "40", "4"], "quarantined"),  # district missing
    (6, ["KK370402T0001", "光明路", "NULL", "2026-03-03 07:20", "10", "40", "4"], "quarantined"),
    (7, ["KK370402T0001", "光明路", "370402", "2026-03-03 07:25:00", "1,5", "40", "4"], "quarantined"),
    (8, ["KK370402T0001", "光明路", "370402", "20260303 07:30", "12,345", "40", "4"], "quarantined"),  # > 5000
    (9, ["KK370402T0002", "", "370402", "2026-03-03 07:00", "100", "50", "2"], "superseded"),
    (10, ["KK370402T0002", "", "370402", "2026-03-03 07:00:00", "110", "55", "2.5"], "accepted"),
    (11, ["KK370402T0002", "", "370402", "2026-03-03 07:05", "—", "/", "无"], "accepted"),
    (12, ["KK370402T0002", "", "370402", "2026/03/03 17:00:00", "10", "1,234.5", "1"], "quarantined"),  # > 200
    (13, ["KK370402T0003", "", "370481", "2026-03-03 17:05", "5000", "200", "10"], "accepted"),  # the bounds
    (14, ["KK370402T0003", "", "370499", "2026-03-03 17:10", "10", "40", "4"], "quarantined"),
    (15, ["", "", "370481", "2026-03-03 17:10", "10", "40", "4"], "quarantined"),  # no checkpoint
    (16, ["KK370402T0003", "", "370481", "2026-03-03 17:15", "10", "40", "4"], "superseded"),
    (17, ["KK370402T0003", "", "370481", "2026-03-03 17:15", "10", "40", "11"], "quarantined"),  # last row wins
    (18, ["KK370402T0003", "", "370481", "2026-03-03 18:02", "10", "40", "4"], "quarantined"),  # not on 5 min
]
PIPE_LINES = [
    {
        "sensor_id": "GS37040299001",
        "network_type": "供水",
        "district_code": "370402",
        "measured_at": "2026-03-03T08:00:00",
        "pressure_mpa": 0.1,
        "threshold_low": 0.2,
        "threshold_high": 0.6,
    },
    {
        "sensor_id": "GS37040299001",
        "network_type": "供水",
        "district_code": "370402",
        "measured_at": "2026-03-03 08:01",
        "pressure_mpa": "0.45",
        "threshold_low": 0.2,
        "threshold_high": 0.6,
    },
    {
        "sensor_id": "GS37040299001",
        "network_type": "自来水",
        "district_code": "370402",  # bad enum
        "measured_at": "2026-03-03 08:02",
        "pressure_mpa": 0.4,
        "threshold_low": 0.2,
        "threshold_high": 0.6,
    },
    {
        "sensor_id": "GS37040299001",
        "network_type": "供水",
        "district_code": "370402",  # high not > low
        "measured_at": "2026-03-03 08:03",
        "pressure_mpa": 0.4,
        "threshold_low": 0.6,
        "threshold_high": 0.6,
    },
    {
        "sensor_id": "GS37040299001",
        "network_type": None,
        "district_code": "370402",
        "measured_at": "2026-03-03 09:00:00",
        "pressure_mpa": 0.7,
        "threshold_low": 0.2,
        "threshold_high": 0.6,
    },
]
PIPE_EXPECTED = {"received": 6, "accepted": 3, "quarantined": 3, "superseded": 0}  # + one cut-off line


def _hand_made(root: Path, unique: str) -> list[Path]:
    traffic = root / "transport" / "traffic_flow" / "2026-03-03" / f"{unique}-hand.csv"
    traffic.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(TRAFFIC_HEADER)] + [
        ",".join(f'"{c}"' if "," in c else c for c in cells) for _, cells, _ in TRAFFIC_ROWS
    ]
    traffic.write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))
    pipe = root / "utilities" / "pipe_pressure" / "2026-03-03" / f"{unique}-hand.jsonl"
    pipe.parent.mkdir(parents=True, exist_ok=True)
    body = "\n".join(json.dumps(r, ensure_ascii=False) for r in PIPE_LINES) + '\n{"sensor_id": "GS3704'
    pipe.write_text(body, encoding="utf-8")
    return [traffic, pipe]


def _traffic_expected() -> dict[str, int]:
    outcome = [o for *_, o in TRAFFIC_ROWS]
    return {"received": len(outcome), **{k: outcome.count(k) for k in ("accepted", "quarantined", "superseded")}}


def _rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return sorted((tuple(_exact(v) for v in r) for r in con.execute(sql).fetchall()), key=repr)


def _exact(v: object) -> object:
    """Floats compared to 12 significant digits (the two sides sum in different orders)."""
    return float(f"{v:.12g}") if isinstance(v, float) and math.isfinite(v) else v


@pytest.fixture(scope="module")
def both(s3_env, tmp_path_factory):
    """Run the pipeline and the baseline on the same files; return both sides' outputs."""
    import uuid

    from pipelines.definitions import defs

    tmp = tmp_path_factory.mktemp("bench_baseline")
    unique = uuid.uuid4().hex[:10]
    mp = pytest.MonkeyPatch()
    mp.setenv("SHUZHONG_LAKE_URI", f"s3://{settings.buckets().lake}/t-{unique}")
    mp.setenv("SHUZHONG_WORK_DB", str(tmp / "work.duckdb"))
    mp.setenv("SHUZHONG_PUBLISHED_DB", str(tmp / "published" / "warehouse.duckdb"))
    mp.setenv("SHUZHONG_PUBLISHED_URI", f"s3://{settings.buckets().published}/t-{unique}")
    mp.setenv("SHUZHONG_PII_KEY", "test-bench-baseline")
    exports = tmp / "exports"
    gen = generator.generate(
        "transport.traffic_flow", exports, start=START, days=1, rows_per_day=288 * 8, seed=11, formats="csv_gbk"
    )
    gen += generator.generate(
        "transport.traffic_flow",
        exports,
        start=date(2026, 3, 3),
        days=1,
        rows_per_day=288 * 8,
        seed=12,
        formats="csv_utf8_bom",
    )
    gen += generator.generate("utilities.pipe_pressure", exports, start=START, days=2, rows_per_day=1440 * 5, seed=11)
    for g in gen:  # keys of this test only
        g.path = g.path.rename(g.path.with_name(f"{unique}-{g.path.name}"))
    files = [g.path for g in gen] + _hand_made(exports, unique)
    keys = {p: "/".join(p.relative_to(exports).parts) for p in files}
    objs = {p: submit(keys[p], p.read_bytes(), identity=p.relative_to(exports).parts[0]) for p in files}
    instance = DagsterInstance.ephemeral()
    for dataset in ("transport__traffic_flow", "utilities__pipe_pressure"):
        batch = [o for p, o in objs.items() if keys[p].startswith(dataset.replace("__", "/") + "/")]
        result = defs.resolve_job_def(f"ingest_{dataset}").execute_in_process(
            run_config={
                "ops": {f"raw__{dataset}": {"config": {"objects": [{"key": o.key, "etag": o.etag} for o in batch]}}}
            },
            instance=instance,
        )
        assert result.success
    assert defs.resolve_job_def("transform_and_publish").execute_in_process(instance=instance).success
    base = bench_baseline.run(files, tmp / "baseline.duckdb")
    yield {
        "gen": gen,
        "files": files,
        "keys": keys,
        "base": base,
        "base_db": tmp / "baseline.duckdb",
        "receipts": {p: ingest.read_receipt(keys[p]) for p in files},
        "pub": settings.published_db_path(),
    }
    mp.undo()


def _receipt_counts(r: dict) -> dict[str, int]:
    return {k: r[f"rows_{k}"] for k in ("received", "accepted", "quarantined", "superseded")}


def test_counts_per_file_agree(both):
    for path in both["files"]:
        receipt = both["receipts"][path]
        assert receipt["status"] == "accepted", (path.name, receipt)
        assert _receipt_counts(receipt) == both["base"]["files"][str(path)], path.name


def test_counts_match_what_was_generated_and_hand_computed(both):
    for g in both["gen"]:  # every dirty kind of the two generators breaks a rule
        assert both["base"]["files"][str(g.path)] == {
            "received": g.n_rows,
            "accepted": g.n_rows - g.n_dirty,
            "quarantined": g.n_dirty,
            "superseded": 0,
        }
    traffic, pipe = both["files"][-2:]
    assert both["base"]["files"][str(traffic)] == _traffic_expected()
    assert both["base"]["files"][str(pipe)] == PIPE_EXPECTED
    assert any(g.encoding == "gbk" for g in both["gen"]) and sum(g.n_dirty for g in both["gen"]) > 50


FACTS = {
    "fct_traffic_flow_5min": (
        "checkpoint_id, road_name, district_code, interval_start, interval_end, hour_start, "
        "interval_date, is_peak_hour, vehicle_count, avg_speed_kmh, congestion_index"
    ),
    "fct_traffic_flow_hourly": (
        "checkpoint_id, hour_start, road_name, district_code, hour_date, is_peak_hour, "
        "interval_count, vehicle_count, avg_speed_kmh, avg_congestion_index, "
        "max_congestion_index"
    ),
    "fct_pipe_pressure_hourly": (
        "sensor_id, hour_start, hour_date, network_type, district_code, reading_count, "
        "valid_reading_count, min_pressure_mpa, avg_pressure_mpa, max_pressure_mpa, "
        "threshold_low, threshold_high, below_low_count, above_high_count, is_breach_low, "
        "is_breach_high, is_breach"
    ),
}


@pytest.mark.parametrize("table", sorted(FACTS))
def test_fact_rows_agree(both, table):
    pub = both["pub"]
    db = pub if table.startswith("fct_traffic") else pub.parent / "conditional" / "utilities.pipe_pressure.duckdb"
    pipeline = _rows(db, f"SELECT {FACTS[table]} FROM {table}")
    baseline = _rows(both["base_db"], f"SELECT {FACTS[table]} FROM {table}")
    assert len(pipeline) > 20
    assert pipeline == baseline


def test_kpis_agree(both):
    cols = "kpi_month, kpi_code, district_code, dimension_type, dimension_code, numerator, denominator, kpi_value"
    where = "kpi_code IN ('traffic_peak_congestion_index', 'pipe_pressure_breach_sensor_hours')"
    # The scorecard also lists districts with no denominator (no sensor / checkpoint there): no KPI to compare.
    pipeline = _rows(both["pub"], f"SELECT {cols} FROM kpi_scorecard_monthly WHERE {where} AND denominator > 0")
    baseline = _rows(both["base_db"], f"SELECT {cols} FROM kpi_city")
    assert {r[1] for r in pipeline} == {"traffic_peak_congestion_index", "pipe_pressure_breach_sensor_hours"}
    assert pipeline == baseline
