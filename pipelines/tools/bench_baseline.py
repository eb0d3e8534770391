"""The benchmark's baseline: the plain script a competent engineer would write for the bench's job.

One process, everything in memory: the files are read in parallel by a thread pool (GBK/GB18030
decoded once by Python's C codec, then parsed by polars), typed and validated with the rules of
the two contracts the bench generates (``data_contracts/transport/traffic_flow.yaml``,
``data_contracts/utilities/pipe_pressure.yaml``) and spec v1.3, deduplicated, aggregated with
DuckDB into the same hourly facts and KPI values as the pipeline's marts, and written once per
table to one DuckDB file.

Nothing here comes from the pipeline's parsing, validation or dbt code: the rules are read from
the contract YAML and the spec, so ``tests/test_bench_baseline.py`` can hold the two
implementations against each other.
"""

from __future__ import annotations

import json
import os
import time
import unicodedata
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import yaml

from pipelines import settings

CONTRACTS = settings.CONTRACTS_DIR
DATASETS = {"transport/traffic_flow": "traffic", "utilities/pipe_pressure": "pipe"}
DISTRICTS = ["370402", "370403", "370404", "370405", "370406", "370481"]  # spec §2, county level
MISSING = {"", "—", "-", "/", "无", "null"}  # spec §1 (compared lower-cased)
# Spec §1 timestamp spellings (with or without seconds), and the ISO form machine feeds send.
TIMESTAMP_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y%m%d %H:%M:%S",
    "%Y%m%d %H:%M",
    "%Y年%m月%d日 %H时%M分%S秒",
    "%Y年%m月%d日 %H时%M分",
)
_GROUPED = r"(?:\d{1,3}(?:,\d{3})+|\d+)"  # spec v1.3: commas only between groups of three digits
INTEGER_RE = rf"^[+-]?{_GROUPED}(?:\.0+)?$"
NUMBER_RE = rf"^[+-]?(?:{_GROUPED}(?:\.\d*)?|\.\d+)$"


@dataclass(frozen=True)
class Field:
    """One contract property, as far as typing and validation need it."""

    name: str
    header: str
    logical_type: str
    required: bool
    minimum: float | None
    maximum: float | None
    valid_values: tuple[str, ...] | None
    aligned_minutes: int | None
    greater_than: str | None


@dataclass
class FileCounts:
    """What the receipt of one file says: rows received, accepted, quarantined, superseded."""

    received: int = 0
    accepted: int = 0
    quarantined: int = 0
    superseded: int = 0


def _norm_header(text: str) -> str:
    """Header matching per spec §1: surrounding spaces, letter case, full/half-width forms ignored."""
    return unicodedata.normalize("NFKC", text.lstrip("\ufeff")).strip().lower()


def load_fields(dataset: str) -> tuple[list[Field], list[str]]:
    """(fields, primary key) of ``bureau/table`` read straight from its contract YAML."""
    doc = yaml.safe_load((CONTRACTS / f"{dataset}.yaml").read_text(encoding="utf-8"))
    props = doc["schema"][0]["properties"]
    fields = []
    for p in props:
        opts = p.get("logicalTypeOptions") or {}
        valid = aligned = greater = None
        for q in p.get("quality") or []:
            if q.get("metric") == "invalidValues":
                valid = tuple(str(v) for v in q["arguments"]["validValues"])
            impl = q.get("implementation") or {}
            if impl.get("rule") == "aligned":
                aligned = int(impl["minutes"])
            if impl.get("rule") == "greater_than":
                greater = impl["column"]
        if p["name"] == "district_code":
            valid = tuple(DISTRICTS)
        fields.append(
            Field(
                p["name"],
                p.get("businessName") or p["name"],
                p["logicalType"],
                bool(p.get("required")),
                opts.get("minimum"),
                opts.get("maximum"),
                valid,
                aligned,
                greater,
            )
        )
    pk = [p["name"] for p in sorted((p for p in props if p.get("primaryKey")), key=lambda p: p["primaryKeyPosition"])]
    return fields, pk


