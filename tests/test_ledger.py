"""The hash-chained ledger detects every kind of tampering (real S3, real archive copies)."""

from __future__ import annotations

import hashlib
import json

import pytest

from pipelines import ledger, s3, settings
from pipelines.tools.cli import main as cli
from tests.helpers import csv_bytes, submit_and_ingest, ticket


@pytest.fixture
def filled(lake_root, unique, s3_client):
    """A ledger with four file entries; returns (client, bucket, prefix, recorded head)."""
    for n in range(4):
        r = submit_and_ingest(f"hotline/tickets/2026-03-0{n + 1}/{unique}-{n}.csv", csv_bytes([ticket(n + 1)]))
        assert r.status == "accepted" and r.ledger_seq == n
    bucket, prefix = ledger._location()
    head = ledger.head()
    assert head.seq == 3
    assert ledger.verify(expected_head=head) == []
    return s3_client(), bucket, prefix, head


def _kinds(problems) -> set[str]:
    return {p.kind for p in problems}


def _entry(client, bucket, prefix, seq):
    return json.loads(client.get_object(Bucket=bucket, Key=f"{prefix}{seq:012d}.json")["Body"].read())


def _put(client, bucket, prefix, seq, entry):
    client.put_object(Bucket=bucket, Key=f"{prefix}{seq:012d}.json", Body=json.dumps(entry).encode())


def test_chain_links_and_rerun_does_not_append_twice(filled, unique):
    client, bucket, prefix, head = filled
    entries = ledger.read_entries()
    assert [e["seq"] for e in entries] == [0, 1, 2, 3]
    assert entries[0]["prev_hash"] == ledger.GENESIS
    assert all(entries[i]["prev_hash"] == entries[i - 1]["hash"] for i in range(1, 4))
    submit_and_ingest(f"hotline/tickets/2026-03-01/{unique}-0.csv", csv_bytes([ticket(1)]))  # same bytes, same key
    assert ledger.head() == head


def test_edited_entry_is_detected(filled):
    client, bucket, prefix, head = filled
    e = _entry(client, bucket, prefix, 1)
    e["payload"]["rows_accepted"] = 999
    _put(client, bucket, prefix, 1, e)
    assert "edited" in _kinds(ledger.verify(expected_head=head))


def test_edit_with_recomputed_hash_breaks_the_chain(filled):
    client, bucket, prefix, head = filled
    e = _entry(client, bucket, prefix, 1)
    e["payload"]["rows_accepted"] = 999
    e["hash"] = ledger.entry_hash(e)
    _put(client, bucket, prefix, 1, e)
    assert "chain" in _kinds(ledger.verify(expected_head=head))


def test_removed_entry_is_detected(filled):
    client, bucket, prefix, head = filled
    client.delete_object(Bucket=bucket, Key=f"{prefix}{2:012d}.json")
    assert {"order", "chain"} <= _kinds(ledger.verify(expected_head=head))


def test_reordered_entries_are_detected(filled):
    client, bucket, prefix, head = filled
    one, two = _entry(client, bucket, prefix, 1), _entry(client, bucket, prefix, 2)
    _put(client, bucket, prefix, 1, two)
    _put(client, bucket, prefix, 2, one)
    assert "order" in _kinds(ledger.verify(expected_head=head))


def test_truncated_tail_is_detected_against_the_recorded_head(filled):
    client, bucket, prefix, head = filled
    client.delete_object(Bucket=bucket, Key=f"{prefix}{3:012d}.json")
    assert ledger.verify() == []  # the remaining chain is consistent in itself ...
    assert "truncated" in _kinds(ledger.verify(expected_head=head))  # ... but the recorded head is gone


def test_altered_archive_bytes_are_detected(filled, unique):
    client, bucket, prefix, head = filled
    e = _entry(client, bucket, prefix, 2)
    client.put_object(Bucket=settings.buckets().lake, Key=e["payload"]["archive_key"], Body=b"forged")
    problems = ledger.verify(expected_head=head)
    assert [p.kind for p in problems] == ["archive"] and problems[0].seq == 2


