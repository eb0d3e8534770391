"""The published Delta tables read by Ray Data on a real local Ray cluster and the real S3 server.

The tables are those of tests/test_analyst_access.py (its ``published`` fixture: a tiny working
database published as DuckDB files and Delta on S3). Ray's worker processes read the Parquet
files with the analyst's own keys: unconditional data for everyone, a conditional table only
with its grant — its Delta log refused, and its data files refused even to someone who got
the file list from a granted colleague.
"""

from __future__ import annotations

import os

import pytest
import ray
from deltalake import DeltaTable

from pipelines import s3
from pipelines.publish.distributed import read_published, table_uri
from tests.test_analyst_access import DENIED, HOTLINE, published  # noqa: F401 — the fixture


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray cluster (two CPUs, no dashboard, no usage reporting), shut down at the end."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def _rows(table) -> list[tuple]:
    return sorted(tuple(r.values()) for r in table.to_pylist())


def _expected(prefix_and_table: str, identity: str) -> list[tuple]:
    """The table as delta-rs reads it in this process (independent of Ray)."""
    uri = table_uri(prefix_and_table)
    return _rows(DeltaTable(uri, storage_options=s3.delta_storage_options(identity)).to_pyarrow_table())


def _worker_pids(ds) -> set[int]:
    return {
        r["pid"] for r in ds.map_batches(lambda b: {"pid": [os.getpid()] * len(b)}, batch_format="pandas").take_all()
    }


def test_ray_workers_read_unconditional_tables_as_the_analyst(published, ray_cluster):  # noqa: F811
    rows = read_published("unconditional/kpi_t_monthly", "analyst").take_all()
    assert len(rows) == 1
    assert sorted(tuple(r.values()) for r in rows) == _expected("unconditional/kpi_t_monthly", "analyst")
    pids = _worker_pids(read_published("unconditional/dim_t_enterprises", "analyst"))
    assert pids and os.getpid() not in pids, "read in Ray's worker processes, not the driver"


def test_ray_conditional_table_needs_its_grant(published, ray_cluster):  # noqa: F811
    path = f"conditional/{HOTLINE}/fct_t_tickets"
    granted = read_published(path, "analyst_hotline").take_all()
    assert len(granted) == 2
    assert sorted(tuple(r.values()) for r in granted) == _expected(path, "analyst_hotline")
    # Without the grant: the Delta log is refused on the driver ...
    with pytest.raises(Exception, match=DENIED):
        read_published(path, "analyst")
    # ... and, given the file list by a granted colleague, the data files are refused to its own keys.
    with pytest.raises(OSError, match=r"AWS Error ACCESS_DENIED during (HeadObject|GetObject)"):
        read_published(path, "analyst_hotline", data_identity="analyst").take_all()
