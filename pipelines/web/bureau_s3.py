"""What the portal reads and writes on S3, always with the signed-in clerk's own keys.

Nothing here uses the pipeline identity: a key of another bureau is refused by the S3 server
(``AccessDenied``), which :class:`Denied` carries to the page."""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime

import polars as pl
from botocore.exceptions import ClientError

from pipelines import alerts, s3, settings
from pipelines.ingest.keys import receipt_key_for

DENIED_CODES = {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden"}
MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


class Denied(Exception):
    """The S3 server refused the clerk's request."""


class Missing(Exception):
    """No such object (yet)."""


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in DENIED_CODES:
            raise Denied(code) from None
        if code in MISSING_CODES:
            raise Missing(code) from None
        raise


def client(access_key: str, secret_key: str):
    return s3.client_with_keys(access_key, secret_key)


def verify(bureau: str, access_key: str, secret_key: str) -> bool:
    """The keys are the bureau's: equal to its configured keys, and the S3 server accepts them
    for the bureau's own landing prefix."""
    if bureau not in settings.bureaus():
        return False
    try:
        want = settings.credentials(bureau)
    except RuntimeError:
        return False
    same = hmac.compare_digest(want.access_key.encode(), access_key.encode()) & hmac.compare_digest(
        want.secret_key.encode(), secret_key.encode()
    )
    if not same:
        return False
    try:
        _call(
            client(access_key, secret_key).list_objects_v2,
            Bucket=settings.buckets().landing,
            Prefix=f"{bureau}/",
            MaxKeys=1,
        )
    except (Denied, Missing):
        return False
    return True


@dataclass(frozen=True)
class LandedFile:
    key: str
    size: int
    uploaded_at: datetime

    @property
    def business_date(self) -> str:
        return self.key.split("/")[2]

    @property
    def name(self) -> str:
        return self.key.split("/", 3)[3]


def _list(c, bucket: str, prefix: str) -> list[dict]:
    out: list[dict] = []
    token = None
    while True:
        kwargs = {"Bucket": bucket, "Prefix": prefix}
        if token:
            kwargs["ContinuationToken"] = token
        page = _call(c.list_objects_v2, **kwargs)
        out += page.get("Contents", [])
        if not page.get("IsTruncated"):
            return out
        token = page["NextContinuationToken"]


def landed_files(c, bureau: str, dataset: str) -> list[LandedFile]:
    """The clerk's files of one dataset in the landing bucket, newest business date first."""
    objs = _list(c, settings.buckets().landing, f"{bureau}/{dataset}/")
    files = [LandedFile(o["Key"], o["Size"], o["LastModified"]) for o in objs if o["Key"].count("/") >= 3]
    return sorted(files, key=lambda f: (f.business_date, f.key), reverse=True)


def upload(c, key: str, body, size: int) -> None:
    _call(c.put_object, Bucket=settings.buckets().landing, Key=key, Body=body, ContentLength=size)


def receipt(c, object_key: str) -> dict:
    body = _call(c.get_object, Bucket=settings.buckets().receipts, Key=receipt_key_for(object_key))["Body"].read()
    return json.loads(body)


def receipts(c, bureau: str, dataset: str) -> dict[str, dict]:
    """Landing key → its JSON receipt, for one dataset of the clerk's bureau."""
    out = {}
    for o in _list(c, settings.buckets().receipts, f"{bureau}/{dataset}/"):
        if o["Key"].endswith(".receipt.json"):
            doc = json.loads(_call(c.get_object, Bucket=settings.buckets().receipts, Key=o["Key"])["Body"].read())
            out[doc.get("object_key") or o["Key"].removesuffix(".receipt.json")] = doc
    return out


def reminders(c, bureau: str) -> list[dict]:
    """The reminders (催报通知) addressed to the bureau, newest business date first."""
    prefix = f"{bureau}/{alerts.REMINDER_DIR}/"
    docs = []
    for o in _list(c, settings.buckets().receipts, prefix):
        if o["Key"].endswith(".json"):
            doc = json.loads(_call(c.get_object, Bucket=settings.buckets().receipts, Key=o["Key"])["Body"].read())
            doc["key"] = o["Key"]
            docs.append(doc)
    return sorted(docs, key=lambda d: (d.get("business_date", ""), d.get("dataset", "")), reverse=True)


def reminder(c, key: str) -> dict:
    doc = json.loads(_call(c.get_object, Bucket=settings.buckets().receipts, Key=key)["Body"].read())
    doc["key"] = key
    return doc


def registry_frame(bureau: str, dataset: str, files: list[LandedFile], docs: dict[str, dict]) -> pl.DataFrame:
    """A file-registry-shaped frame (bureau, dataset, business_date, status, uploaded_at) from what the
    clerk may read (its landing listing and receipts), for :func:`pipelines.deadlines.evaluate`."""
    uploaded = {f.key: f.uploaded_at for f in files}
    rows = []
    for key, doc in docs.items():
        if not doc.get("business_date") or doc.get("status") not in ("accepted", "duplicate", "rejected", "failed"):
            continue
        day = date.fromisoformat(doc["business_date"])
        stamp = doc.get("uploaded_at")  # this version's upload, as the registry holds it
        at = (
            datetime.fromisoformat(stamp) if stamp else uploaded.get(key) or datetime.fromisoformat(doc["processed_at"])
        )
        rows.append({"business_date": day, "status": doc["status"], "uploaded_at": at})
        first = doc.get("first_submitted_at")  # an earlier accepted version of the key still counts
        if first:
            rows.append({"business_date": day, "status": "accepted", "uploaded_at": datetime.fromisoformat(first)})
    rows = [{"bureau": bureau, "dataset": dataset, **r, "uploaded_at": r["uploaded_at"].astimezone(UTC)} for r in rows]
    schema = {
        "bureau": pl.String,
        "dataset": pl.String,
        "business_date": pl.Date,
        "status": pl.String,
        "uploaded_at": pl.Datetime("us", "UTC"),
    }
    return pl.DataFrame(rows, schema=schema)
