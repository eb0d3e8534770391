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

from pipelines import settings
from pipelines.tools import dagster_home


def _say(msg: str) -> None:
    print(msg, flush=True)


# Rows per business day for each dataset in the demo (machine feeds: stations × 24, checkpoints × 288, ...).
DEMO_SCALE = {
    "hotline.tickets": 300,
    "govservice.cases": 200,
    "market.enterprises": 80,
    "ecology.air_quality_hourly": 480,
    "transport.traffic_flow": 288 * 12,
    "utilities.pipe_pressure": 1440 * 8,
    "emergency.incidents": 30,
    "emergency.risk_warnings": 30,
    "grid.grids": 1,
    "grid.events": 150,
    "community.service_requests": 120,
}


def run(
    days: int = 4,
    rows_per_day: int = 300,
    timeout: int = 1200,
    start: date = date(2026, 3, 2),
    serve: bool = True,
    port: int = 8000,
) -> int:
    """The demo; ``rows_per_day`` scales every dataset relative to its default (300 = as listed).
    Afterwards the people's pages are served in the foreground (until Ctrl-C) when ``serve`` and
    stdout is a terminal; otherwise the command to start them is printed."""
    import os

    from pipelines import ingest, s3
    from pipelines.tools import generator, s3server

    os.umask(0o077)  # private state: dirs 0700, files 0600
    if s3server.init_local_env():
        _say(f"• created local credentials and PII key in {settings.env_file()} (ignored by git)")
    settings.load_env_file()
    if not s3server.is_running():
        _say("• starting the embedded S3 server (SeaweedFS) on 127.0.0.1 ...")
        try:
            s3server.start_local()
        except s3server.StartError as exc:
            _say(f"✗ {exc}")
            return 1
    s3server.ensure_buckets()
    settings.export_defaults()

    out = settings.state_dir() / "demo" / "exports"
    shutil.rmtree(out, ignore_errors=True)
    _say(f"• generating {days} days of exports for {len(DEMO_SCALE)} datasets in {out}")
    files = []
    for dataset, scale in DEMO_SCALE.items():
        made = generator.generate(
            dataset, out, start=start, days=days, rows_per_day=max(1, scale * rows_per_day // 300), seed=7
        )
        _say(
            f"  {dataset:<28} {len(made):>3} files {sum(f.n_rows for f in made):>8} rows "
            f"({', '.join(sorted({f.fmt + ('/' + f.encoding if f.encoding else '') for f in made}))})"
        )
        files += made

    home = dagster_home.prepare()
    from dagster import DagsterInstance

    instance = DagsterInstance.get()
    _say(f"• starting the Dagster daemon (DAGSTER_HOME={home}); log: {home / 'daemon.log'}")
    daemon = dagster_home.start_daemon(home)
    from pipelines.defs.operations import status

    try:
        submitted: dict[str, str] = {}
        for f in sorted(files, key=lambda f: (f.business_date, f.key)):
            resp = s3.client(f.bureau).put_object(
                Bucket=settings.buckets().landing, Key=f.key, Body=f.path.read_bytes()
            )
            submitted[f.key] = resp["ETag"].strip('"')
        _say(f"• submitted {len(submitted)} files, each with its own bureau's credentials")
        _say("• waiting for the landing sensor and the ingestion runs ...")
        dagster_home.wait_until(lambda: not status.missing_receipts(submitted), timeout=timeout, interval=3)
        # A clerk re-sends an accepted file under another name: identical bytes, no new rows.
        first = min((f for f in files if f.dataset == "tickets"), key=lambda f: (f.business_date, f.key))
        dup_key = f"{first.bureau}/{first.dataset}/{first.business_date}/resend-{first.path.name}"
        resp = s3.client(first.bureau).put_object(
            Bucket=settings.buckets().landing, Key=dup_key, Body=first.path.read_bytes()
        )
        submitted[dup_key] = resp["ETag"].strip('"')
        _say(f"  re-sent identical bytes as {dup_key}")

        _say("• waiting for the duplicate's receipt, then dbt and publish (transform sensor) ...")
        started = time.monotonic()
        last = [""]

        def progress() -> None:
            missing = status.missing_receipts(submitted)
            line = (
                f"  {len(submitted) - len(missing)}/{len(submitted)} receipts, "
                f"{status.active_runs(instance)} active run(s), {int(time.monotonic() - started)} s"
            )
            if line.split(",")[0:2] != last[0].split(",")[0:2]:
                _say(line)
            last[0] = line

        ok = dagster_home.wait_until(
            lambda: (
                not status.missing_receipts(submitted)
                and status.active_runs(instance) == 0
                and status.published_up_to_date(instance)
            ),
            timeout=timeout,
            interval=3,
            on_wait=progress,
        )
        failed = status.failed_runs(instance)
        if not ok:
            _say(
                f"✗ the pipeline did not settle within {timeout} s; failed runs: {failed}; "
                f"see {home / 'daemon.log'} and `make ui`"
            )
            return 1
    finally:
        dagster_home.stop(daemon)

    _print_summary(submitted, ingest)
    return _web(serve, port)


def _web(serve: bool, port: int) -> int:
    base = f"http://127.0.0.1:{port}"
    _say("\n══ The people's pages ══")
    _say(f"  数据报送门户 (bureau clerks): {base}/portal   (sign in with a bureau's keys from {settings.env_file()})")
    _say(f"  领导驾驶舱 (KPI cockpit):      {base}/cockpit")
    _say(f"  数据资源目录 (catalogue):      {base}/catalogue")
    if not (serve and sys.stdout.isatty()):
        _say(f"  start them with: .venv/bin/shuzhong web --port {port}   (or make web)")
        return 0
    from pipelines.web import app

    _say("  serving on 127.0.0.1 until Ctrl-C ...")
    try:
        app.serve("127.0.0.1", port)
    except KeyboardInterrupt:
        pass
    return 0


def _print_summary(submitted: dict[str, str], ingest) -> None:
    import duckdb

    _say("\n══ Receipts by dataset (what the bureaus read back) ══")
    per: dict[str, dict[str, int]] = {}
    notes = []
    for key in submitted:
        r = ingest.read_receipt(key, identity=key.split("/")[0])
        d = per.setdefault(
            f"{r['bureau']}.{r['dataset']}",
            dict.fromkeys(
                (
                    "files",
                    "accepted",
                    "rejected",
                    "duplicate",
                    "rows_received",
                    "rows_accepted",
                    "rows_quarantined",
                    "rows_superseded",
                ),
                0,
            ),
        )
        d["files"] += 1
        d[r["status"]] += 1
        for k in ("rows_received", "rows_accepted", "rows_quarantined", "rows_superseded"):
            d[k] += r[k]
        if r["status"] != "accepted":
            notes.append(f"  {r['status']}: {key} — {r['reason']}")
    _say(
        f"  {'dataset':<28} {'files':>5} {'acc':>4} {'rej':>4} {'dup':>4} {'received':>9} {'accepted':>9} "
        f"{'quarant.':>9} {'supersed.':>9}"
    )
    for name, d in sorted(per.items()):
        _say(
            f"  {name:<28} {d['files']:>5} {d['accepted']:>4} {d['rejected']:>4} {d['duplicate']:>4} "
            f"{d['rows_received']:>9} {d['rows_accepted']:>9} {d['rows_quarantined']:>9} {d['rows_superseded']:>9}"
        )
    for line in notes:
        _say(line)

    from pipelines import publish

    _say("\n══ Published warehouse (governed tables and marts, by sharing class) ══")
    for key, path in publish.published_files().items():
        con = duckdb.connect(str(path), read_only=True)
        _say(f"  {key} — {path.relative_to(settings.state_dir())}")
        for (name,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1"
        ).fetchall():
            n = con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
            _say(f"    {name:<40} {n:>9} rows")
        con.close()
    con = duckdb.connect(str(settings.published_db_path()), read_only=True)
    tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
    kpis = "kpi_scorecard_monthly" if "kpi_scorecard_monthly" in tables else "kpi_hotline_monthly"
    _say(f"\n══ KPIs by month and district, with targets and gaps ({kpis}) ══")
    only_totals = "AND dimension_type IN ('district', 'bureau_dataset')" if kpis == "kpi_scorecard_monthly" else ""
    con.sql(
        f"SELECT kpi_month, district_code, kpi_code, round(kpi_value, 3) AS value, target_value AS target, "
        f"round(gap, 3) AS gap, is_target_met FROM {kpis} WHERE kpi_value IS NOT NULL {only_totals} "
        f"ORDER BY kpi_code, kpi_month, district_code"
    ).show(max_rows=400, max_width=200)
    con.close()
    _say("Next:")
    _say(f'  query the published warehouse:  .venv/bin/shuzhong sql "SELECT * FROM {kpis} LIMIT 20"')
    _say(
        "  a conditional dataset:          .venv/bin/shuzhong sql --dataset hotline.tickets "
        '"SELECT count(*) FROM fct_hotline_tickets"'
    )
    _say(
        "  read a receipt as the bureau:   .venv/bin/shuzhong receipt --bureau hotline "
        f"{next(k for k in submitted if k.startswith('hotline/'))}"
    )
    _say("  verify the ledger:              .venv/bin/shuzhong ledger verify")
    _say("  open the Dagster UI:            make ui   (http://127.0.0.1:3000)")


if __name__ == "__main__":
    sys.exit(run())