def _decode(data: bytes) -> bytes:
    """UTF-8 bytes of a CSV export: BOM / UTF-8 as is, anything else decoded as GB18030 (⊇ GBK)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:]
    try:
        data.decode("utf-8")
        return data
    except UnicodeDecodeError:
        return data.decode("gb18030").encode("utf-8")


def _read(path: Path, fields: list[Field]) -> pl.DataFrame:
    """All contract columns as strings plus ``row_number`` (as a spreadsheet numbers the file)."""
    data = path.read_bytes()
    by_header = {_norm_header(k): f.name for f in fields for k in (f.header, f.name)}
    if path.suffix.lower() == ".jsonl":
        frame, keys = _read_jsonl(data)
    else:
        frame = pl.read_csv(_decode(data), infer_schema=False, truncate_ragged_lines=True)
        keys = frame.columns
        frame = frame.with_row_index("row_number", offset=2).with_columns(pl.col("row_number").cast(pl.Int64))
    rename = {k: by_header[_norm_header(k)] for k in keys if _norm_header(k) in by_header}
    if "_malformed" not in frame.columns:
        frame = frame.with_columns(_malformed=pl.lit(False))
    frame = frame.select([pl.col(k).alias(v) for k, v in rename.items()] + [pl.col("row_number", "_malformed")])
    missing = [pl.lit(None, dtype=pl.String).alias(f.name) for f in fields if f.name not in frame.columns]
    return frame.with_columns(missing).select([f.name for f in fields] + ["row_number", "_malformed"])


def _read_jsonl(data: bytes) -> tuple[pl.DataFrame, list[str]]:
    """JSON Lines as strings; a line that is not a JSON object is kept as a row marked ``_malformed``."""
    lines = [(i + 1, ln) for i, ln in enumerate(data.split(b"\n")) if ln.strip()]
    numbers = pl.Series("row_number", [n for n, _ in lines], dtype=pl.Int64)
    try:
        keys = list(json.loads(lines[0][1])) if lines else []
        frame = pl.read_ndjson(data, schema={k: pl.String for k in keys}) if lines else pl.DataFrame()
        if frame.height == len(lines):
            return frame.with_columns(numbers, _malformed=pl.lit(False)), keys
    except (ValueError, AttributeError, pl.exceptions.PolarsError):
        pass
    records: list[dict] = []  # the slow path, only for a file with a broken line
    for _, ln in lines:
        try:
            rec = json.loads(ln)
        except ValueError:
            rec = None
        ok = isinstance(rec, dict)
        records.append(
            {
                **(
                    {
                        k: None if v is None else v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                        for k, v in rec.items()
                    }
                    if ok
                    else {}
                ),
                "_malformed": not ok,
            }
        )
    keys = list(dict.fromkeys(k for r in records for k in r if k != "_malformed"))
    frame = pl.DataFrame(records, schema={**{k: pl.String for k in keys}, "_malformed": pl.Boolean})
    return frame.with_columns(numbers), keys


def _clean(col: str, nfkc: bool) -> pl.Expr:
    """Strip, full-width → half-width (NFKC) where asked, missing tokens → null."""
    e = pl.col(col).str.strip_chars()
    if nfkc:
        e = e.str.normalize("NFKC").str.strip_chars()
    return pl.when(e.str.to_lowercase().is_in(list(MISSING))).then(None).otherwise(e).alias(col)


def _timestamps(values: pl.Series) -> pl.Series:
    """Parse each distinct spelling once (a feed repeats every stamp for every checkpoint)."""
    distinct = values.unique().drop_nulls().to_frame("v")
    parsed = distinct.with_columns(
        t=pl.coalesce([pl.col("v").str.to_datetime(f, strict=False, time_unit="us") for f in TIMESTAMP_FORMATS])
    )
    return values.to_frame("v").join(parsed, on="v", how="left", maintain_order="left")["t"]


def check_file(path: Path, fields: list[Field], pk: list[str]) -> tuple[pl.DataFrame, pl.DataFrame, FileCounts]:
    """(accepted rows, quarantined rows, counts) of one file, by the contract's rules."""
    raw = _read(path, fields)
    counts = FileCounts(received=raw.height)
    malformed = raw.filter(pl.col("_malformed")).drop("_malformed")  # quarantined as they are, not typed
    raw = raw.filter(~pl.col("_malformed")).drop("_malformed")
    ascii_only = {f.name: not raw[f.name].str.contains(r"[^\x00-\x7f]").any() for f in fields}
    text = raw.with_columns(
        [
            _clean(f.name, f.logical_type != "string" or f.valid_values is not None)
            if not ascii_only[f.name]
            else _clean(f.name, False)
            for f in fields
        ]
    )
    typed, bad = [], []
    for f in fields:
        c = pl.col(f.name)
        if f.logical_type == "timestamp":
            typed.append(_timestamps(text[f.name]).alias(f.name))
        elif f.logical_type == "integer":
            typed.append(
                pl.when(c.str.contains(INTEGER_RE))
                .then(c.str.replace_all(",", "").str.replace(r"\.0+$", "").cast(pl.Int64, strict=False))
                .alias(f.name)
            )
        elif f.logical_type == "number":
            typed.append(
                pl.when(c.str.contains(NUMBER_RE))
                .then(c.str.replace_all(",", "").cast(pl.Float64, strict=False))
                .alias(f.name)
            )
        else:
            typed.append(c)
    out = text.with_columns([pl.col(f.name).alias(f"_t_{f.name}") for f in fields]).with_columns(typed)
    for f in fields:  # rules on the typed frame; a present value that cannot be read breaks the type rule
        v, given = pl.col(f.name), pl.col(f"_t_{f.name}").is_not_null()
        if f.logical_type != "string":
            bad.append(given & v.is_null())
        if f.required:
            bad.append(~given)
        if f.minimum is not None:
            bad.append(out[f.name] < f.minimum)
        if f.maximum is not None:
            bad.append(out[f.name] > f.maximum)
        if f.valid_values is not None:
            bad.append(v.is_not_null() & ~v.is_in(list(f.valid_values)))
        if f.aligned_minutes:
            minutes = v.dt.hour().cast(pl.Int64) * 60 + v.dt.minute().cast(pl.Int64)
            bad.append((minutes % f.aligned_minutes != 0) | (v.dt.second() != 0) | (v.dt.microsecond() != 0))
        if f.greater_than:
            bad.append(v <= pl.col(f.greater_than))
    out = out.with_columns(_bad=pl.any_horizontal([e.fill_null(False) for e in bad])).drop(
        [f"_t_{f.name}" for f in fields]
    )
    # In-file duplicate keys: the last row wins, earlier rows are superseded (spec §1), before validation.
    keyed = pl.all_horizontal([pl.col(k).is_not_null() for k in pk])
    kept = pl.concat([out.filter(keyed).unique(subset=pk, keep="last", maintain_order=True), out.filter(~keyed)])
    counts.superseded = out.height - kept.height
    accepted, quarantined = kept.filter(~pl.col("_bad")).drop("_bad"), kept.filter(pl.col("_bad")).drop("_bad")
    counts.accepted, counts.quarantined = accepted.height, quarantined.height + malformed.height
    return accepted, quarantined, counts


