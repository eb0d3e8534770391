"""``make bench``: the whole pipeline (sensor → ingestion → dbt → publish, through the Dagster
daemon) against the plain polars + DuckDB baseline (``bench_baseline``) on the same files, at two or more scales, plus
the cost of one more day. Prints a table per stage and writes a JSON file per run.

The bulk of a city's data is machine feeds, so the benchmark's files are traffic flow
(5-minute, per checkpoint) and pipe pressure (minute, per sensor) exports from the project's
generator. Scales: ``SHUZHONG_BENCH_SCALES`` = comma-separated ``days x checkpoints x sensors``.

After the scales, on a fresh server of its own, the landing bucket is filled with 100,000 tiny
objects (``hotline/tickets/2020-01-01/bench-*``, none settled yet: the worst case) and two
landing-sensor ticks are timed (target < 10 s each); ``--sensor-tick`` runs only that.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from pipelines import settings

# ~1M and ~10M rows: 112,320 rows a day (250 checkpoints × 288 five-minute intervals, 28 sensors ×
# 1,440 minutes) over 9 and 90 days, 10 files a day (one per district / network type).
DEFAULT_SCALES = "9x250x28,90x250x28"
SMALL_SCALES = "3x25x3,9x25x3"  # ``--scale small``: 12 k rows a day, to check the bench end to end
PASSED = ("SHUZHONG_RUN_WORKER_START",)  # kept for the measured runs (every other SHUZHONG_* is reset)
START = date(2026, 3, 2)
TARGETS = {
    "time_ratio": 2.0,
    "peak_gib": 3.0,
    "incremental_share": 0.05,
    "one_more_day_ratio": 1.2,
    "one_more_day_seconds": 10.0,
    "sensor_tick_seconds": 10.0,
}


def _process_label(proc) -> str:
    """Short name of a process of the daemon's tree: daemon, code server, run worker, dbt."""
    cmd = " ".join(proc.cmdline())
    for needle, label in (
        ("spawn_main", "run worker"),
        ("forkserver", "run worker"),  # the fork server and the run workers forked from it
        ("execute_run", "run worker"),
        ("api grpc", "code server"),
        ("pipelines.tools.code_server", "code server"),
        ("dagster-daemon", "daemon"),
        ("pipelines.tools.daemon_run", "daemon"),
        ("resource_tracker", "helper"),
        ("dbt", "dbt"),
    ):
        if needle in cmd:
            return label
    return proc.name()


def _say(msg: str) -> None:
    print(msg, flush=True)


def _pss(pid: int, rss: int) -> int:
    """Proportional set size of ``pid`` from ``/proc/<pid>/smaps_rollup`` (its RSS where unreadable)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return rss


class TreeMemory:
    """Peak resident memory of a process and all its descendants, sampled in a thread."""

    def __init__(self, pid: int, interval: float = 0.25):
        import psutil

        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        # Proportional set size: pages shared by processes (the run workers forked from one warm
        # process) counted once, split between them. The summed RSS above counts them in each.
        self.peak_pss = 0
        self.samples: list[tuple[float, int]] = []  # (epoch seconds, bytes)
        self.peak_parts: list[tuple[str, int]] = []  # the processes at the peak: (what, bytes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            total, pss, parts = 0, 0, []
            try:
                for p in [self.root, *self.root.children(recursive=True)]:
                    try:
                        rss = p.memory_info().rss
                        total += rss
                        pss += _pss(p.pid, rss)
                        parts.append((_process_label(p), rss))
                    except psutil.Error:
                        pass
            except psutil.Error:
                pass
            self.peak_pss = max(self.peak_pss, pss)
            if total > self.peak:
                self.peak, self.peak_parts = total, sorted(parts, key=lambda x: -x[1])
            self.samples.append((time.time(), total))
            time.sleep(self.interval)

    def peak_within(self, windows: list[tuple[float, float]]) -> int:
        """Peak of the samples taken inside any of ``windows`` (epoch seconds)."""
        return max((b for t, b in self.samples if any(lo <= t <= hi for lo, hi in windows)), default=0)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# --------------------------------------------------------------------------- baseline


def _baseline_subprocess(files: list[Path], db: Path) -> dict:
    """Run the baseline (``pipelines/tools/bench_baseline.py``) in its own process, its tree's peak memory sampled."""
    listing = db.with_suffix(".files")
    listing.write_text("\n".join(map(str, files)), encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines.tools.bench_baseline", str(db), str(listing)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=settings.REPO_ROOT,
    )
    with TreeMemory(proc.pid) as mem:
        out, _ = proc.communicate()
    if proc.returncode:
        raise RuntimeError("baseline failed")
    return {**json.loads(out.strip().splitlines()[-1]), "peak_bytes": mem.peak}