def test_cli_verify_exit_codes(filled, capsys):
    client, bucket, prefix, head = filled
    assert cli(["ledger", "verify", "--head", str(head)]) == 0
    assert "ledger OK" in capsys.readouterr().out
    client.delete_object(Bucket=bucket, Key=f"{prefix}{3:012d}.json")
    assert cli(["ledger", "verify", "--head", str(head)]) == 1
    assert "truncated" in capsys.readouterr().out


def _checkpoint(client, bucket, prefix) -> dict:
    key = prefix.removesuffix("entries/") + "checkpoint.json"
    return json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())


def test_a_new_process_reads_the_checkpoint_instead_of_every_entry(filled, unique):
    client, bucket, prefix, head = filled
    assert [e["seq"] for e in _checkpoint(client, bucket, prefix)["entries"]] == [0, 1, 2, 3]
    fetched: list[str] = []

    def count(params, **_):
        fetched.append(params["Key"])

    pipeline = s3.client("pipeline")
    pipeline.meta.events.register("before-parameter-build.s3.GetObject", count)
    try:
        ledger.forget_cache()  # as in a new run process
        r = submit_and_ingest(f"hotline/tickets/2026-03-09/{unique}-n.csv", csv_bytes([ticket(9)]))
    finally:
        pipeline.meta.events.unregister("before-parameter-build.s3.GetObject", count)
    assert r.ledger_seq == 4
    assert [k for k in fetched if k.startswith(prefix)] == [], "no entry object is read one by one"
    assert [k for k in fetched if k.endswith("checkpoint.json")] == [
        prefix.removesuffix("entries/") + "checkpoint.json"
    ]
    assert [e["seq"] for e in _checkpoint(client, bucket, prefix)["entries"]] == [0, 1, 2, 3, 4]
    assert ledger.verify(expected_head=ledger.head()) == []


def _put_checkpoint(client, bucket, prefix, ckpt) -> None:
    key = prefix.removesuffix("entries/") + "checkpoint.json"
    client.put_object(Bucket=bucket, Key=key, Body=json.dumps(ckpt).encode())
    ledger.forget_cache()  # the next writer is a new process


def test_a_checkpoint_entry_with_a_forged_signature_is_not_trusted(filled, unique):
    """Whoever can write the lake bucket cannot make a writer skip a file's entry."""
    client, bucket, prefix, head = filled
    key = f"hotline/tickets/2026-03-09/{unique}-f.csv"
    data = csv_bytes([ticket(9)])
    ckpt = _checkpoint(client, bucket, prefix)
    fake = {**ckpt["entries"][-1], "seq": 4, "prev_hash": ckpt["entries"][-1]["hash"]}
    fake["dedupe_key"] = f"file:{key}:{hashlib.sha256(data).hexdigest()}"  # "the coming file is in already"
    fake["hash"] = ledger.entry_hash(fake)
    fake["sig"] = ledger.sign(fake["hash"], b"not the ledger key")
    _put_checkpoint(client, bucket, prefix, {**ckpt, "entries": [*ckpt["entries"], fake]})
    r = submit_and_ingest(key, data)
    assert r.ledger_seq == 4
    assert _entry(client, bucket, prefix, 4)["payload"]["source_key"] == key
    assert _entry(client, bucket, prefix, 4)["prev_hash"] == _entry(client, bucket, prefix, 3)["hash"]
    assert ledger.verify(expected_head=ledger.head()) == []


def test_a_checkpoint_with_an_entry_left_out_is_not_trusted(filled):
    """An entry missing from the checkpoint would let its dedupe key be appended a second time."""
    client, bucket, prefix, head = filled
    ckpt = _checkpoint(client, bucket, prefix)
    dedupe_key = ckpt["entries"][1]["dedupe_key"]
    _put_checkpoint(client, bucket, prefix, {**ckpt, "entries": [e for e in ckpt["entries"] if e["seq"] != 1]})
    again = ledger.append("file", {"source_key": "again"}, dedupe_key=dedupe_key)
    assert again["seq"] == 1 and again["payload"] == _entry(client, bucket, prefix, 1)["payload"]
    assert ledger.head() == head
    assert ledger.verify(expected_head=head) == []
