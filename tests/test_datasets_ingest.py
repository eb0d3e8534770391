"""Every dataset of the specification, in its real-world export format, through ingestion on the
real S3 server: the rows quarantined are exactly the dirty rows the generator wrote."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from pipelines import lake
from pipelines.contracts import all_contracts
from pipelines.tools import generator
from tests.helpers import submit

# data row n of a generated file is row n + offset in the receipt (header; xlsx: title, blank, header)
OFFSET = {"csv": 1, "xlsx": 3, "jsonl": 0}
SCALE = {
    "ecology.air_quality_hourly": 72,
    "transport.traffic_flow": 576,
    "utilities.pipe_pressure": 1440,
    "grid.grids": 1,
}


@pytest.mark.parametrize("dataset", sorted(generator.GENERATORS))
def test_dataset_export_lands_with_exactly_its_dirty_rows_quarantined(dataset, lake_root, unique, tmp_path):
    contract = all_contracts()[dataset]
    files = generator.generate(
        dataset,
        tmp_path,
        start=date(2026, 3, 2),
        days=2,
        rows_per_day=SCALE.get(dataset, 60),
        seed=13,
        dirty_share=0.06,
    )
    assert files
    formats = set()
    for f in files:
        key = f"{f.bureau}/{f.dataset}/{f.business_date}/{unique}-{f.path.name}"
        receipt = submit_and_check(key, f, contract)
        formats.add(f"{f.fmt}/{f.encoding}")
        assert receipt.contract_version == contract.version
    print(dataset, sorted(formats))


def submit_and_check(key, f, contract):
    from pipelines import ingest

    receipt = ingest.process(submit(key, f.path.read_bytes(), identity=f.bureau), run_id="t")
    assert receipt.status == "accepted", receipt.reason
    offset = OFFSET[f.fmt]
    assert [x["row_number"] for x in receipt.failures] == sorted(n + offset for n, _ in f.dirty_rows), (
        f.path.name,
        receipt.rule_counts,
        f.dirty_rows,
    )
    assert receipt.rows_superseded == len(f.superseded_rows)
    assert receipt.rows_received == f.n_rows
    raw = lake.read_table(lake.raw_uri(contract)).filter(pl.col("_source_key") == key)
    assert raw.height == receipt.rows_accepted == f.n_rows - len(f.dirty_rows) - len(f.superseded_rows)
    return receipt
