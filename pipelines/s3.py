"""Clients for the hub's S3 endpoint (embedded SeaweedFS or any S3-compatible store).

Everything comes from :mod:`pipelines.settings`: the endpoint, the region and the keys
of an identity (``pipeline``, ``analyst`` or a bureau code). Three flavours:

* :func:`client` — a boto3 S3 client;
* :func:`delta_storage_options` — ``storage_options`` for ``deltalake``;
* :func:`configure_duckdb` — extensions (offline, from the PyPI packages) and a
  temporary S3 secret on a DuckDB connection.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

from pipelines import settings

if TYPE_CHECKING:
    import duckdb

DUCKDB_EXTENSIONS = ("httpfs", "delta", "excel", "encodings")
LAKE_EXTENSIONS = ("httpfs", "delta")  # all dbt needs: loading ``encodings`` alone takes about 1.3 s


_CLIENTS: dict[tuple[str, ...], object] = {}
_CLIENTS_LOCK = threading.Lock()


def client(identity: str = "pipeline", *, endpoint: str | None = None):
    """A boto3 S3 client acting as ``identity`` on the configured endpoint (or ``endpoint``).

    Clients are thread-safe and cost ~30 ms to build, so one is kept per identity, endpoint
    and keys (a changed setting gets a new client)."""
    creds = settings.credentials(identity)
    ident = (identity, endpoint or settings.s3_endpoint(), settings.s3_region(), creds.access_key, creds.secret_key)
    with _CLIENTS_LOCK:
        if ident not in _CLIENTS:
            _CLIENTS[ident] = _new_client(creds, ident[1])
        return _CLIENTS[ident]


def client_with_keys(access_key: str, secret_key: str):
    """A boto3 S3 client with the given keys (the web portal: a signed-in clerk's own identity)."""
    return _new_client(settings.Credentials(access_key, secret_key), settings.s3_endpoint())


def _new_client(creds: settings.Credentials, endpoint: str):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=settings.s3_region(),
        aws_access_key_id=creds.access_key,
        aws_secret_access_key=creds.secret_key,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
            # Only checksum when an operation requires it: several S3-compatible
            # servers reject or mishandle the newer default CRC trailers.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def delta_storage_options(identity: str = "pipeline") -> dict[str, str]:
    """``storage_options`` for ``deltalake`` (delta-rs / object_store) as ``identity``.

    Commits use S3 conditional writes (``If-None-Match: *``), which SeaweedFS, MinIO,
    R2 and AWS S3 honour: no DynamoDB lock and no unsafe rename.
    """
    creds = settings.credentials(identity)
    endpoint = settings.s3_endpoint()
    options = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": creds.access_key,
        "AWS_SECRET_ACCESS_KEY": creds.secret_key,
        "AWS_REGION": settings.s3_region(),
        "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false",
        "AWS_CONDITIONAL_PUT": "etag",
    }
    if urlsplit(endpoint).scheme == "http":
        options["AWS_ALLOW_HTTP"] = "true"
    if settings.delta_write_mode() == "locked":
        # A store without conditional writes: no put-if-absent; commits are serialised by a lock instead.
        options.pop("AWS_CONDITIONAL_PUT")
        options["AWS_S3_ALLOW_UNSAFE_RENAME"] = "true"
    return options


def _load_extensions(con: duckdb.DuckDBPyConnection, names: tuple[str, ...] = DUCKDB_EXTENSIONS) -> None:
    import duckdb_extensions

    # Never reach for extensions.duckdb.org: install from the PyPI packages instead.
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    loaded = {row[0] for row in con.execute("SELECT extension_name FROM duckdb_extensions() WHERE loaded").fetchall()}
    for name in names:
        if name in loaded:
            continue
        duckdb_extensions.import_extension(name, con=con)
        con.execute(f"LOAD {name}")


def configure_duckdb(
    con: duckdb.DuckDBPyConnection,
    identity: str = "pipeline",
    secret_name: str = "shuzhong_s3",
    extensions: tuple[str, ...] = DUCKDB_EXTENSIONS,
) -> duckdb.DuckDBPyConnection:
    """Load ``extensions`` (default httpfs/delta/excel/encodings) offline and add a temporary S3
    secret for ``identity``."""
    _load_extensions(con, extensions)
    creds = settings.credentials(identity)
    url = urlsplit(settings.s3_endpoint())
    use_ssl = "true" if url.scheme == "https" else "false"
    con.execute(
        f"""
        CREATE OR REPLACE TEMPORARY SECRET {secret_name} (
            TYPE s3,
            KEY_ID {_sql_str(creds.access_key)},
            SECRET {_sql_str(creds.secret_key)},
            REGION {_sql_str(settings.s3_region())},
            ENDPOINT {_sql_str(url.netloc)},
            URL_STYLE 'path',
            USE_SSL {use_ssl}
        )
        """
    )
    return con


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