def _file_info(path: Path) -> tuple[str, date]:
    """(``bureau/table``, business date) from ``…/<bureau>/<table>/<YYYY-MM-DD>/<file>``."""
    return f"{path.parts[-4]}/{path.parts[-3]}", date.fromisoformat(path.parts[-2])


FACTS_SQL = """
CREATE TABLE fct_traffic_flow_5min AS
SELECT checkpoint_id, road_name, district_code, interval_start, interval_start + INTERVAL 5 MINUTE AS interval_end,
       date_trunc('hour', interval_start) AS hour_start, CAST(interval_start AS DATE) AS interval_date,
       hour(interval_start) IN (7, 8, 17, 18) AS is_peak_hour, vehicle_count, avg_speed_kmh, congestion_index
FROM traffic;
CREATE TABLE fct_traffic_flow_hourly AS
SELECT checkpoint_id, hour_start, arg_max(road_name, interval_start) AS road_name,
       arg_max(district_code, interval_start) AS district_code, CAST(hour_start AS DATE) AS hour_date,
       hour(hour_start) IN (7, 8, 17, 18) AS is_peak_hour, count(*) AS interval_count,
       CAST(sum(vehicle_count) AS BIGINT) AS vehicle_count,
       coalesce(sum(avg_speed_kmh * vehicle_count)
                / nullif(sum(vehicle_count) FILTER (WHERE avg_speed_kmh IS NOT NULL), 0),
                avg(avg_speed_kmh)) AS avg_speed_kmh,
       avg(congestion_index) AS avg_congestion_index, max(congestion_index) AS max_congestion_index
FROM fct_traffic_flow_5min GROUP BY checkpoint_id, hour_start;
CREATE TABLE fct_pipe_pressure_hourly AS
WITH r AS (SELECT *, date_trunc('hour', measured_at) AS hour_start,
                  coalesce(pressure_mpa < threshold_low, false) AS lo,
                  coalesce(pressure_mpa > threshold_high, false) AS hi FROM pipe)
SELECT sensor_id, hour_start, CAST(hour_start AS DATE) AS hour_date,
       arg_max(network_type, measured_at) AS network_type, arg_max(district_code, measured_at) AS district_code,
       count(*) AS reading_count, count(pressure_mpa) AS valid_reading_count, min(pressure_mpa) AS min_pressure_mpa,
       avg(pressure_mpa) AS avg_pressure_mpa, max(pressure_mpa) AS max_pressure_mpa,
       arg_max(threshold_low, measured_at) AS threshold_low, arg_max(threshold_high, measured_at) AS threshold_high,
       count(*) FILTER (WHERE lo) AS below_low_count, count(*) FILTER (WHERE hi) AS above_high_count,
       bool_or(lo) AS is_breach_low, bool_or(hi) AS is_breach_high, bool_or(lo OR hi) AS is_breach
FROM r GROUP BY sensor_id, hour_start;
CREATE TABLE kpi_city AS
WITH peak AS (SELECT CAST(date_trunc('month', interval_start) AS DATE) AS kpi_month, district_code,
                     CASE WHEN hour(interval_start) < 12 THEN 'am' ELSE 'pm' END AS peak_period, congestion_index
              FROM fct_traffic_flow_5min WHERE is_peak_hour AND congestion_index IS NOT NULL),
     hours AS (SELECT CAST(date_trunc('month', hour_start) AS DATE) AS kpi_month, district_code,
                      coalesce(network_type, '未知') AS network_type, is_breach FROM fct_pipe_pressure_hourly)
SELECT kpi_month, 'traffic_peak_congestion_index' AS kpi_code, district_code, 'district' AS dimension_type,
       district_code AS dimension_code, sum(congestion_index) AS numerator, CAST(count(*) AS DOUBLE) AS denominator,
       avg(congestion_index) AS kpi_value FROM peak GROUP BY ALL
UNION ALL
SELECT kpi_month, 'traffic_peak_congestion_index', district_code, 'peak_period', peak_period,
       sum(congestion_index), count(*), avg(congestion_index) FROM peak GROUP BY ALL
UNION ALL
SELECT kpi_month, 'pipe_pressure_breach_sensor_hours', district_code, 'district', district_code,
       count_if(is_breach), count(*), count_if(is_breach) FROM hours GROUP BY ALL
UNION ALL
SELECT kpi_month, 'pipe_pressure_breach_sensor_hours', district_code, 'network_type', network_type,
       count_if(is_breach), count(*), count_if(is_breach) FROM hours GROUP BY ALL;
"""

