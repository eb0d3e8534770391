"""A run past its maximum run time, through the real daemon: run monitoring terminates it and marks
it failed (or canceled), its worker process is gone, Dagster's run retry lands the file, and the bureau's receipt
says accepted — nothing half-done, the row exactly once.

The hang is real: ``SHUZHONG_STALL_AT=after_download`` (pipelines/faults.py) makes the first
ingestion run sleep for an hour after downloading its object; the run's tag
``dagster/max_runtime`` comes from ``SHUZHONG_MAX_RUN_SECONDS``."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from pipelines import ingest, lake
from pipelines.contracts import all_contracts
from pipelines.tools import dagster_home
from tests.daemon_common import wait_for
from tests.helpers import csv_bytes, submit, ticket

CONTRACT = all_contracts()["hotline.tickets"]
# Far above a normal one-file run on a loaded 2-core machine (the retry inherits the tag), far below the hang.
MAX_SECONDS = 60


def _processes_with(text: str) -> list[int]:
    """Live processes whose command line mentions ``text`` (a run id)."""
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            out.append(int(proc.name))
    return out


def test_run_past_its_max_runtime_is_terminated_marked_failed_and_retried(daemon_home, unique, monkeypatch, tmp_path):
    home, procs = daemon_home
    monkeypatch.setenv("SHUZHONG_MAX_RUN_SECONDS", str(MAX_SECONDS))
    monkeypatch.setenv("SHUZHONG_STALL_AT", "after_download")
    monkeypatch.setenv("SHUZHONG_STALL_ONCE", str(tmp_path / "stalled"))
    # Run monitoring checks every 15 s in dagster.yaml; every 2 s here so the test is short.
    config = home / "dagster.yaml"
    text = config.read_text()
    assert "poll_interval_seconds: 15" in text
    config.write_text(text.replace("poll_interval_seconds: 15", "poll_interval_seconds: 2"))

    key = f"hotline/tickets/2026-03-05/{unique}-slow.csv"
    etag = submit(key, csv_bytes([ticket(1, 诉求内容=f"timeout {unique}")])).etag
    instance = DagsterInstance.get()
    procs.append(dagster_home.start_daemon(home))

    def runs() -> list:
        return [
            r
            for r in instance.get_runs(RunsFilter(job_name="ingest_hotline__tickets"))
            if any(o["key"] == key for o in r.run_config["ops"]["raw__hotline__tickets"]["config"]["objects"])
        ]

    def state() -> str:
        seen = [(r.run_id[:8], r.status.value, {k: v for k, v in r.tags.items() if "retry" in k}) for r in runs()]
        return f"runs {seen}; hung: {(tmp_path / 'stalled').exists()}; receipt {ingest.read_receipt(key)}"

    def waiting(predicate, what: str, timeout: float = 300) -> None:
        try:
            wait_for(predicate, what, home, timeout=timeout)
        except AssertionError as exc:
            raise AssertionError(f"{state()}\n{exc}") from None

    # While the first run hangs, its worker is found by its run id (so that "gone" below can fail).
    waiting(lambda: (tmp_path / "stalled").exists(), "the first run to hang")
    hung = next(r for r in runs() if r.status == DagsterRunStatus.STARTED)
    assert _processes_with(hung.run_id), f"no live process mentions the hung run {hung.run_id}"

    # Run monitoring reports the run canceling, terminates its worker and marks it failed; when the
    # worker reports its own interruption first, the run ends CANCELED instead. Either is terminal.
    ended = (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)
    waiting(lambda: any(r.status in ended for r in runs()), "the hung run to be stopped")
    assert (tmp_path / "stalled").exists()  # the first run did hang
    first = next(r for r in runs() if r.status in ended)
    assert first.run_id == hung.run_id
    assert first.tags["dagster/max_runtime"] == str(MAX_SECONDS)
    records = instance.fetch_run_status_changes(DagsterEventType.RUN_CANCELING, limit=1000).records
    reasons = [r.event_log_entry.dagster_event.message for r in records if r.run_id == first.run_id]
    assert any(f"exceeding maximum runtime of {MAX_SECONDS} seconds" in (m or "") for m in reasons), reasons
    # Terminated, not only marked: the hour-long sleep is not still running in a worker.
    waiting(lambda: not _processes_with(first.run_id), "the hung run's worker process to exit", timeout=120)

    def landed() -> bool:
        return (ingest.read_receipt(key) or {}).get("status") == "accepted"

    waiting(landed, "the retry's receipt")
    receipt = ingest.read_receipt(key)
    assert receipt["etag"] == etag
    retry = next(r for r in runs() if r.run_id == receipt["run_id"])
    assert retry.tags.get("dagster/parent_run_id") == first.run_id  # Dagster's run retry, not a new upload
    raw = lake.read_table(lake.raw_uri(CONTRACT)).filter(pl.col("_source_key") == key)
    assert raw.height == 1  # nothing half-done by the terminated run, nothing twice
    registry = lake.registry().filter(pl.col("source_key") == key)
    assert registry.height == 1 and registry["source_etag"].to_list() == [etag]