# --------------------------------------------------------------------------- pipeline


def _generate(out: Path, start: date, days: int, checkpoints: int, sensors: int) -> list:
    from pipelines.tools import generator

    def progress(dataset: str, day: date, rows: int) -> None:  # a line per million rows
        if rows // 1_000_000 > printed.get(dataset, 0):
            printed[dataset] = rows // 1_000_000
            _say(f"    {dataset}: {rows:,} rows (up to {day})")

    printed: dict[str, int] = {}
    files = generator.generate(
        "transport.traffic_flow",
        out,
        start=start,
        days=days,
        rows_per_day=checkpoints * 288,
        seed=11,
        formats="csv_gbk",
        progress=progress,
    )
    files += generator.generate(
        "utilities.pipe_pressure", out, start=start, days=days, rows_per_day=sensors * 1440, seed=11, progress=progress
    )
    return files


def _upload(files: list) -> dict[str, str]:
    """Put the files in the landing bucket as their bureaus (8 at a time); key → ETag."""
    from concurrent.futures import ThreadPoolExecutor

    from pipelines import s3

    def put(f) -> tuple[str, str]:
        resp = s3.client(f.bureau).put_object(Bucket=settings.buckets().landing, Key=f.key, Body=f.path.read_bytes())
        return f.key, resp["ETag"].strip('"')

    with ThreadPoolExecutor(8) as pool:
        return dict(pool.map(put, files))


def _wait(submitted: dict[str, str], instance, timeout: float, started: float) -> float:
    """Wait until every file has its receipt and the published warehouse is up to date."""
    from pipelines.defs.operations import status
    from pipelines.tools import dagster_home

    last = [0.0]

    def progress() -> None:
        if time.perf_counter() - last[0] > 15:
            missing = len(status.missing_receipts(submitted))
            _say(
                f"    {len(submitted) - missing}/{len(submitted)} files ingested, "
                f"{status.active_runs(instance)} active run(s), {time.perf_counter() - started:.0f} s"
            )
            last[0] = time.perf_counter()

    idle_since: list[float] = []

    def settled() -> bool:
        if status.active_runs(instance):
            idle_since.clear()
            return False
        if not status.missing_receipts(submitted) and status.published_up_to_date(instance):
            return True
        idle_since[:] = idle_since or [time.perf_counter()]
        failed = status.failed_runs(instance)
        if failed and time.perf_counter() - idle_since[0] > 60:  # failed, retries used up, nothing running
            raise RuntimeError(f"the pipeline stopped with failed runs: {failed[:5]} (see the Dagster logs)")
        return False

    ok = dagster_home.wait_until(settled, timeout=timeout, interval=1, on_wait=progress)
    if not ok:
        raise RuntimeError(f"pipeline did not settle in {timeout} s")
    return time.perf_counter() - started


INGEST_STAGES = ("parse", "validate", "delta_write", "download", "tables", "archive", "ledger", "registry", "receipts")
OTHER_INGEST = INGEST_STAGES[3:]  # "other ingest": the sub-stages besides parse, GX and Delta