OUTPUT_TABLES = (
    "traffic_flow",
    "pipe_pressure",
    "quarantine_traffic_flow",
    "quarantine_pipe_pressure",
    "fct_traffic_flow_5min",
    "fct_traffic_flow_hourly",
    "fct_pipe_pressure_hourly",
    "kpi_city",
)


def run(files: Sequence[Path], out_db: Path, workers: int | None = None) -> dict:
    """Check every file, build the facts and KPIs, write each table once to ``out_db``.

    Returns seconds, rows received and the counts of each file (keyed by its path).
    """
    started = time.perf_counter()
    specs = {ds: load_fields(ds) for ds in DATASETS}

    def one(path: Path) -> tuple[Path, str, date, pl.DataFrame, pl.DataFrame, FileCounts]:
        ds, day = _file_info(path)
        acc, quar, counts = check_file(path, *specs[ds])
        return path, ds, day, acc, quar, counts

    with ThreadPoolExecutor(workers or os.cpu_count() or 2) as pool:
        results = list(pool.map(one, files))
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order=false")
    for ds, short in DATASETS.items():
        fields, pk = specs[ds]
        names = [f.name for f in fields]
        parts = [
            acc.with_columns(_day=pl.lit(day), _file=pl.lit(n, dtype=pl.Int64))
            for n, (_, d, day, acc, _, _) in enumerate(results)
            if d == ds
        ]
        frame = pl.concat(parts) if parts else pl.DataFrame(schema={**specs_schema(fields), "row_number": pl.Int64})
        if parts:  # across files: the latest business date wins, then the later file, then the later row
            frame = frame.sort(["_day", "_file", "row_number"]).unique(subset=pk, keep="last").select(names)
        con.register(short, frame.select(names).to_arrow())
        quar = [q.with_columns(_file=pl.lit(str(p))) for p, d, _, _, q, _ in results if d == ds]
        con.register(f"q_{short}", (pl.concat(quar) if quar else pl.DataFrame({"_file": []})).to_arrow())
    con.execute(FACTS_SQL)
    out_db.unlink(missing_ok=True)
    con.execute(f"ATTACH '{out_db}' AS out")
    for table, source in zip(
        OUTPUT_TABLES, ("traffic", "pipe", "q_traffic", "q_pipe", *OUTPUT_TABLES[4:]), strict=True
    ):
        con.execute(f"CREATE TABLE out.{table} AS SELECT * FROM {source}")
    con.execute("DETACH out")
    con.close()
    return {
        "seconds": time.perf_counter() - started,
        "rows": sum(r[5].received for r in results),
        "files": {str(p): asdict(c) for p, *_, c in results},
    }


def specs_schema(fields: list[Field]) -> dict[str, pl.DataType]:
    """polars types of the typed columns (for a dataset with no file)."""
    kinds = {"timestamp": pl.Datetime("us"), "integer": pl.Int64, "number": pl.Float64}
    return {f.name: kinds.get(f.logical_type, pl.String) for f in fields}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pipelines.tools.bench_baseline OUT.duckdb FILE_LIST``: run and print the result as JSON."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    files = [Path(p) for p in Path(args[1]).read_text(encoding="utf-8").splitlines() if p]
    result = run(files, Path(args[0]))
    print(json.dumps({k: v for k, v in result.items() if k != "files"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
