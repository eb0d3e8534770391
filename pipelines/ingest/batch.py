"""What a batch works on: landing objects, files waiting to land, registry rows and the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import polars as pl

from pipelines import parsing
from pipelines.contracts import Contract
from pipelines.ingest.keys import receipt_key_for
from pipelines.ingest.profiler import StageProfiler, StageTimings
from pipelines.ingest.receipts import Receipt


@dataclass(frozen=True)
class LandingObject:
    key: str
    etag: str
    size: int = 0
    last_modified: datetime | None = None


@dataclass
class PendingFile:
    """A readable file of the batch: its rows wait for the batch's one commit per table."""

    obj: LandingObject
    receipt: Receipt
    contract: Contract
    business_date: date
    filename: str
    data: bytes
    parsed: parsing.ParsedFile
    frame: pl.DataFrame  # typed rows, last row per key
    superseded: int
    failures: dict[str, list[int]] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    rows_digest: str = ""  # ledger.rows_digest of the raw rows, from the rows in memory
    quarantine_digest: str = ""
    quarantine_version: int | None = None


@dataclass
class Batch:
    """What one batch has decided: files to land, registry rows and receipts still to write."""

    run_id: str
    registry: pl.DataFrame
    profiler: StageProfiler
    landing: list[PendingFile] = field(default_factory=list)
    registry_rows: list[dict] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)
    # The reason of a reprocess batch (pipelines.ingest.reprocess): archived bytes re-validated
    # against the current contract; None for an ordinary ingestion.
    reprocess: str | None = None

    def register(self, receipt: Receipt, obj: LandingObject, contract: Contract, business_date: date) -> None:
        """Record the processed file once per (key, ETag, status): a rerun after a crash adds nothing."""
        # A reprocess is registered once per run as status ``reprocessed`` (the key's ``accepted``
        # row stays the record of what the bureau submitted and when).
        status = "reprocessed" if self.reprocess is not None else receipt.status
        if self.reprocess is None:
            self._stamp_uploads(receipt, obj)
        known = self.registry.filter(
            (pl.col("source_key") == obj.key)
            & (pl.col("source_etag") == receipt.etag)
            & (pl.col("status") == status)
            & ((pl.col("run_id") == self.run_id) | (status != "reprocessed"))
        )
        if known.height:
            return
        now = datetime.now(UTC)
        self.registry_rows.append(
            {
                "source_key": obj.key,
                "source_etag": receipt.etag,
                "file_sha256": receipt.file_sha256,
                "bureau": contract.bureau,
                "dataset": contract.dataset,
                "business_date": business_date,
                "status": status,
                "rows_received": receipt.rows_received,
                "rows_accepted": receipt.rows_accepted,
                "rows_quarantined": receipt.rows_quarantined,
                "rows_superseded": receipt.rows_superseded,
                "raw_table_version": receipt.raw_table_version,
                "contract_version": contract.version,
                "uploaded_at": obj.last_modified or now,
                "processed_at": now,
                "run_id": receipt.run_id,
                "receipt_key": receipt_key_for(obj.key),
                "reason": receipt.reason,
            }
        )

    def _stamp_uploads(self, receipt: Receipt, obj: LandingObject) -> None:
        """The upload times a bureau can read back in its receipt (the portal's on-time calendar):
        this version's, and the first upload of the key that was accepted or a no-op duplicate
        (what the data-quality KPI counts, from the registry), so a later correction does not hide it."""
        uploaded = obj.last_modified or datetime.now(UTC)
        if receipt.uploaded_at is None:
            receipt.uploaded_at = uploaded.isoformat(timespec="seconds")
        earlier = self.registry.filter(
            (pl.col("source_key") == obj.key) & pl.col("status").is_in(["accepted", "duplicate"])
        )["uploaded_at"].min()
        times = [t for t in (earlier, uploaded if receipt.status in ("accepted", "duplicate") else None) if t]
        if times:
            receipt.first_submitted_at = min(t.astimezone(UTC) for t in times).isoformat(timespec="seconds")

    def finish(self, receipt: Receipt, obj: LandingObject, contract: Contract, business_date: date) -> Receipt:
        if self.reprocess is not None and receipt.status != "accepted":
            # Unreadable under the current contract: the key keeps its rows, registry row and
            # receipt; the caller reports it (its receipt is returned, never written).
            return receipt
        self.register(receipt, obj, contract, business_date)
        self.receipts.append(receipt)
        return receipt


@dataclass
class BatchResult:
    receipts: list[Receipt] = field(default_factory=list)
    errors: dict[str, Exception] = field(default_factory=dict)  # object key → infrastructure failure
    # object key → planned ETag of a version skipped because a newer upload of the key replaced it
    # (no receipt: the receipt key is the key's, and the newer version's receipt must stand)
    superseded: dict[str, str] = field(default_factory=dict)
    timings: StageTimings = field(default_factory=StageTimings)  # per ingestion stage, this batch only
