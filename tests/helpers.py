"""Small builders shared by the tests: hand-made bureau exports and submission."""

from __future__ import annotations

import csv
import io

from pipelines import ingest, s3, settings

HEADER_ZH = [
    "工单编号", "受理时间", "来源渠道", "诉求类型", "事项分类", "所属区县", "网格编码", "诉求人姓名", "联系电话",
    "诉求内容", "首接单位", "承办单位", "转办次数", "办结时间", "办理时限（小时）", "满意度",
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
