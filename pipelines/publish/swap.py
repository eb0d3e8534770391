"""Publish: build every file beside its published path, swap each in with an atomic rename,
drop files and Delta tables no longer published, write the Delta copies."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import duckdb

from pipelines import settings
from pipelines.faults import crash_point
from pipelines.publish.build import BuiltFile, build_file
from pipelines.publish.delta import write_delta
from pipelines.publish.sharing import CONDITIONAL_DIR, Placement, conditional_db_path, mart_models, placements


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _clean_stale_tmp(directory: Path) -> None:
    if directory.is_dir():
        for stale in directory.glob(".*.duckdb.*.tmp"):  # left by a crashed publish
            stale.unlink(missing_ok=True)


class Published(dict):
    """Row counts by published table; ``changed``: the tables whose content was rewritten."""

    changed: list[str]


def publish(manifest_path: Path, work_db: Path | None = None, target: Path | None = None) -> Published:
    """Build the published files (main + one per conditional dataset), swap each in
    atomically, write the Delta copies; return row counts by table."""
    work_db = Path(work_db or settings.work_db_path())
    target = Path(target or settings.published_db_path())
    cond_dir = target.parent / CONDITIONAL_DIR
    target.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale_tmp(target.parent)
    _clean_stale_tmp(cond_dir)

    models = mart_models(manifest_path)
    con = duckdb.connect(str(work_db), read_only=True)
    try:
        actual = {}
        for m in models:
            rows = con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? "
                "AND database_name = current_database() ORDER BY column_index",
                [m["schema"], m["name"]],
            ).fetchall()
            if not rows:
                raise RuntimeError(f"{m['schema']}.{m['name']} is not in the working database {work_db}")
            actual[m["name"]] = [r[0] for r in rows]
    finally:
        con.close()

    files: dict[str | None, list[tuple[dict, Placement]]] = {None: []}
    for m in models:
        for p in placements(m, actual[m["name"]]):
            files.setdefault(p.key, []).append((m, p))

    counts = Published()
    built: dict[str | None, BuiltFile] = {}
    for key, items in files.items():
        final = target if key is None else conditional_db_path(key, target)
        final.parent.mkdir(parents=True, exist_ok=True)
        built[key] = build_file(_tmp_path(final), final, work_db, items)
        counts.update(built[key].counts)

    crash_point("before_publish_swap")
    for b in built.values():
        # Read-only for its owner (0400) before it appears: analysts open it read-only and the
        # next publish replaces it by rename; the state folder is 0700, so 0444 adds no reader.
        os.chmod(b.tmp, 0o400)
        os.replace(b.tmp, b.final)
    crash_point("after_publish_swap")
    # A dataset with no conditional table any more: its file goes (never readable stale data).
    keep = {b.final for b in built.values()}
    if cond_dir.is_dir():
        for old in cond_dir.glob("*.duckdb"):
            if old not in keep:
                old.unlink(missing_ok=True)
        if not any(cond_dir.iterdir()):
            cond_dir.rmdir()

    if settings.published_uri().startswith("s3://"):
        write_delta(built)
    counts.changed = sorted({t for b in built.values() for t in b.changed})
    return counts
