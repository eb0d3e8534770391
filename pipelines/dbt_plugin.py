"""dbt-duckdb plugin: offline extensions, the lake's S3 secret and the PII UDFs.

Referenced from ``dbt_project/profiles.yml`` (``plugins: [{module: pipelines.dbt_plugin}]``).
The HMAC key is read from the environment here, in Python, and captured in the UDF
closures: it never appears in SQL, compiled SQL, dbt logs or docs.

UDFs (all ``VARCHAR -> VARCHAR``, NULL in → NULL out, vectorised over Arrow batches):
``pii_hash_phone``, ``pii_hash_id``, ``pii_scrub``, ``pii_mask_name``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import duckdb
import pyarrow as pa
from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb.sqltypes import VARCHAR

from pipelines import pii, settings


def load_extension(conn: duckdb.DuckDBPyConnection, name: str) -> None:
    """Install a DuckDB extension from its pip package (no download) and load it."""
    import duckdb_extensions

    duckdb_extensions.import_extension(name, con=conn)
    conn.execute(f"LOAD {name}")


def _arrow_udf(fn: Callable[[str], str | None]) -> Callable[[pa.Array], pa.Array]:
    """Lift a str → str function to Arrow batches; nulls pass through, repeats are cached."""

    def udf(values: pa.Array | pa.ChunkedArray) -> pa.Array:
        cache: dict[str, str | None] = {}
        out: list[str | None] = []
        for v in values.to_pylist():
            if v is None:
                out.append(None)
            else:
                if v not in cache:
                    cache[v] = fn(v)
                out.append(cache[v])
        return pa.array(out, type=pa.string())

    return udf


def pii_functions(key: bytes) -> dict[str, Callable[[str], str | None]]:
    """Name → scalar function of the PII UDFs, with the HMAC key bound in."""
    return {
        "pii_hash_phone": lambda v: pii.hash_phone(v, key),
        "pii_hash_id": lambda v: pii.hash_resident_id(v, key),
        "pii_scrub": pii.scrub_text,
        "pii_mask_name": pii.mask_name,
    }


def register_pii_udfs(conn: duckdb.DuckDBPyConnection, key: bytes | None = None) -> None:
    """Register the PII UDFs on a DuckDB connection (key from ``SHUZHONG_PII_KEY``)."""
    key = pii.pii_key() if key is None else key
    for name, fn in pii_functions(key).items():
        try:
            conn.remove_function(name)
        except duckdb.InvalidInputException:
            pass
        conn.create_function(
            name,
            _arrow_udf(fn),
            [VARCHAR],
            VARCHAR,
            type="arrow",
            null_handling="special",
            side_effects=False,
        )


def configure_lake(conn: duckdb.DuckDBPyConnection) -> None:
    """Load the Delta extension offline; add httpfs + the S3 secret when an endpoint is set.

    Without ``SHUZHONG_S3_ENDPOINT`` the lake is a local directory (tests, laptops) and
    ``delta_scan`` reads it directly.
    """
    load_extension(conn, "delta")
    if os.environ.get("SHUZHONG_S3_ENDPOINT"):
        from pipelines import s3

        s3.configure_duckdb(conn, identity="pipeline", extensions=s3.LAKE_EXTENSIONS)


class Plugin(BasePlugin):
    """Configures every dbt-duckdb connection of the ``zaozhuang_hub`` project."""

    def configure_connection(self, conn: duckdb.DuckDBPyConnection) -> None:
        settings.load_env_file()  # `shuzhong init` credentials, unless already exported
        configure_lake(conn)
        register_pii_udfs(conn)