def _stage_times(instance, since: float, mem: TreeMemory) -> dict[str, dict[str, float]]:
    """Seconds and peak memory per stage. Ingestion stages: seconds from each run's ``stage_seconds``
    metadata (summed over runs), peak from ``stage_peak_rss_mb`` (the run process during that
    stage). dbt, publish and whole ingestion steps: Dagster's step stats, peak of the process tree
    while they ran."""
    from dagster import RunsFilter

    from pipelines.contracts import all_contracts
    from pipelines.defs.ingestion.assets import raw_asset_key

    stages = {k: {"seconds": 0.0, "peak_bytes": 0} for k in (*INGEST_STAGES, "ingest_total", "dbt", "publish")}
    after = datetime.fromtimestamp(since, UTC)
    for contract in all_contracts().values():
        for rec in instance.fetch_materializations(raw_asset_key(contract), limit=1000).records:
            if rec.timestamp < since:
                continue
            meta = rec.asset_materialization.metadata
            for k, v in (getattr(meta.get("stage_seconds"), "value", None) or {}).items():
                if k in stages:
                    stages[k]["seconds"] += v
            for k, v in (getattr(meta.get("stage_peak_rss_mb"), "value", None) or {}).items():
                if k in stages:
                    stages[k]["peak_bytes"] = max(stages[k]["peak_bytes"], int(v * 2**20))
    windows: dict[str, list[tuple[float, float]]] = {"dbt": [], "publish": [], "ingest_total": []}
    for run in instance.get_runs(RunsFilter(updated_after=after)):
        for step in instance.get_run_step_stats(run.run_id):
            if not (step.start_time and step.end_time):
                continue
            name = (
                "dbt"
                if step.step_key == "dbt_models"
                else "publish"
                if step.step_key == "published_warehouse"
                else "ingest_total"
                if step.step_key.startswith("raw__")
                else None
            )
            if name:
                stages[name]["seconds"] += step.end_time - step.start_time
                windows[name].append((step.start_time, step.end_time))
    for name, spans in windows.items():
        stages[name]["peak_bytes"] = mem.peak_within(spans)
        stages[name]["wall_seconds"] = _union_seconds(spans)
    stages["steps_wall"] = {
        "seconds": _union_seconds([w for spans in windows.values() for w in spans]),
        "peak_bytes": 0,
    }
    return stages


def _union_seconds(spans: list[tuple[float, float]]) -> float:
    """Wall time covered by at least one of ``spans``."""
    total, end = 0.0, float("-inf")
    for lo, hi in sorted(spans):
        if hi > end:
            total += hi - max(lo, end)
            end = hi
    return total


