"""Small builders shared by the tests: hand-made bureau exports and submission."""

from __future__ import annotations

import csv
import io

from pipelines import ingest, s3, settings

HEADER_ZH = [
    "工单编号",
    "受理时间",
    "来源渠道",
    "诉求类型",
    "事项分类",
    "所属区县",
    "网格编码",
    "诉求人姓名",
    "联系电话",
    "诉求内容",
    "首接单位",
    "承办单位",
    "转办次数",
    "办结时间",
    "办理时限（小时）",
    "满意度",
]


def ticket(n: int, **over: str) -> dict[str, str]:
    """One valid hotline ticket row (Chinese headers), overridable by header name."""
    row = {
        "工单编号": f"ZZ12345-20260305-{n:06d}",
        "受理时间": "2026-03-05 09:00",
        "来源渠道": "电话",
        "诉求类型": "投诉",
        "事项分类": "噪音扰民",
        "所属区县": "370402",
        "网格编码": "370402001001001",
        "诉求人姓名": "张三",
        "联系电话": "13800001234",
        "诉求内容": "夜间施工噪音扰民",
        "首接单位": "市中区综合行政执法局",
        "承办单位": "市中区综合行政执法局",
        "转办次数": "0",
        "办结时间": "",
        "办理时限（小时）": "72",
        "满意度": "",
    }
    row.update(over)
    return row


def csv_bytes(rows: list[dict[str, str]], encoding: str = "gbk", header: list[str] | None = None) -> bytes:
    header = header or list(rows[0].keys())
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    for r in rows:
        w.writerow([r.get(h, "") for h in header])
    return buf.getvalue().encode(encoding)


def submit(key: str, data: bytes, identity: str = "hotline") -> ingest.LandingObject:
    resp = s3.client(identity).put_object(Bucket=settings.buckets().landing, Key=key, Body=data)
    return ingest.LandingObject(key=key, etag=resp["ETag"].strip('"'), size=len(data))


def submit_and_ingest(key: str, data: bytes) -> ingest.Receipt:
    return ingest.process(submit(key, data), run_id="test")


def run_dbt(
    tmp, lake, *args: str, pii_key: str, report_at: str, extra_env: dict | None = None, check: bool = True
) -> str:
    """``dbt <args>`` on a local lake directory (no S3), isolated target/log folders; returns its output
    (``check``: asserts that dbt succeeded)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if not k.startswith("SHUZHONG_")}
    env.update(
        SHUZHONG_HOME=str(tmp / "home"),
        SHUZHONG_LAKE_URI=str(lake),
        SHUZHONG_WORK_DB=str(tmp / "warehouse" / "work.duckdb"),
        SHUZHONG_PII_KEY=pii_key,
        DBT_TARGET_PATH=str(tmp / "target"),
        DBT_LOG_PATH=str(tmp / "logs"),
        DBT_SEND_ANONYMOUS_USAGE_STATS="False",
        PYTHONPATH=os.pathsep.join(filter(None, [str(settings.REPO_ROOT), env.get("PYTHONPATH")])),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        **(extra_env or {}),
    )
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            *args,
            "--profiles-dir",
            ".",
            "--vars",
            f"{{report_at: '{report_at}'}}",
        ],
        cwd=settings.DBT_PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if check:
        assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def query(db, sql: str) -> list[tuple]:
    """Rows of ``sql`` on a DuckDB file opened read-only."""
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def planned_objects(request) -> list[dict]:
    """The landing objects a sensor's run request hands to its ingestion run (any dataset)."""
    return [o for op in request.run_config["ops"].values() for o in op["config"]["objects"]]
