"""``make demo``: the whole flow on the embedded S3 server, through the Dagster daemon.

Starts SeaweedFS, generates a few days of realistic hotline exports, submits them as the
bureau, lets the landing sensor and the transform sensor drive every run, then prints
what happened and how to look further.
"""

from __future__ import annotations

import shutil
import sys
import time
from datetime import date

from pipelines import dagster_home, settings


def _say(msg: str) -> None:
    print(msg, flush=True)


def run(days: int = 4, rows_per_day: int = 300, timeout: int = 900, start: date = date(2026, 3, 2)) -> int:
    from pipelines import generator, ingest, s3, s3server

    if s3server.init_local_env():
        _say(f"• created local credentials and PII key in {settings.env_file()} (ignored by git)")
    settings.load_env_file()
    if not s3server.is_running():
        _say("• starting the embedded S3 server (SeaweedFS) on 127.0.0.1 ...")
        s3server.start()
    s3server.ensure_buckets()
    settings.export_defaults()

    out = settings.state_dir() / "demo" / "exports"
    shutil.rmtree(out, ignore_errors=True)
    _say(f"• generating {days} days × ~{rows_per_day} hotline tickets (GBK/UTF-8 CSV, xlsx) in {out}")
    files = generator.generate("hotline.tickets", out, start=start, days=days, rows_per_day=rows_per_day, seed=7)

    home = dagster_home.prepare()
    from dagster import DagsterInstance

    instance = DagsterInstance.get()
    _say(f"• starting the Dagster daemon (DAGSTER_HOME={home}); log: {home / 'daemon.log'}")
    daemon = dagster_home.start_daemon(home)
    from pipelines import status

    try:
        submitted: dict[str, str] = {}
        client = s3.client("hotline")
        for f in sorted(files, key=lambda f: (f.business_date, str(f.path))):
            key = f.key
            resp = client.put_object(Bucket=settings.buckets().landing, Key=key, Body=f.path.read_bytes())
            submitted[key] = resp["ETag"].strip('"')
            _say(f"  submitted as bureau '{f.bureau}': {key}  ({f.fmt}, {f.encoding}, {f.n_rows} rows)")
        _say("• waiting for the landing sensor and the ingestion runs ...")
        dagster_home.wait_until(lambda: not status.missing_receipts(submitted), timeout=timeout, interval=3)
        # A clerk re-sends an accepted file under another name: identical bytes, no new rows.
        first = min(files, key=lambda f: (f.business_date, str(f.path)))
        dup_key = f"{first.bureau}/{first.dataset}/{first.business_date}/resend-{first.path.name}"
        resp = client.put_object(Bucket=settings.buckets().landing, Key=dup_key, Body=first.path.read_bytes())
        submitted[dup_key] = resp["ETag"].strip('"')
        _say(f"  re-sent identical bytes as {dup_key}")

        _say("• waiting for the duplicate's receipt, then dbt and publish (transform sensor) ...")
        started = time.monotonic()
        last = [""]

        def progress() -> None:
            missing = status.missing_receipts(submitted)
            line = (f"  {len(submitted) - len(missing)}/{len(submitted)} receipts, "
                    f"{status.active_runs(instance)} active run(s), {int(time.monotonic() - started)} s")
            if line.split(",")[0:2] != last[0].split(",")[0:2]:
                _say(line)
            last[0] = line

        ok = dagster_home.wait_until(
            lambda: not status.missing_receipts(submitted) and status.active_runs(instance) == 0
            and status.published_up_to_date(instance),
            timeout=timeout, interval=3, on_wait=progress,
        )
        failed = status.failed_runs(instance)
        if not ok:
            _say(f"✗ the pipeline did not settle within {timeout} s; failed runs: {failed}; "
                 f"see {home / 'daemon.log'} and `make ui`")
            return 1
    finally:
        dagster_home.stop(daemon)

    _print_summary(submitted, ingest)
    return 0


def _print_summary(submitted: dict[str, str], ingest) -> None:
    import duckdb

    _say("\n══ Receipts (what each bureau reads back) ══")
    totals = {"received": 0, "accepted": 0, "quarantined": 0, "superseded": 0}
    for key in submitted:
        r = ingest.read_receipt(key, identity="hotline")
        _say(f"  {r['status']:<9} {key}: received {r['rows_received']}, accepted {r['rows_accepted']}, "
             f"quarantined {r['rows_quarantined']}, superseded {r['rows_superseded']}"
             + (f" — {r['reason']}" if r.get("reason") else ""))
        for k in totals:
            totals[k] += r[f"rows_{k}"]
    _say(f"  total: {totals}")

    con = duckdb.connect(str(settings.published_db_path()), read_only=True)
    _say("\n══ Published warehouse ══")
    for (name,) in con.execute("SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall():
        n = con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
        _say(f"  {name}: {n} rows")
    _say("\n══ KPIs by month and district (with targets and gaps) ══")
    con.sql(
        "SELECT kpi_month, district_code, kpi_code, round(kpi_value, 3) AS value, numerator, denominator, "
        "target_value AS target, round(gap, 3) AS gap, is_target_met FROM kpi_hotline_monthly "
        "ORDER BY kpi_code, kpi_month, district_code"
    ).show(max_rows=60, max_width=200)
    con.close()
    _say("Next:")
    _say("  query the published warehouse:  .venv/bin/shuzhong sql \"SELECT * FROM kpi_hotline_monthly\"")
    _say("  read a receipt as the bureau:   .venv/bin/shuzhong receipt --bureau hotline "
         f"{next(iter(submitted))}")
    _say("  open the Dagster UI:            make ui   (http://127.0.0.1:3000)")


if __name__ == "__main__":
    sys.exit(run())
