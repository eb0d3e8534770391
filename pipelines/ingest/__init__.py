"""Ingest landing objects: read, validate, land in Delta, archive, register, receipt.

The steps are ordered and idempotent so that a crash at any point, followed by a rerun,
converges to the state of a clean run:

1. look the file up in the registry (same key and bytes → rerun; same bytes under
   another key → duplicate, no rows);
2. keep an immutable archive copy (``archive/<bureau>/<dataset>/<date>/<sha256>/<file>``);
3. replace the object key's rows in the raw and quarantine Delta tables (one commit each);
4. append the file to the registry;
5. write the receipt where the bureau can read but not write it.

Modules: :mod:`.keys` (landing-key grammar), :mod:`.receipts`, :mod:`.batch` (what a batch
holds), :mod:`.chunks` (chunk planning), :mod:`.landing` (rows into Delta), :mod:`.archive`
(archive copy, ledger entries), :mod:`.profiler` (stage timings), :mod:`.orchestrate`.
"""

from pipelines.ingest.archive import archive_copy
from pipelines.ingest.batch import BatchResult, LandingObject
from pipelines.ingest.chunks import max_bytes_per_commit, plan_chunks
from pipelines.ingest.keys import InvalidKey, object_name, parse_key, receipt_key_for
from pipelines.ingest.landing import MAX_LISTED_FAILURES
from pipelines.ingest.orchestrate import IO_THREADS, process, process_batch
from pipelines.ingest.profiler import StageProfiler, StageTimings
from pipelines.ingest.receipts import Receipt, read_receipt, write_receipt

__all__ = [
    "IO_THREADS",
    "MAX_LISTED_FAILURES",
    "BatchResult",
    "InvalidKey",
    "LandingObject",
    "Receipt",
    "StageProfiler",
    "StageTimings",
    "archive_copy",
    "max_bytes_per_commit",
    "object_name",
    "parse_key",
    "plan_chunks",
    "process",
    "process_batch",
    "read_receipt",
    "receipt_key_for",
    "write_receipt",
]
