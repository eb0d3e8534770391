"""Attacks on the ledger through ``shuzhong ledger verify`` on ingested files and a published warehouse."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from pipelines import lake, ledger, s3, settings
from pipelines.contracts import get_contract
from pipelines.tools.cli import main as cli
from tests.helpers import csv_bytes, submit_and_ingest, ticket


@pytest.fixture
def setup(lake_root, unique, s3_client, tmp_path, monkeypatch):
    """Four ingested files and one publish (a real DuckDB file, its entry and witness); empty DAGSTER_HOME."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    (tmp_path / "dagster").mkdir()
    monkeypatch.setenv("SHUZHONG_PUBLISHED_DB", str(tmp_path / "published" / "warehouse.duckdb"))
    monkeypatch.setenv("SHUZHONG_PUBLISHED_URI", f"s3://{settings.buckets().published}/t-{unique}")
    for n in range(4):
        r = submit_and_ingest(
            f"hotline/tickets/2026-03-0{n + 1}/{unique}-{n}.csv", csv_bytes([ticket(10 * n + 1), ticket(10 * n + 2)])
        )
        assert r.status == "accepted"
    db = settings.published_db_path()
    db.parent.mkdir(parents=True)
    duckdb.connect(str(db)).execute("CREATE TABLE kpi AS SELECT 1 AS n").close()
    write_deltalake(_published_table(), pa.table({"n": [1]}), storage_options=s3.delta_storage_options())
    ledger.record_publish({"kpi": 1}, f"run-{unique}")
    bucket, prefix = ledger._location()
    return s3_client(), bucket, prefix


def _verify(capsys) -> tuple[int, str]:
    code = cli(["ledger", "verify"])
    return code, capsys.readouterr().out


def _entry(client, bucket, prefix, seq):
    return json.loads(client.get_object(Bucket=bucket, Key=f"{prefix}{seq:012d}.json")["Body"].read())


def _put(client, bucket, prefix, seq, entry):
    client.put_object(Bucket=bucket, Key=f"{prefix}{seq:012d}.json", Body=json.dumps(entry).encode())


def _published_table() -> str:
    return f"{settings.published_uri()}/unconditional/kpi"


def _raw_uri() -> str:
    return lake.raw_uri(get_contract("hotline", "tickets"))


def test_untouched_setup_verifies(setup, capsys):
    code, out = _verify(capsys)
    assert code == 0 and "ledger OK" in out and "receipt" in out and "published" in out


def _rechain(client, bucket, prefix, entries: list[dict]) -> None:
    """Write ``entries`` as seq 0.. with recomputed prev_hash/hash, signed with a guessed key; drop the rest."""
    prev = ledger.GENESIS
    for seq, e in enumerate(entries):
        e = {k: v for k, v in e.items() if k != "_object_key"}
        e["seq"], e["prev_hash"] = seq, prev
        e["hash"] = ledger.entry_hash(e)
        e["sig"] = ledger.sign(e["hash"], b"the attacker's guess")
        prev = e["hash"]
        _put(client, bucket, prefix, seq, e)
    for seq in range(len(entries), 5):
        client.delete_object(Bucket=bucket, Key=f"{prefix}{seq:012d}.json")


def test_edited_entry(setup, capsys):
    """Entry 1 edited, it and the later entries re-hashed so the chain is consistent."""
    client, bucket, prefix = setup
    entries = ledger.read_entries()
    entries[1]["payload"]["rows_accepted"] = 999
    _rechain(client, bucket, prefix, entries)
    code, out = _verify(capsys)
    assert code == 1 and "[signature] entry 1" in out and "[head] entry 1" in out


def test_removed_entry(setup, capsys):
    """Entry 2 removed, the later ones renumbered and re-hashed."""
    client, bucket, prefix = setup
    entries = ledger.read_entries()
    _rechain(client, bucket, prefix, entries[:2] + entries[3:])
    code, out = _verify(capsys)
    assert code == 1 and "[signature] entry 2" in out and "[truncated] entry 4" in out


def test_reordered_entries(setup, capsys):
    """Entries 1 and 2 swapped, renumbered and re-hashed."""
    client, bucket, prefix = setup
    entries = ledger.read_entries()
    _rechain(client, bucket, prefix, [entries[0], entries[2], entries[1], *entries[3:]])
    code, out = _verify(capsys)
    assert code == 1 and "[signature] entry 1" in out and "[head] entry 2" in out


