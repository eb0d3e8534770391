"""Delta copies of the published tables on S3, rewritten only where a fingerprint changed."""

from __future__ import annotations

from urllib.parse import urlsplit

import duckdb
from deltalake import CommitProperties, DeltaTable, write_deltalake

from pipelines import s3, settings
from pipelines.publish.build import BuiltFile, group_predicate, ident
from pipelines.publish.sharing import CONDITIONAL_DIR, GOVERNED_PREFIXES, UNCONDITIONAL, delta_prefix


def _split_uri(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    return parts.netloc, parts.path.strip("/")


def _delete_prefix(client, bucket: str, prefix: str) -> None:
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        objs = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        for i in range(0, len(objs), 1000):
            client.delete_objects(Bucket=bucket, Delete={"Objects": objs[i : i + 1000], "Quiet": True})


def _subprefixes(client, bucket: str, prefix: str) -> list[str]:
    out = []
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        out += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    return out


FINGERPRINT_KEY = "shuzhong.fingerprint"


def _delta_fingerprint(uri: str, opts: dict) -> tuple[str | None, set[str]]:
    """Fingerprint recorded by the Delta copy's last commit, and its columns (None, {} if none)."""
    try:
        table = DeltaTable(uri, storage_options=opts)
    except Exception:  # noqa: BLE001 - no table there yet
        return None, set()
    last = table.history(1)
    return (last[0].get(FINGERPRINT_KEY) if last else None), {f.name for f in table.schema().fields}


def write_delta(files: dict[str | None, BuiltFile]) -> None:
    """Delta copies of the published tables: a table is rewritten (streamed from its published
    file) only when its fingerprint differs from the one its last Delta commit recorded."""
    root = settings.published_uri().rstrip("/")
    bucket, base = _split_uri(root)
    base = f"{base}/" if base else ""
    opts = s3.delta_storage_options()
    client = s3.client("pipeline")
    wanted = {f"{base}{delta_prefix(key)}/{name}/" for key, b in files.items() for name in b.fingerprints}
    for key, b in files.items():
        con = duckdb.connect(str(b.final), read_only=True)
        try:
            for name, fp in b.fingerprints.items():
                uri = f"{root}/{delta_prefix(key)}/{name}"
                recorded, old_columns = _delta_fingerprint(uri, opts)
                if recorded == fp:
                    continue
                props = CommitProperties(custom_metadata={FINGERPRINT_KEY: fp})
                groups = b.groups.get(name)
                if groups is not None and recorded is not None and recorded == b.previous.get(name):
                    # The copy holds the previous publish: replace only the changed groups, in one commit.
                    predicate = group_predicate(groups)
                    reader = con.execute(f"SELECT * FROM main.{ident(name)} WHERE {predicate}").fetch_record_batch(
                        256_000
                    )
                    write_deltalake(
                        uri,
                        reader,
                        mode="overwrite",
                        predicate=predicate,
                        storage_options=opts,
                        commit_properties=props,
                    )
                    continue
                reader = con.execute(f"SELECT * FROM main.{ident(name)}").fetch_record_batch(256_000)
                if old_columns - set(reader.schema.names):
                    # A column left this file (e.g. reclassified conditional): earlier versions
                    # would still hold it, so the table is rewritten from scratch.
                    _delete_prefix(client, bucket, f"{base}{delta_prefix(key)}/{name}/")
                write_deltalake(
                    uri,
                    reader,
                    mode="overwrite",
                    schema_mode="overwrite",
                    storage_options=opts,
                    commit_properties=props,
                )
        finally:
            con.close()
    # Tables no longer published here (dropped or reclassified) must not stay readable.
    existing = _subprefixes(client, bucket, f"{base}{UNCONDITIONAL}/")
    for cond in _subprefixes(client, bucket, f"{base}{CONDITIONAL_DIR}/"):
        existing += _subprefixes(client, bucket, cond)
    # The layout before the split: <published>/<table>/ (readable by nobody now).
    existing += [p for p in _subprefixes(client, bucket, base) if p[len(base) :].startswith(GOVERNED_PREFIXES)]
    for prefix in existing:
        if prefix not in wanted:
            _delete_prefix(client, bucket, prefix)