def _one_scale(work: Path, days: int, checkpoints: int, sensors: int, last: bool, timeout: float) -> dict:
    """Generate, run through the daemon, one more day on top when ``last`` (every scale), the baseline."""
    from dagster import DagsterInstance

    from pipelines.tools import dagster_home, s3server

    port = s3server.free_port()
    s3server.init_local_env(endpoint=f"http://127.0.0.1:{port}")
    settings.load_env_file()
    os.environ["SHUZHONG_PII_KEY"] = os.environ.get("SHUZHONG_PII_KEY", "bench")
    server, _ = s3server.start_ephemeral(work / "s3", s3_port=port)
    daemon = None
    try:
        settings.export_defaults()
        _say(f"\n▶ scale {days} days × {checkpoints} checkpoints × {sensors} sensors")
        t = time.perf_counter()
        files = _generate(work / "exports", START, days, checkpoints, sensors)
        rows = sum(f.n_rows for f in files)
        _say(f"  generated {len(files)} files, {rows:,} rows in {time.perf_counter() - t:.0f} s")
        t = time.perf_counter()
        submitted = _upload(files)
        _say(f"  uploaded to the landing bucket in {time.perf_counter() - t:.0f} s; starting the Dagster daemon")
        home = dagster_home.prepare(work / "dagster")
        instance = DagsterInstance.get()
        since, started = time.time(), time.perf_counter()  # the clock runs from the daemon's start
        daemon = dagster_home.start_daemon(home)
        with TreeMemory(daemon.pid) as mem:
            wall = _wait(submitted, instance, timeout, started)
        stages = _stage_times(instance, since, mem)
        pss = mem.peak_pss / 2**30
        _say(f"  pipeline: {wall:.1f} s, peak {mem.peak / 2**30:.2f} GiB (summed RSS; PSS {pss:.2f} GiB)")
        entry = {
            "days": days,
            "checkpoints": checkpoints,
            "sensors": sensors,
            "files": len(files),
            "rows": rows,
            "pipeline_seconds": wall,
            "pipeline_peak_bytes": mem.peak,
            "pipeline_peak_pss_bytes": mem.peak_pss,
            "stages": stages,
            "peak_processes": [{"process": n, "bytes": b} for n, b in mem.peak_parts],
        }
        _say("  at the peak: " + ", ".join(f"{n} {b / 2**30:.2f}" for n, b in mem.peak_parts) + " GiB")
        if last:
            more = _generate(work / "exports-more", START + timedelta(days=days), 1, checkpoints, sensors)
            since, started = time.time(), time.perf_counter()  # the clock runs from the upload
            with TreeMemory(daemon.pid) as mem2:
                one_more = _wait(_upload(more), instance, timeout, started)
            entry |= {
                "one_more_day_seconds": one_more,
                "one_more_day_rows": sum(f.n_rows for f in more),
                "one_more_day_files": len(more),
                "one_more_day_peak_bytes": mem2.peak,
                "one_more_day_stages": _stage_times(instance, since, mem2),
            }
            _say(f"  one more day: {one_more:.1f} s")
        dagster_home.stop(daemon)
        daemon = None
        base = _baseline_subprocess([f.path for f in files], work / "baseline.duckdb")
        _say(f"  baseline: {base['seconds']:.1f} s, peak {base['peak_bytes'] / 2**30:.2f} GiB")
        return entry | {"baseline_seconds": base["seconds"], "baseline_peak_bytes": base["peak_bytes"]}
    finally:
        if daemon:
            dagster_home.stop(daemon)
        s3server.stop(work / "s3", server)


def run(scales_text: str | None = None, timeout: float = 1500, sensor_objects: int = 100_000) -> int:
    scales = [
        tuple(int(x) for x in s.split("x"))
        for s in (scales_text or os.environ.get("SHUZHONG_BENCH_SCALES", DEFAULT_SCALES)).split(",")
    ]
    root = settings.state_dir() / "bench"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    results = {
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gib": round(_total_memory() / 2**30, 1),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "started": stamp,
        "scales": [],
    }
    saved_env = dict(os.environ)
    try:
        for days, checkpoints, sensors in scales:
            work = root / f"run-{stamp}-{days}x{checkpoints}x{sensors}"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            os.environ.clear()
            os.environ.update({k: v for k, v in saved_env.items() if not k.startswith("SHUZHONG_") or k in PASSED})
            os.environ["SHUZHONG_HOME"] = str(work)
            results["scales"].append(_one_scale(work, days, checkpoints, sensors, True, timeout))
            for bulky in ("exports", "exports-more", "s3", "warehouse", "published"):  # keep the disk use bounded
                shutil.rmtree(work / bulky, ignore_errors=True)
            (work / "baseline.duckdb").unlink(missing_ok=True)
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
    if sensor_objects:
        results["sensor_tick"] = sensor_tick_fresh(root / f"run-{stamp}-sensor", sensor_objects)
    out = root / f"results-{stamp}.json"
    out.write_text(json.dumps(results, indent=2))
    _print(results)
    _say(f"\nresults: {out}")
    return 0


def _total_memory() -> int:
    import psutil

    return psutil.virtual_memory().total


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f}" if n else "-"