def test_truncated_chain_is_caught_by_the_witnesses(setup, capsys):
    client, bucket, prefix = setup
    for seq in (3, 4):  # the last file entry and the publish entry
        client.delete_object(Bucket=bucket, Key=f"{prefix}{seq:012d}.json")
    code, out = _verify(capsys)
    assert code == 1 and "[truncated] entry 4" in out and "[truncated] entry 3" in out


def test_rewritten_chain_without_the_key(setup, capsys, monkeypatch):
    """Whoever writes the lake rebuilds the whole chain with recomputed hashes, signed with a key of its own."""
    client, bucket, prefix = setup
    entries = ledger.read_entries()
    prev = ledger.GENESIS
    for e in entries:
        e = {k: v for k, v in e.items() if k != "_object_key"}
        if e["kind"] == "file":
            e["payload"]["rows_accepted"] += 1
        e["prev_hash"] = prev
        e["hash"] = ledger.entry_hash(e)
        e["sig"] = ledger.sign(e["hash"], b"the attacker's guess")
        prev = e["hash"]
        _put(client, bucket, prefix, e["seq"], e)
    code, out = _verify(capsys)  # DAGSTER_HOME is empty: receipts and the published witness catch it
    assert code == 1 and "[signature]" in out and "[head] entry 4" in out and "[head] entry 0" in out
    assert "receipt" in out and ledger.WITNESS_FILE in out


def test_missing_ledger_key_is_a_clear_error(setup, capsys, monkeypatch):
    monkeypatch.setenv(ledger.LEDGER_KEY_ENV, "")
    assert cli(["ledger", "verify"]) == 2
    assert "SHUZHONG_LEDGER_KEY is not set" in capsys.readouterr().err


def test_changed_archive_bytes(setup, capsys):
    """Archive copy replaced and its entry's sha256 rewritten to match, the chain re-hashed."""
    client, bucket, prefix = setup
    entries = ledger.read_entries()
    forged = b"forged"
    client.put_object(Bucket=settings.buckets().lake, Key=entries[2]["payload"]["archive_key"], Body=forged)
    entries[2]["payload"]["file_sha256"] = hashlib.sha256(forged).hexdigest()
    _rechain(client, bucket, prefix, entries)
    code, out = _verify(capsys)
    assert code == 1 and "[signature] entry 2" in out and "[head] entry 2" in out


def test_deleted_raw_row(setup, capsys):
    """An ordinary Delta delete commit on the raw table."""
    dt = DeltaTable(_raw_uri(), storage_options=s3.delta_storage_options())
    assert dt.delete("ticket_id = 'ZZ12345-20260305-000011'").get("num_deleted_rows") == 1
    code, out = _verify(capsys)
    assert code == 1 and "[raw] entry 1" in out


def test_changed_raw_row(setup, capsys):
    dt = DeltaTable(_raw_uri(), storage_options=s3.delta_storage_options())
    dt.update(updates={"topic": "'forged'"}, predicate="ticket_id = 'ZZ12345-20260305-000021'")
    code, out = _verify(capsys)
    assert code == 1 and "[raw] entry 2" in out


def test_changed_published_file(setup, capsys):
    con = duckdb.connect(str(settings.published_db_path()))
    con.execute("UPDATE kpi SET n = 2")
    con.close()
    code, out = _verify(capsys)
    assert code == 1 and "[published] entry 4" in out


def test_no_witness_at_all(setup, capsys):
    client, bucket, _ = setup
    Path(ledger.witness_path()).unlink()
    receipts = settings.buckets().receipts
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=receipts):
        for o in page.get("Contents", []):
            client.delete_object(Bucket=receipts, Key=o["Key"])
    code, out = _verify(capsys)
    assert code == 1 and "no witness of the head outside the lake" in out


def test_changed_published_delta_table(setup, capsys):
    write_deltalake(
        _published_table(), pa.table({"n": [2]}), mode="overwrite", storage_options=s3.delta_storage_options()
    )
    code, out = _verify(capsys)
    assert code == 1 and "[published] entry 4" in out and "Delta table" in out
