"""Reprocess: re-validate the archived files of a dataset against the CURRENT contract (issue 15.3).

When a contract changes (a rule loosened or tightened, a new enum value), the files already
accepted were validated against the old version. For each object key of the dataset and
business date whose latest accepted version has an archive copy
(``archive/<bureau>/<dataset>/<business_date>/<sha256>/<filename>`` in the lake bucket), the
archived bytes go through the same ingestion path as a landing object
(:func:`pipelines.ingest.orchestrate.process_batch` with the data supplied): parsing, GX
validation, quarantine, the one-commit replace of exactly that key's raw and quarantine rows,
registry, ledger and receipt are all that code. No landing object is needed (the bureau may
have deleted it). What differs (``reprocess=<reason>``):

- identical bytes are not settled as a rerun or a duplicate: re-validating them is the point;
- the receipt is the key's own receipt (``receipt_key_for(key)``, overwritten: the bureau and
  the receipt reconciler read the receipt of the key, and it must describe the rows now in the
  lake), marked ``reprocessed`` with ``reprocess_reason``, the current ``contract_version`` and
  ``reprocess_of`` (the counts, contract version and ledger entry of the receipt it replaced);
  its Chinese summary says 重新处理. Nothing is lost by overwriting: the ledger entry and the
  registry row of every earlier processing stay, in full;
- the ledger entry is of kind ``reprocess`` (once per key, sha256 and run; ``ledger.verify``
  checks rows and archive of ``file`` and ``reprocess`` entries alike, latest per key wins);
- the registry gets a row with status ``reprocessed`` (the key's ``accepted`` row stays the
  record of what the bureau submitted and when: the data-quality KPIs count submissions);
- a file the current contract cannot read at all (e.g. a new required column) keeps its rows,
  registry row and receipt: it is reported, not applied.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import polars as pl
from botocore.exceptions import ClientError

from pipelines import contracts, lake, s3
from pipelines.contracts import Contract
from pipelines.ingest.batch import LandingObject
from pipelines.ingest.keys import parse_key
from pipelines.ingest.orchestrate import process_batch
from pipelines.ingest.receipts import Receipt

DEFAULT_REASON = "数据规范变更后重新校验 / re-validated against the current contract"


@dataclass
class ReprocessResult:
    dataset: str
    business_date: date
    receipts: list[Receipt] = field(default_factory=list)  # written: the key's rows were replaced
    kept: list[Receipt] = field(default_factory=list)  # unreadable under the current contract: rows kept
    errors: dict[str, Exception] = field(default_factory=dict)  # object key → failure (the run fails)
    superseded: dict[str, str] = field(default_factory=dict)  # a newer upload landed meanwhile
    message: str = ""


def archived_versions(contract: Contract, business_date: date, registry: pl.DataFrame | None = None) -> list[dict]:
    """Registry rows of the latest accepted version of every key of the dataset and date."""
    registry = lake.registry() if registry is None else registry
    rows = registry.filter(
        (pl.col("bureau") == contract.bureau)
        & (pl.col("dataset") == contract.dataset)
        & (pl.col("business_date") == business_date)
        & (pl.col("status") == "accepted")
    )
    if not rows.height:
        return []
    latest = rows.sort(["uploaded_at", "processed_at"]).group_by("source_key", maintain_order=True).last()
    return latest.sort("source_key").to_dicts()


def archive_path(contract: Contract, row: dict) -> str:
    """The archive path (under the lake root) of a registry row's bytes."""
    filename = parse_key(row["source_key"])[3]
    return f"archive/{contract.bureau}/{contract.dataset}/{row['business_date']}/{row['file_sha256']}/{filename}"


def reprocess_date(
    dataset: str,
    business_date: date,
    run_id: str,
    reason: str = DEFAULT_REASON,
    log: Callable[[str], None] | None = None,
) -> ReprocessResult:
    """Re-validate the archived files of ``dataset`` (``<bureau>.<dataset>``) for one business date."""
    result = ReprocessResult(dataset, business_date)
    bureau, _, name = dataset.partition(".")
    contract = contracts.get_contract(bureau, name)
    if contract is None:
        raise ValueError(f"no contract for dataset {dataset!r}")
    rows = archived_versions(contract, business_date)
    if not rows:
        result.message = f"{dataset} {business_date}: no archived accepted file, nothing to reprocess"
        return result
    objs, data = [], {}
    client = s3.client("pipeline")
    for row in rows:
        bucket, key = lake.object_location(archive_path(contract, row))
        try:
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("NoSuchKey", "404"):
                raise
            result.errors[row["source_key"]] = FileNotFoundError(f"archive copy {key} is missing")
            continue
        if hashlib.sha256(body).hexdigest() != row["file_sha256"]:
            result.errors[row["source_key"]] = ValueError(f"archive copy {key} no longer matches its sha256")
            continue
        objs.append(LandingObject(row["source_key"], row["source_etag"], len(body), row["uploaded_at"]))
        data[row["source_key"]] = body
    if objs:
        batch = process_batch(objs, run_id, data, log=log, reprocess=reason)
        result.errors.update(batch.errors)
        result.superseded.update(batch.superseded)
        for receipt in batch.receipts:
            (result.receipts if receipt.status == "accepted" else result.kept).append(receipt)
    result.message = (
        f"{dataset} {business_date}: {len(result.receipts)} file(s) reprocessed against contract "
        f"{contract.version}, {len(result.kept)} kept (unreadable under it), "
        f"{len(result.errors)} failed, {len(result.superseded)} superseded meanwhile"
    )
    return result
