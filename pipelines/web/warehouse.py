"""The published warehouse, read-only, as an analyst reads it (``settings.published_db_path``).

Every query opens the file with ``read_only=True`` for the time of one page: the publish swaps
the file atomically, so the next page sees the new one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

import duckdb

from pipelines import publish, settings


class NotPublished(Exception):
    """No published warehouse yet (the pipeline has not run)."""


@contextmanager
def connect(path: Path | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    path = Path(path or settings.published_db_path())
    if not path.exists():
        raise NotPublished(str(path))
    con = duckdb.connect(str(path), read_only=True)
    try:
        yield con
    finally:
        con.close()


def _dicts(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def months() -> list[date]:
    """Months of the scorecard, newest first."""
    with connect() as con:
        return [
            r[0] for r in con.execute("SELECT DISTINCT kpi_month FROM kpi_scorecard_monthly ORDER BY 1 DESC").fetchall()
        ]


SCORECARD_COLUMNS = (
    "kpi_month, district_code, district_name, dimension_type, dimension_code, dimension_name, kpi_code, kpi_name, "
    "unit, kpi_value, numerator, denominator, target_value, comparator, baseline_value, gap, is_target_met"
)


def scorecard(month: date, dimension_type: str = "district") -> list[dict]:
    """The scorecard rows of one month for one dimension type (``district``: the district totals)."""
    with connect() as con:
        return _dicts(
            con,
            f"SELECT {SCORECARD_COLUMNS} FROM kpi_scorecard_monthly WHERE kpi_month = ? AND dimension_type = ? "
            "ORDER BY kpi_code, district_code, dimension_code",
            [month, dimension_type],
        )


def kpi_rows(code: str, month: date) -> list[dict]:
    """Every row of one KPI in one month (districts, then departments, communities, ...)."""
    with connect() as con:
        return _dicts(
            con,
            f"SELECT {SCORECARD_COLUMNS} FROM kpi_scorecard_monthly WHERE kpi_code = ? AND kpi_month = ? "
            "ORDER BY dimension_type <> 'district', dimension_type, district_code, dimension_code",
            [code, month],
        )


def trend(code: str) -> list[dict]:
    """One KPI by month: its district rows (a data-quality KPI: its bureau-dataset rows)."""
    with connect() as con:
        return _dicts(
            con,
            "SELECT kpi_month, dimension_code, coalesce(dimension_name, dimension_code) AS name, kpi_value, "
            "target_value, baseline_value FROM kpi_scorecard_monthly "
            "WHERE kpi_code = ? AND dimension_type IN ('district', 'bureau_dataset') "
            "ORDER BY kpi_month, dimension_code",
            [code],
        )


def bureau_quality(month: date, bureau: str | None = None) -> list[dict]:
    """``kpi_bureau_data_quality_monthly`` of one month (one bureau's rows when ``bureau`` is given)."""
    sql = (
        "SELECT kpi_month, bureau, dataset, kpi_code, kpi_name, unit, kpi_value, numerator, denominator, "
        "target_value, is_target_met, dates_due, dates_on_time, dates_late, dates_missing "
        "FROM kpi_bureau_data_quality_monthly WHERE kpi_month = ?"
    )
    params: list = [month]
    if bureau is not None:
        sql += " AND bureau = ?"
        params.append(bureau)
    with connect() as con:
        return _dicts(con, sql + " ORDER BY bureau, dataset, kpi_code", params)


def quality_months(bureau: str | None = None) -> list[date]:
    sql = "SELECT DISTINCT kpi_month FROM kpi_bureau_data_quality_monthly"
    params = []
    if bureau:
        sql += " WHERE bureau = ?"
        params.append(bureau)
    with connect() as con:
        return [r[0] for r in con.execute(sql + " ORDER BY 1 DESC", params).fetchall()]


def ranking(month: date) -> list[dict]:
    """Per bureau: the sums of numerators and denominators of ``dq_on_time_rate`` and
    ``dq_rows_accepted_rate`` and the sum of ``dq_files_rejected`` over its datasets
    (``kpi_scorecard_monthly``'s ``bureau_dataset`` rows of the month)."""
    with connect() as con:
        return _dicts(
            con,
            """
            SELECT split_part(dimension_code, '.', 1) AS bureau,
                   sum(numerator) FILTER (kpi_code = 'dq_on_time_rate') AS on_time_num,
                   sum(denominator) FILTER (kpi_code = 'dq_on_time_rate') AS on_time_den,
                   sum(numerator) FILTER (kpi_code = 'dq_rows_accepted_rate') AS accepted_num,
                   sum(denominator) FILTER (kpi_code = 'dq_rows_accepted_rate') AS accepted_den,
                   sum(kpi_value) FILTER (kpi_code = 'dq_files_rejected') AS files_rejected
            FROM kpi_scorecard_monthly WHERE kpi_month = ? AND dimension_type = 'bureau_dataset'
            GROUP BY 1
            """,
            [month],
        )


def published_tables() -> dict[str, dict]:
    """Every published table (main and conditional files): table → file key, path, row count, last change."""
    out: dict[str, dict] = {}
    for key, path in publish.published_files().items():
        con = duckdb.connect(str(path), read_only=True)
        try:
            state = {
                r[0]: (r[1], r[2])
                for r in con.execute(
                    f"SELECT table_name, row_count, published_at FROM {publish.STATE_TABLE}"
                ).fetchall()
            }
            names = [
                r[0]
                for r in con.execute(
                    "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' ORDER BY 1"
                ).fetchall()
            ]
            for name in names:
                rows, changed = state.get(name, (None, None))
                if rows is None:
                    rows = con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
                out.setdefault(name, {"files": [], "row_count": rows, "changed_at": changed, "latest": None})
                out[name]["files"].append(key)
                if out[name]["latest"] is None:
                    out[name]["latest"] = _latest_date(con, name)
        finally:
            con.close()
    return out


DATE_HINTS = ("kpi_month", "business_date", "report_date", "obs_date", "event_date", "date")


def _latest_date(con: duckdb.DuckDBPyConnection, table: str):
    """The latest value of the table's first date/timestamp column (business dates before audit times)."""
    cols = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'main' AND table_name = ? "
        "ORDER BY column_index",
        [table],
    ).fetchall()
    temporal = [c for c, t in cols if t.startswith(("DATE", "TIMESTAMP")) and not c.startswith("_")]
    temporal = [c for c in temporal if c not in ("report_at", "processed_at", "loaded_at")] or temporal
    if not temporal:
        return None
    pick = next((c for h in DATE_HINTS for c in temporal if c == h), temporal[0])
    value = con.execute(f'SELECT max("{pick}") FROM "{table}"').fetchone()[0]
    return value.date() if isinstance(value, datetime) else value
