"""The official working-day calendar (State Council holiday notice) and submission deadlines.

The calendar is configuration: ``dbt_project/seeds/cn_workday_calendar.csv`` lists, per
year, the days off of each public holiday (``holiday``) and the 调休 make-up working days
(``makeup_workday``). dbt reads the same file as a seed. A year is *held* when it has rows.

Spec §1: the file for business date D of a daily dataset is due at 09:00 on the first
working day after D; machine feeds are due D+1 02:00 (calendar days). A working day is a
Monday–Friday that is not a holiday, or a make-up working day. A deadline in a year the
calendar does not hold is computed on Monday–Friday and marked provisional.

No Dagster here: the CLI, the receipts and the tests import it cheaply.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from pipelines import settings

CALENDAR_PATH = settings.DBT_PROJECT_DIR / "seeds" / "cn_workday_calendar.csv"
TZ = ZoneInfo("Asia/Shanghai")
HEADER = ["date", "kind", "name", "year"]
KINDS = {"holiday", "makeup_workday"}
MACHINE_FEEDS = {"hourly", "5min", "minute"}
DEFAULT_DEADLINES = {"daily": (1, "09:00"), **{c: (1, "02:00") for c in MACHINE_FEEDS}}
REPORT_FROM = (12, 1)  # from 1 December a missing next year is reported

# chinese-calendar's holiday names → the notice's Chinese names.
NAMES_ZH = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日",
}


@dataclass(frozen=True)
class Calendar:
    """Holidays and make-up working days of the years the calendar holds."""

    holidays: frozenset[date]
    makeup_workdays: frozenset[date]
    years: frozenset[int]

    def holds(self, year: int) -> bool:
        return year in self.years

    def is_working_day(self, d: date) -> bool:
        """Official working day; Monday–Friday for a year the calendar does not hold."""
        if d in self.makeup_workdays:
            return True
        return d.weekday() < 5 and d not in self.holidays

    def first_working_day_from(self, d: date) -> date:
        """``d`` if it is a working day, else the next one."""
        while not self.is_working_day(d):
            d += timedelta(days=1)
        return d


def parse(text: str) -> Calendar:
    """A calendar from the seed's CSV text; raises ValueError on a malformed row."""
    holidays: set[date] = set()
    makeup: set[date] = set()
    years: set[int] = set()
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames != HEADER:
        raise ValueError(f"calendar header must be {','.join(HEADER)}, not {reader.fieldnames}")
    for n, row in enumerate(reader, start=2):
        d = date.fromisoformat(row["date"])
        if row["kind"] not in KINDS or int(row["year"]) != d.year or d in holidays or d in makeup:
            raise ValueError(f"calendar line {n}: bad or repeated row {row}")
        (holidays if row["kind"] == "holiday" else makeup).add(d)
        years.add(d.year)
    return Calendar(frozenset(holidays), frozenset(makeup), frozenset(years))


@cache
def _load(path: Path, mtime_ns: int) -> Calendar:
    return parse(path.read_text(encoding="utf-8"))


def load(path: Path = CALENDAR_PATH) -> Calendar:
    """The committed calendar (re-read when the file changes)."""
    return _load(path, path.stat().st_mtime_ns)


def day_basis(cadence: str, deadline: dict | None = None) -> str:
    """``working`` or ``calendar`` days: a contract's ``deadline.days``, else by cadence."""
    if deadline and deadline.get("days"):
        return str(deadline["days"])
    return "working" if cadence == "daily" else "calendar"


def deadline_for(
    cadence: str, business_date: date, deadline: dict | None = None, calendar: Calendar | None = None
) -> tuple[datetime, bool] | None:
    """(deadline, provisional) of business date D, Asia/Shanghai; None when the cadence has none.

    ``deadline`` is the contract's ``{day_offset, time[, days]}``; without it the spec's
    default for the cadence applies. Working-day deadlines fall on the first working day on
    or after D + day_offset (for day_offset 1: the first working day after D); provisional
    when that day's year is not in the calendar."""
    if deadline:
        offset, at = int(deadline.get("day_offset", 1)), str(deadline.get("time", "09:00"))
    elif cadence in DEFAULT_DEADLINES:
        offset, at = DEFAULT_DEADLINES[cadence]
    else:
        return None
    day = business_date + timedelta(days=offset)
    provisional = False
    if day_basis(cadence, deadline) == "working":
        cal = calendar or load()
        day = cal.first_working_day_from(day)
        provisional = not cal.holds(day.year)
    return datetime.combine(day, time.fromisoformat(at), tzinfo=TZ), provisional


def today() -> date:
    """Today in Asia/Shanghai."""
    return datetime.now(TZ).date()


def missing_year_message(on: date | None = None, calendar: Calendar | None = None) -> str | None:
    """From 1 December: a warning when next year is not in the calendar (else None)."""
    on = on or today()
    cal = calendar or load()
    nxt = on.year + 1
    if (on.month, on.day) < REPORT_FROM or cal.holds(nxt):
        return None
    return (
        f"working-day calendar has no {nxt}: add the State Council's {nxt} holiday notice to "
        f"{settings.shown(CALENDAR_PATH)} (README: adding a calendar year); "
        f"until then {nxt} deadlines are Monday–Friday and marked provisional"
    )


# -- generation from chinese-calendar ------------------------------------------------


def library_rows(year: int) -> list[dict[str, str]]:
    """The seed rows of one year from chinese-calendar (NotImplementedError past its data)."""
    import chinese_calendar
    from chinese_calendar import constants

    chinese_calendar.is_workday(date(year, 1, 1))  # raises NotImplementedError for unknown years
    rows = [
        {"date": d.isoformat(), "kind": kind, "name": NAMES_ZH.get(str(name), str(name)), "year": str(year)}
        for kind, days in (("holiday", constants.holidays), ("makeup_workday", constants.workdays))
        for d, name in days.items()
        if d.year == year
    ]
    return sorted(rows, key=lambda r: r["date"])


def render(rows: list[dict[str, str]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HEADER, lineterminator="\n")
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda r: r["date"]))
    return buf.getvalue()


def generate(years: list[int], path: Path = CALENDAR_PATH) -> str:
    """The seed with ``years`` (re)written from chinese-calendar; other years' rows are kept."""
    kept = []
    if path.exists():
        kept = [r for r in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))) if int(r["year"]) not in years]
    return render(kept + [r for y in years for r in library_rows(y)])


def library_mismatches(path: Path = CALENDAR_PATH) -> list[int]:
    """Years of the committed file that chinese-calendar also holds and disagrees on."""
    committed: dict[int, list[dict[str, str]]] = {}
    for r in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))):
        committed.setdefault(int(r["year"]), []).append(r)
    bad = []
    for year, rows in sorted(committed.items()):
        try:
            expected = library_rows(year)
        except NotImplementedError:
            continue  # added by hand from the notice before the library had it
        if sorted(rows, key=lambda r: r["date"]) != expected:
            bad.append(year)
    return bad