def _stage_rows(stages: dict, total_seconds: float) -> list[tuple[str, float, float | None, int]]:
    """(label, busy seconds, wall seconds, peak bytes) per stage; "Dagster overhead" is the wall
    time when no step was running."""
    st = stages
    other = [st[k] for k in OTHER_INGEST]
    in_ingest = sum(st[k]["seconds"] for k in INGEST_STAGES)
    other_seconds = sum(o["seconds"] for o in other) + max(0.0, st["ingest_total"]["seconds"] - in_ingest)
    wall = lambda k: st[k].get("wall_seconds")  # noqa: E731
    overhead = max(0.0, total_seconds - st["steps_wall"]["seconds"])
    rest = max(0.0, st["ingest_total"]["seconds"] - in_ingest)
    return [
        ("  parse", st["parse"]["seconds"], None, st["parse"]["peak_bytes"]),
        ("  validate (GX)", st["validate"]["seconds"], None, st["validate"]["peak_bytes"]),
        ("  Delta write", st["delta_write"]["seconds"], None, st["delta_write"]["peak_bytes"]),
        ("  other ingest†", other_seconds, None, max(o["peak_bytes"] for o in other)),
        *[(f"    {k}", st[k]["seconds"], None, st[k]["peak_bytes"]) for k in OTHER_INGEST],
        ("    rest of the step", rest, None, 0),
        ("ingestion (all runs)", st["ingest_total"]["seconds"], wall("ingest_total"), st["ingest_total"]["peak_bytes"]),
        ("dbt build", st["dbt"]["seconds"], wall("dbt"), st["dbt"]["peak_bytes"]),
        ("publish", st["publish"]["seconds"], wall("publish"), st["publish"]["peak_bytes"]),
        ("Dagster overhead*", overhead, overhead, 0),
    ]


def _print(results: dict) -> None:
    _say("\n══ Benchmark ══  " + json.dumps(results["machine"]))
    scales = results["scales"]
    for s in scales:
        rows = s["rows"]
        _say(f"\n{s['days']} days, {s['files']} files, {rows:,} rows")
        _say(f"  {'stage':<22} {'busy s‡':>9} {'wall s':>8} {'rows/s':>12} {'peak GiB§':>10}")
        for name, sec, wall, peak in _stage_rows(s["stages"], s["pipeline_seconds"]):
            per_s = rows / (wall or sec) if (wall or sec) else float("inf")
            _say(
                f"  {name:<22} {sec:>9.1f} {f'{wall:.1f}' if wall is not None else '':>8} {per_s:>12,.0f}"
                f" {_gib(peak):>10}"
            )
        _say(
            f"  {'end to end':<22} {'':>9} {s['pipeline_seconds']:>8.1f} {rows / s['pipeline_seconds']:>12,.0f}"
            f" {_gib(s['pipeline_peak_bytes']):>10}"
        )
        _say(
            f"  {'baseline':<22} {'':>9} {s['baseline_seconds']:>8.1f} {rows / s['baseline_seconds']:>12,.0f}"
            f" {_gib(s['baseline_peak_bytes']):>10}"
        )
        t_ratio = s["pipeline_seconds"] / s["baseline_seconds"]
        m_ratio = s["pipeline_peak_bytes"] / max(1, s["baseline_peak_bytes"])
        _say(f"  pipeline / baseline: time {t_ratio:.1f}×, peak memory {m_ratio:.1f}×")
        if "one_more_day_seconds" in s:
            _say(
                f"  one more day ({s['one_more_day_files']} files, {s['one_more_day_rows']:,} rows): "
                f"{s['one_more_day_seconds']:.1f} s, peak {_gib(s['one_more_day_peak_bytes'])} GiB"
            )
            for name, sec, wall, _ in _stage_rows(s["one_more_day_stages"], s["one_more_day_seconds"]):
                _say(f"    {name:<22} {sec:>7.1f} {f'{wall:.1f}' if wall is not None else '':>8}")
    _print_targets(scales)
    if tick := results.get("sensor_tick"):
        limit = TARGETS["sensor_tick_seconds"]
        _say(
            "  "
            + _verdict(
                tick["tick_seconds"],
                limit,
                f"landing-sensor tick with {tick['objects']:,.0f} objects "
                f"in the bucket < {limit:.0f} s: {tick['tick_seconds']:.2f} s",
            )
        )
    _say("  ‡ busy: time inside the stage summed over the runs (two run at once); wall: time when at least one")
    _say("    run was in it; rows/s uses wall time where there is one.")
    _say("  § peak resident memory of the whole process tree (daemon, code server, runs, dbt) while the stage")
    _say("    ran; for the ingestion sub-stages, of the run process alone.")
    _say("  * wall time when no step was running: sensor ticks, run queueing, process start-up, imports.")
    _say("  † download, archive copy, ledger, registry, receipts and the rest of the ingestion step.")


