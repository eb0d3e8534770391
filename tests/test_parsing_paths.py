"""The vectorised readers (CSV without quoting, flat JSON Lines) give exactly what the
row-by-row readers give: same rows, row numbers, type failures, malformed rows, unknown
columns. The row-by-row path is the reference; each file is parsed both ways."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from pipelines import generator, parsing
from pipelines.contracts import all_contracts

HOTLINE = all_contracts()["hotline.tickets"]
PIPE = all_contracts()["utilities.pipe_pressure"]
TRAFFIC = all_contracts()["transport.traffic_flow"]


def _both_ways(data: bytes, name: str, contract, monkeypatch) -> tuple[object, object, bool]:
    """(fast result, row-by-row result, whether a fast reader took the file)."""
    used = []
    csv_fast, json_fast = parsing._csv_frame_fast, parsing._jsonl_frame_fast

    def spy(fn):
        def wrapped(*args):
            out = fn(*args)
            used.append(out is not None)
            return out
        return wrapped

    def run():
        try:
            return parsing.parse_file(data, name, contract)
        except parsing.UnreadableFile as exc:
            return f"unreadable: {exc}"

    with monkeypatch.context() as m:
        m.setattr(parsing, "_csv_frame_fast", spy(csv_fast))
        m.setattr(parsing, "_jsonl_frame_fast", spy(json_fast))
        fast = run()
    with monkeypatch.context() as m:
        m.setattr(parsing, "_csv_frame_fast", lambda *a: None)
        m.setattr(parsing, "_jsonl_frame_fast", lambda *a: None)
        slow = run()
    return fast, slow, any(used)


def _assert_same(fast, slow) -> None:
    if isinstance(slow, str) or isinstance(fast, str):
        assert fast == slow
        return
    for attr in ("encoding", "file_format", "rows_received", "type_failures", "unknown_columns",
                 "missing_optional_columns"):
        assert getattr(fast, attr) == getattr(slow, attr), attr
    assert fast.frame.equals(slow.frame)
    assert fast.raw.equals(slow.raw)


def test_generated_exports_of_every_dataset(tmp_path, monkeypatch):
    fast_files = 0
    for key, contract in all_contracts().items():
        for f in generator.generate(key, tmp_path / "out", start=date(2026, 3, 2), days=2, rows_per_day=120,
                                    seed=3, dirty_share=0.2):
            fast, slow, used = _both_ways(f.path.read_bytes(), f.path.name, contract, monkeypatch)
            _assert_same(fast, slow)
            fast_files += used
    assert fast_files >= 10  # the vectorised readers really ran


def _hotline_csv(lines: list[str], encoding: str = "gbk", newline: str = "\n") -> bytes:
    return newline.join(lines).encode(encoding)


HEADER = "工单编号,受理时间,诉求渠道,所属区县,诉求类型,诉求内容,联系电话,承办部门,处理状态,办结时间,满意度"
ROW = "RX{n},2026-03-05 09:0{m},电话,370402,咨询,路灯不亮,13800001234,市城管局,已办结,2026-03-06 10:00,满意"


@pytest.mark.parametrize("lines,newline", [
    (["枣庄市12345热线工单导出", "", HEADER, ROW.format(n=1, m=1), ROW.format(n=2, m=2), "合计,2"], "\n"),
    ([HEADER, ROW.format(n=1, m=1), ",,,  ,", ROW.format(n=2, m=2) + ",,", ROW.format(n=3, m=3) + ",x"], "\r\n"),
    ([HEADER, "RX1,2026-03-05,电话", ROW.format(n=2, m=2), "   制表人：张三"], "\n"),
    ([HEADER, ROW.format(n=1, m=1).replace("2026-03-05 09:01", "2026年3月5日 9时01分"), ""], "\n"),
    ([HEADER, ROW.format(n=1, m=1), 'RX9,"2026-03-05 09:09",电话,370402,咨询,"a,b",1,x,已办结,,满意'], "\n"),
])
def test_csv_quirks(lines, newline, monkeypatch):
    fast, slow, _ = _both_ways(_hotline_csv(lines, newline=newline), "t.csv", HOTLINE, monkeypatch)
    _assert_same(fast, slow)


@pytest.mark.parametrize("text", [
    '{"sensor_id":"S1","network_type":"供水","district_code":"370402","measured_at":"2026-03-05 09:01:00",'
    '"pressure_mpa":0.35,"threshold_low":0.2,"threshold_high":1}\n'
    '{"传感器编号":"S2","管网类型":"燃气","区县":"370403","measured_at":"2026-03-05T09:02:00+08:00",'
    '"pressure_mpa":"0.4","threshold_low":null,"threshold_high":2.0,"extra":true}\n',
    '{"sensor_id":"S1","pressure_mpa":1.5,"measured_at":"2026-03-05 09:01"}\n\n{"sensor_id":"S2"}\n',
    '{"sensor_id":"S1","measured_at":"2026-03-05 09:01","pressure_mpa":{"v":1}}\n',
    '{"sensor_id":"S1","measured_at":"2026-03-05 09:01"}\nnot json\n',
    '{"sensor_id":"S1","传感器编号":"S9","measured_at":"2026-03-05 09:01"}\n',
])
def test_jsonl_quirks(text, monkeypatch):
    fast, slow, _ = _both_ways(text.encode(), "p.jsonl", PIPE, monkeypatch)
    _assert_same(fast, slow)


def test_big_machine_feed_takes_the_fast_path(tmp_path, monkeypatch):
    files = generator.generate("transport.traffic_flow", tmp_path, start=date(2026, 3, 2), days=1,
                               rows_per_day=20_000, seed=5, formats="csv_gbk")
    data: Path = files[0].path
    fast, slow, used = _both_ways(data.read_bytes(), data.name, TRAFFIC, monkeypatch)
    assert used
    _assert_same(fast, slow)
