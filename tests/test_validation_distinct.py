"""GX on distinct values (``validation.validate_distinct``) finds exactly the failures of the
straightforward row-by-row GX run on the whole frame (``validation.validate``)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from pipelines import parsing, validation
from pipelines.contracts import all_contracts
from pipelines.tools import generator

ROW_BITS = 32


def _generated_frame(dataset: str, out: Path, rows_per_day: int, dirty_share: float) -> pl.DataFrame:
    """Every generated file of ``dataset`` parsed and typed into one frame (row id = file << 32 | row)."""
    contract = all_contracts()[dataset]
    files = generator.generate(
        dataset, out, start=date(2026, 3, 2), days=2, rows_per_day=rows_per_day, seed=5, dirty_share=dirty_share
    )
    frames = []
    for n, f in enumerate(files):
        try:
            parsed = parsing.parse_file(f.path.read_bytes(), f.path.name, contract)
        except parsing.UnreadableFile:
            continue
        frames.append(parsed.frame.with_columns(pl.col(parsing.ROW_NUMBER) + (n << ROW_BITS)))
    return pl.concat(frames)


def _failures(results: list[validation.RuleResult]) -> dict[str, list[int]]:
    return {r.rule_id: r.row_numbers for r in results}


@pytest.mark.parametrize(
    ("dataset", "rows_per_day"),
    [
        ("transport.traffic_flow", 288 * 12),
        ("utilities.pipe_pressure", 1440 * 3),  # a column-pair rule: distinct (high, low) pairs
        ("govservice.cases", 400),  # row-conditioned identifier rules: run on the whole frame
        ("market.enterprises", 400),
        ("hotline.tickets", 400),
        ("emergency.incidents", 400),  # a timestamp pair: reported_at not before occurred_at
        ("grid.events", 400),
        ("community.service_requests", 400),
    ],
)
def test_distinct_equals_row_by_row(tmp_path, dataset, rows_per_day):
    frame = _generated_frame(dataset, tmp_path, rows_per_day, dirty_share=0.2)
    suite = validation.load_suite(all_contracts()[dataset])
    full = validation.validate(frame.to_pandas(), suite)
    distinct = validation.validate_distinct(frame, suite)
    assert sum(len(r.row_numbers) for r in full) > 0, "the sample must have failing rows"
    assert _failures(distinct) == _failures(full)
    assert [r.__dict__ for r in distinct] == [r.__dict__ for r in full]


def test_distinct_equals_row_by_row_edge_values():
    """Nulls, signed zero, bounds, repeated values and an empty frame."""
    contract = all_contracts()["utilities.pipe_pressure"]
    suite = validation.load_suite(contract)
    names = [f.name for f in contract.fields]
    values = {
        "sensor_id": ["S1", None, "S1", "S2", None, "S3"],
        "network_type": ["供水", "燃气", "其他", None, "其他", "供水"],
        "district_code": ["370402", "999999", None, "370402", "370402", None],
        "measured_at": ["2026-03-02 00:01:00", None, "2026-03-02 00:01:00", "2026-03-02 00:02:00", None, "x"],
        "pressure_mpa": ["0", "-0.0", "4", "4.0001", None, "-1"],
        "threshold_high": ["1", "1", None, "0.5", "0.5", "-0.0"],
        "threshold_low": ["0.5", "1", "0.5", "0.5", "1", "0"],
    }
    raw = pl.DataFrame(
        {n: values.get(n, [None] * 6) for n in names} | {parsing.ROW_NUMBER: range(2, 8)},
        schema_overrides={n: pl.String for n in names},
    )
    typed, _ = parsing.type_frame(raw, contract)
    frame = typed.cast({f.name: parsing.POLARS_TYPES[f.logical_type] for f in contract.fields})
    for sample in (frame, frame.head(0)):
        full = validation.validate(sample.to_pandas(), suite)
        distinct = validation.validate_distinct(sample, suite)
        assert [r.__dict__ for r in distinct] == [r.__dict__ for r in full]
    assert _failures(validation.validate_distinct(frame, suite))["pressure_mpa.range"] == [5, 7]