def _verdict(value: float, target: float, text: str) -> str:
    return f"{text} {'met' if value <= target else 'NOT met'}"


def _print_targets(scales: list[dict]) -> None:
    """Targets at the largest scale, growth from the smallest to the largest, one more day at both."""
    largest, smallest = scales[-1], scales[0]
    t_ratio = largest["pipeline_seconds"] / largest["baseline_seconds"]
    peak = largest["pipeline_peak_bytes"] / 2**30
    pss = largest.get("pipeline_peak_pss_bytes", 0) / 2**30
    _say(f"\n══ Targets (largest scale, {largest['rows']:,} rows) ══")
    _say(
        "  "
        + _verdict(
            t_ratio,
            TARGETS["time_ratio"],
            f"end to end ≤ {TARGETS['time_ratio']}× the baseline "
            f"(same run): {t_ratio:.2f}× (gap {t_ratio - TARGETS['time_ratio']:+.2f}×)",
        )
    )
    _say(
        "  "
        + _verdict(
            peak,
            TARGETS["peak_gib"],
            f"peak memory ≤ {TARGETS['peak_gib']} GiB: {peak:.2f} GiB summed RSS "
            f"(gap {peak - TARGETS['peak_gib']:+.2f} GiB; PSS {pss:.2f} GiB)",
        )
    )
    if "one_more_day_seconds" in largest:
        one, limit = largest["one_more_day_seconds"], TARGETS["one_more_day_seconds"]
        _say(
            "  "
            + _verdict(
                one,
                limit,
                f"one more day ≤ {limit:.0f} s from upload to published: {one:.1f} s (gap {one - limit:+.1f} s)",
            )
        )
        share = one / largest["pipeline_seconds"]
        _say(
            "  "
            + _verdict(
                share,
                TARGETS["incremental_share"],
                f"one more day ≤ {TARGETS['incremental_share']:.0%} "
                f"of a full rebuild: {share:.1%} (gap {share - TARGETS['incremental_share']:+.1%})",
            )
        )
    if len(scales) < 2:
        return
    if "one_more_day_seconds" in smallest:
        big, small = largest["one_more_day_seconds"], smallest["one_more_day_seconds"]
        limit = TARGETS["one_more_day_ratio"]
        ratio = big / small
        _say(
            "  "
            + _verdict(
                ratio,
                limit,
                f"one more day on {largest['days']} days / on {smallest['days']} days "
                f"≤ {limit}×: {big:.1f} s / {small:.1f} s = {ratio:.2f}× (gap {ratio - limit:+.2f}×)",
            )
        )
    _say(f"  growth from {smallest['rows']:,} to {largest['rows']:,} rows ({largest['rows'] / smallest['rows']:.1f}×):")
    for label, key in (("pipeline", "pipeline"), ("baseline", "baseline")):
        s_sec, l_sec = smallest[f"{key}_seconds"], largest[f"{key}_seconds"]
        s_mem, l_mem = smallest[f"{key}_peak_bytes"], largest[f"{key}_peak_bytes"]
        _say(
            f"    {label}: {s_sec:.1f} → {l_sec:.1f} s ({l_sec / s_sec:.2f}×), "
            f"{s_sec / smallest['rows'] * 1e6:.2f} → {l_sec / largest['rows'] * 1e6:.2f} µs per row; peak "
            f"{_gib(s_mem)} → {_gib(l_mem)} GiB ({l_mem / max(1, s_mem):.2f}×), "
            f"{s_mem / smallest['rows']:,.0f} → {l_mem / largest['rows']:,.0f} bytes per row"
        )


