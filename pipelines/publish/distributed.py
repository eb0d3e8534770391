"""The published Delta tables read by a distributed engine: Ray Data, as an analyst identity.

An analyst with a Ray cluster (``ray.init(address=...)``; locally ``ray.init()`` starts one)
reads a published table with the same S3 credentials as everywhere else: the Delta log is
read on the driver with ``identity``'s keys (delta-rs), and the Parquet files by Ray's
workers through a pyarrow ``S3FileSystem`` carrying the same keys. The S3 server's grants
therefore hold wherever a file is opened: a conditional table is refused (HTTP 403) to an
identity without its grant, both its Delta log and its data files.

    import ray
    from pipelines.publish.distributed import read_published
    ray.init()
    ds = read_published("unconditional/kpi_traffic_monthly", "analyst")
    ds.groupby("month").count().show()
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pipelines import s3, settings


def filesystem(identity: str, table_uri: str):
    """A pyarrow S3 filesystem as ``identity``, rooted at the table's folder (what
    ``DeltaTable.to_pyarrow_dataset`` expects): picklable, so it travels to Ray's workers."""
    import pyarrow.fs as pafs

    creds = settings.credentials(identity)
    endpoint = urlsplit(settings.s3_endpoint())
    fs = pafs.S3FileSystem(
        access_key=creds.access_key,
        secret_key=creds.secret_key,
        endpoint_override=endpoint.netloc,
        scheme=endpoint.scheme or "https",
        region=settings.s3_region(),
        force_virtual_addressing=False,
    )
    parts = urlsplit(table_uri)
    return pafs.SubTreeFileSystem(f"{parts.netloc}/{parts.path.strip('/')}", fs)


def table_uri(prefix_and_table: str) -> str:
    """``unconditional/<table>`` or ``conditional/<datasets>/<table>`` → its ``s3://`` URI."""
    return f"{settings.published_uri().rstrip('/')}/{prefix_and_table.strip('/')}"


def read_published(prefix_and_table: str, identity: str, *, data_identity: str | None = None, **kwargs):
    """A Ray Dataset of a published Delta table, read as ``identity`` (the log on the driver,
    the files on the workers as ``data_identity``, by default the same identity)."""
    import ray.data

    uri = table_uri(prefix_and_table)
    return ray.data.read_delta(
        uri,
        storage_options=s3.delta_storage_options(identity),
        filesystem=filesystem(data_identity or identity, uri),
        **kwargs,
    )
