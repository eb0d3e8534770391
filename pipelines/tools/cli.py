"""``shuzhong`` — the data hub's command line.

shuzhong init                      local credentials and PII key for the embedded S3 server
shuzhong s3 start|stop|status      the embedded SeaweedFS server
shuzhong generate [--check]        GX suites and dbt sources from the data contracts
shuzhong submit --bureau B --dataset D --date YYYY-MM-DD FILE   submit as bureau B
shuzhong receipt --bureau B KEY    read a receipt back as the bureau
shuzhong sample OUT_DIR            write realistic bureau exports
shuzhong demo [--no-serve]         the whole flow through Dagster, with a summary, then the web pages
shuzhong web [--port 8000]         the people's pages: portal, cockpit, catalogue on 127.0.0.1
shuzhong sql "SELECT ..."          query the published (read-only) warehouse
shuzhong ledger verify             check the hash-chained ledger and the archived files
shuzhong leak-scan --defaults      scan published files, receipts, dbt and Dagster logs for PII
shuzhong calendar generate|check   the working-day calendar seed from chinese-calendar
shuzhong dbt debug|build ...       dbt in dbt_project/ with the hub's settings exported
shuzhong status [--today DATE]     warnings for the engineers on duty (a missing calendar year,
                                   business dates past their deadline without a file)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date
from pathlib import Path

from pipelines import settings


def _submit(args: argparse.Namespace) -> int:
    from pipelines import s3

    path = Path(args.file)
    name = args.name or path.name
    key = f"{args.bureau}/{args.dataset}/{args.date}/{name}"
    s3.client(args.bureau).put_object(Bucket=settings.buckets().landing, Key=key, Body=path.read_bytes())
    print(f"submitted s3://{settings.buckets().landing}/{key} ({path.stat().st_size} bytes) as {args.bureau}")
    return 0


def _receipt(args: argparse.Namespace) -> int:
    from pipelines import ingest
    from pipelines.ingest.keys import log_safe

    receipt = ingest.read_receipt(args.key, identity=args.bureau)
    if receipt is None:
        print(f"no receipt yet for {log_safe(args.key)}", file=sys.stderr)
        return 1
    print(json.dumps(receipt, ensure_ascii=False, indent=2))
    return 0


def _generate(args: argparse.Namespace) -> int:
    from pipelines import codegen

    try:
        return _generate_files(codegen, args.check)
    except ValueError as exc:  # a contract not following ODCS, or a breaking change without a major bump
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _generate_files(codegen, check: bool) -> int:
    if check:
        stale = codegen.stale_files()
        for p in stale:
            print(f"stale: {settings.shown(p)}", file=sys.stderr)
        if stale:
            print("run `shuzhong generate` and commit the result", file=sys.stderr)
        return 1 if stale else 0
    for p in codegen.write_all():
        print(f"wrote {settings.shown(p)}")
    return 0


def _sql(args: argparse.Namespace) -> int:
    import duckdb

    from pipelines import publish

    path = publish.conditional_db_path(args.dataset) if args.dataset else settings.published_db_path()
    if not path.exists():
        print(f"{path} does not exist yet: run `make demo` first", file=sys.stderr)
        return 1
    con = duckdb.connect(str(path), read_only=True)
    con.sql(args.query).show(max_rows=args.max_rows, max_width=200)
    return 0


def _ledger(args: argparse.Namespace) -> int:
    from pipelines import ledger

    witnesses: list[tuple[str, ledger.Head]] = []
    if args.head:
        witnesses.append(("--head", ledger.Head.parse(args.head)))

    if not args.no_dagster:
        from pipelines.tools import dagster_home

        home = os.environ.get("DAGSTER_HOME")
        if not home or not os.path.isdir(home):  # a fresh clone: an empty instance records no head
            dagster_home.prepare(home and Path(home))
        from dagster import DagsterInstance

        from pipelines.defs.operations import status

        recorded = status.recorded_ledger_head(DagsterInstance.get())
        if recorded is not None:
            witnesses.append(("Dagster metadata", recorded))
    try:
        witnesses += ledger.gather_witnesses()
        problems = ledger.verify(witnesses=witnesses)
    except RuntimeError as exc:
        print(f"ledger FAILED: {exc}", file=sys.stderr)
        return 2
    entries = ledger.read_entries()
    sources = sorted({source.split(" ", 1)[0] for source, _ in witnesses})
    print(
        f"ledger: {len(entries)} entries; head {entries[-1]['seq'] if entries else '-'}; "
        f"{len(witnesses)} witness(es) outside the lake: {', '.join(sources) or 'none'}"
    )
    for p in problems:
        print(f"  ✗ {p}")
    if not witnesses and entries:
        print(
            "ledger FAILED: no witness of the head outside the lake (no Dagster metadata, no published "
            f"{ledger.WITNESS_FILE}, no receipt with a ledger head): the chain cannot be trusted"
        )
        return 1
    print("ledger OK" if not problems else f"ledger FAILED: {len(problems)} problem(s)")
    return 1 if problems else 0


def _dbt(args: argparse.Namespace) -> int:
    """dbt with the settings its profile and sources read (work DB, lake URI, memory limit)."""
    import subprocess

    settings.export_defaults()
    project = str(settings.DBT_PROJECT_DIR)
    return subprocess.run(
        [settings.dbt_executable(), *args.dbt_args, "--project-dir", project, "--profiles-dir", project], cwd=project
    ).returncode


def _s3(args: argparse.Namespace) -> int:
    from pipelines.tools import s3server

    try:
        {"start": s3server.cmd_start, "stop": s3server.cmd_stop, "status": s3server.cmd_status}[args.action]()
    except s3server.StartError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


def _init(args: argparse.Namespace) -> int:
    from pipelines.tools import s3server

    wrote = s3server.init_local_env()
    print(f"{'created' if wrote else 'kept'} {settings.env_file()} (credentials and PII key; never commit it)")
    return 0


def _sample(args: argparse.Namespace) -> int:
    from pipelines.tools import generator

    files = generator.generate(
        args.dataset,
        Path(args.out_dir),
        start=date.fromisoformat(args.start),
        days=args.days,
        rows_per_day=args.rows,
        seed=args.seed,
    )
    for f in files:
        print(f"{f.path}  {f.n_rows} rows  {f.fmt}/{f.encoding}")
    return 0


def _calendar(args: argparse.Namespace) -> int:
    from pipelines import workdays

    path = workdays.CALENDAR_PATH
    if args.action == "check":
        bad = workdays.library_mismatches()
        for year in bad:
            print(f"{path.name}: {year} differs from chinese-calendar", file=sys.stderr)
        return 1 if bad else 0
    years = args.years or sorted(workdays.load().years)
    path.write_text(workdays.generate(years), encoding="utf-8")
    print(f"wrote {settings.shown(path)} ({', '.join(map(str, years))} from chinese-calendar)")
    return 0


def _status(args: argparse.Namespace) -> int:
    from pipelines.defs.operations import status

    today = date.fromisoformat(args.today) if args.today else None
    lines = status.duty_warnings(today=today)
    for line in lines:
        print(f"WARNING {line}")
    if not lines:
        print("no warnings")
    for line in status.lateness_report():
        print(line)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from pipelines.tools import demo

    return demo.run(
        days=args.days, rows_per_day=args.rows, timeout=args.timeout, serve=not args.no_serve, port=args.port
    )


def _web(args: argparse.Namespace) -> int:
    from pipelines.web import app

    settings.export_defaults()
    print(f"portal http://{args.host}:{args.port}/portal · cockpit /cockpit · catalogue /catalogue (Ctrl-C stops)")
    try:
        app.serve(args.host, args.port)
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: list[str] | None = None) -> int:

    os.umask(0o077)  # everything the CLI writes under the state folder stays private
    parser = argparse.ArgumentParser(
        prog="shuzhong", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("init", help="create local credentials and PII key (embedded S3)").set_defaults(func=_init)
    p = sub.add_parser("s3", help="manage the embedded SeaweedFS server")
    p.add_argument("action", choices=["start", "stop", "status"])
    p.set_defaults(func=_s3)

    p = sub.add_parser("generate", help="generate GX suites and dbt sources from the contracts")
    p.add_argument("--check", action="store_true", help="fail if a generated file is stale")
    p.set_defaults(func=_generate)

    p = sub.add_parser("submit", help="upload a file to the landing bucket as a bureau")
    p.add_argument("--bureau", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--date", required=True, type=lambda s: str(date.fromisoformat(s)))
    p.add_argument("--name", help="object file name (default: the file's name)")
    p.add_argument("file")
    p.set_defaults(func=_submit)

    p = sub.add_parser("receipt", help="read a submission's receipt as the bureau")
    p.add_argument("--bureau", required=True)
    p.add_argument("key", help="the landing object key, e.g. hotline/tickets/2026-03-05/a.csv")
    p.set_defaults(func=_receipt)

    p = sub.add_parser("sample", help="write realistic bureau exports")
    p.add_argument("out_dir")
    p.add_argument("--dataset", default="hotline.tickets")
    p.add_argument("--start", default="2026-03-01")
    p.add_argument("--days", type=int, default=3)
    p.add_argument("--rows", type=int, default=200)
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(func=_sample)

    p = sub.add_parser("calendar", help="the working-day calendar seed (holidays, 调休 make-up days)")
    p.add_argument("action", choices=["generate", "check"])
    p.add_argument(
        "--years",
        type=int,
        nargs="+",
        help="years to (re)write from chinese-calendar "
        "(default: the years the file holds); other years are kept as they are",
    )
    p.set_defaults(func=_calendar)

    p = sub.add_parser("status", help="warnings for the engineers on duty")
    p.add_argument("--today", help="the date to check as of (default: today in Asia/Shanghai)")
    p.set_defaults(func=_status)

    p = sub.add_parser("demo", help="run the whole flow through Dagster and print a summary")
    p.add_argument("--days", type=int, default=4)
    p.add_argument("--rows", type=int, default=300)
    p.add_argument("--timeout", type=int, default=1200)
    p.add_argument("--no-serve", action="store_true", help="print the web pages' addresses, don't serve them")
    p.add_argument("--port", type=int, default=8000, help="port of the web pages on 127.0.0.1")
    p.set_defaults(func=_demo)

    p = sub.add_parser("web", help="serve the portal, the KPI cockpit and the catalogue")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback only)")
    p.add_argument("--port", type=int, default=int(os.environ.get("SHUZHONG_WEB_PORT", "8000")))
    p.set_defaults(func=_web)

    p = sub.add_parser("ledger", help="verify the hash-chained ledger of accepted files and publishes")
    p.add_argument("action", choices=["verify"])
    p.add_argument("--head", help="expected head SEQ:HASH (default: the newest recorded in Dagster)")
    p.add_argument("--no-dagster", action="store_true", help="don't look up the head recorded in Dagster")
    p.set_defaults(func=_ledger)

    p = sub.add_parser("sql", help="query the published read-only warehouse")
    p.add_argument("query")
    p.add_argument("--max-rows", type=int, default=50)
    p.add_argument("--dataset", help="open a conditional dataset's file instead, e.g. hotline.tickets")
    p.set_defaults(func=_sql)

    p = sub.add_parser("dbt", help="run dbt in dbt_project/ with the hub's settings exported (e.g. `dbt debug`)")
    p.add_argument("dbt_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=_dbt)

    from pipelines.tools import leakscan

    p = sub.add_parser("leak-scan", help="look for resident IDs and phone numbers outside the raw zone")
    leakscan.add_arguments(p)
    p.set_defaults(func=leakscan.cmd_leak_scan)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
