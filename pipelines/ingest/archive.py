"""The immutable archive copy of accepted bytes, and the ledger entries of landed files."""

from __future__ import annotations

from datetime import date

from botocore.exceptions import ClientError

from pipelines import lake, ledger, s3
from pipelines.contracts import Contract
from pipelines.ingest.batch import PendingFile


def archive_copy(contract: Contract, business_date: date, filename: str, sha: str, data: bytes) -> str:
    """Keep an immutable copy of the accepted bytes; returns its key in the lake bucket."""
    bucket, key = lake.object_location(f"archive/{contract.bureau}/{contract.dataset}/{business_date}/{sha}/{filename}")
    client = s3.client("pipeline")
    try:
        client.put_object(Bucket=bucket, Key=key, Body=data, IfNoneMatch="*")
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("PreconditionFailed", "412"):
            raise  # 412: the archive copy exists already (same sha256, so the same bytes)
    return key


def archive_file(item: PendingFile) -> str:
    """:func:`archive_copy` of one landed file."""
    return archive_copy(item.contract, item.business_date, item.filename, item.receipt.file_sha256, item.data)


def ledger_files(
    items: list[PendingFile], archive_keys: list[str], reprocess: str | None = None, run_id: str = ""
) -> list[dict]:
    """One ``file`` ledger entry per landed file (once per key and sha256); returns the entries.
    ``reprocess`` (its reason): ``reprocess`` entries instead, once per key, sha256 and run (the
    same bytes re-validated against a newer contract are a new fact, not a rerun)."""
    kind = "file" if reprocess is None else "reprocess"
    extra = {} if reprocess is None else {"reprocessed": True, "reprocess_reason": reprocess}
    return ledger.append_many(
        [
            (
                kind,
                {
                    "source_key": i.obj.key,
                    "etag": i.receipt.etag,
                    "file_sha256": i.receipt.file_sha256,
                    "archive_key": archive_key,
                    "table": lake.raw_uri(i.contract),
                    "delta_version": i.receipt.raw_table_version,
                    "business_date": str(i.business_date),
                    "contract_version": i.contract.version,
                    "rows_received": i.receipt.rows_received,
                    "rows_accepted": i.receipt.rows_accepted,
                    "rows_quarantined": i.receipt.rows_quarantined,
                    "rows_superseded": i.receipt.rows_superseded,
                    "rows_digest": i.rows_digest,
                    "quarantine_table": lake.quarantine_uri(i.contract),
                    "quarantine_version": i.quarantine_version,
                    "quarantine_digest": i.quarantine_digest,
                    **extra,
                },
                f"file:{i.obj.key}:{i.receipt.file_sha256}"
                if reprocess is None
                else f"reprocess:{i.obj.key}:{i.receipt.file_sha256}:{run_id}",
            )
            for i, archive_key in zip(items, archive_keys, strict=True)
        ]
    )
