"""Publish governed tables and marts for analysts.

A fresh DuckDB file is built beside the published one and swapped in with an atomic
rename, so analysts (read-only) never hold a lock on the pipeline's working database
and never see a half-written warehouse. The same tables are written as Delta to the
published bucket.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import duckdb
import pyarrow as pa
from deltalake import write_deltalake

from pipelines import s3, settings
from pipelines.faults import crash_point


def mart_models(manifest_path: Path) -> list[dict]:
    """Models under ``models/marts`` in the dbt manifest (name, description, columns)."""
    manifest = json.loads(Path(manifest_path).read_text())
    marts = []
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model" and node["original_file_path"].startswith("models/marts/"):
            marts.append(
                {
                    "name": node["name"],
                    "schema": node["schema"],
                    "description": node.get("description") or "",
                    "columns": {c: v.get("description") or "" for c, v in node.get("columns", {}).items()},
                }
            )
    return sorted(marts, key=lambda m: m["name"])


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _comment(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def publish(manifest_path: Path, work_db: Path | None = None, target: Path | None = None) -> dict[str, int]:
    """Copy the marts into a new DuckDB file, swap it in atomically; return row counts."""
    work_db = Path(work_db or settings.work_db_path())
    target = Path(target or settings.published_db_path())
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{target.name}.*.tmp"):  # left by a crashed publish
        stale.unlink(missing_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    counts: dict[str, int] = {}
    tables: dict[str, pa.Table] = {}
    con = duckdb.connect(str(tmp))
    try:
        con.execute(f"ATTACH {_comment(str(work_db))} AS work (READ_ONLY)")
        for model in mart_models(manifest_path):
            name = model["name"]
            con.execute(f'CREATE TABLE main."{name}" AS SELECT * FROM work."{model["schema"]}"."{name}"')
            if model["description"]:
                con.execute(f'COMMENT ON TABLE main."{name}" IS {_comment(model["description"])}')
            existing = {r[0] for r in con.execute(f"DESCRIBE main.\"{name}\"").fetchall()}
            for column, text in model["columns"].items():
                if text and column in existing:
                    con.execute(f'COMMENT ON COLUMN main."{name}"."{column}" IS {_comment(text)}')
            counts[name] = con.execute(f'SELECT count(*) FROM main."{name}"').fetchone()[0]
            tables[name] = con.execute(f'SELECT * FROM main."{name}"').to_arrow_table()
        con.execute("DETACH work")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    crash_point("before_publish_swap")
    os.replace(tmp, target)
    crash_point("after_publish_swap")
    if settings.published_uri().startswith("s3://"):
        opts = s3.delta_storage_options()
        for name, table in tables.items():
            write_deltalake(
                f"{settings.published_uri()}/{name}", table, mode="overwrite", schema_mode="overwrite",
                storage_options=opts,
            )
    return counts