def sensor_tick(objects: int = 100_000) -> dict[str, float]:
    """Fill the landing bucket with ``objects`` tiny objects and time two landing-sensor ticks:
    the first sees nothing settled, the second carries the first one's cursor."""
    from concurrent.futures import ThreadPoolExecutor

    from dagster import DagsterInstance, build_sensor_context

    from pipelines import s3
    from pipelines.defs.ingestion import sensors

    client = s3.client("hotline")
    bucket = settings.buckets().landing
    prefix = "hotline/tickets/2020-01-01/bench-"
    have = sum(
        len(p.get("Contents", []))
        for p in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    )
    started = time.perf_counter()
    with ThreadPoolExecutor(32) as pool:
        list(
            pool.map(
                lambda n: client.put_object(Bucket=bucket, Key=f"{prefix}{n:06d}.csv", Body=b"x"), range(have, objects)
            )
        )
    fill = time.perf_counter() - started
    _say(f"  filled the landing bucket with {objects:,} objects in {fill:.0f} s")
    instance = DagsterInstance.ephemeral()
    ticks, cursor = [], None
    for _ in range(2):
        started = time.perf_counter()
        result = sensors.landing_sensor(build_sensor_context(instance=instance, cursor=cursor))
        ticks.append(time.perf_counter() - started)
        cursor = result.cursor
    out = {
        "objects": float(objects),
        "fill_seconds": round(fill, 1),
        "tick_seconds": round(max(ticks), 2),
        "ticks_seconds": [round(t, 2) for t in ticks],
        "cursor_chars": float(len(cursor or "")),
    }
    _say(
        f"  sensor ticks over {objects:,} objects: {', '.join(f'{t:.2f}' for t in ticks)} s "
        f"(target < {TARGETS['sensor_tick_seconds']:.0f} s: "
        f"{'met' if max(ticks) < TARGETS['sensor_tick_seconds'] else 'NOT met'}); cursor {len(cursor or '')} chars"
    )
    return out


def sensor_tick_fresh(work: Path, objects: int = 100_000) -> dict[str, float]:
    """:func:`sensor_tick` on a fresh SeaweedFS of its own under ``work`` (removed afterwards)."""
    from pipelines.tools import s3server

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update({k: v for k, v in saved.items() if not k.startswith("SHUZHONG_")})
    os.environ["SHUZHONG_HOME"] = str(work)
    port = s3server.free_port()
    s3server.init_local_env(endpoint=f"http://127.0.0.1:{port}")
    settings.load_env_file()
    server, _ = s3server.start_ephemeral(work / "s3", s3_port=port)
    try:
        _say(f"\n▶ landing sensor with {objects:,} objects in the bucket")
        return sensor_tick(objects)
    finally:
        s3server.stop(work / "s3", server)
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(work / "s3", ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m pipelines.tools.bench [--scale default|small] [--sensor-tick]``."""
    import argparse

    ap = argparse.ArgumentParser(prog="bench")
    ap.add_argument(
        "--scale",
        choices=("default", "small"),
        default="default",
        help=f"small: {SMALL_SCALES} (days x checkpoints x sensors); default: $SHUZHONG_BENCH_SCALES "
        f"or {DEFAULT_SCALES}",
    )
    ap.add_argument(
        "--sensor-tick",
        action="store_true",
        help="only time the landing-sensor ticks over 100,000 objects in a fresh landing bucket",
    )
    args = ap.parse_args(argv)
    if args.sensor_tick:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        sensor_tick_fresh(settings.state_dir() / "bench" / f"run-{stamp}-sensor")
        return 0
    small = args.scale == "small"
    return run(SMALL_SCALES if small else None, sensor_objects=10_000 if small else 100_000)


if __name__ == "__main__":
    sys.exit(main())
