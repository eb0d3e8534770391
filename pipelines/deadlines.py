"""Which business dates of each dataset are due, submitted, late: the timeliness rule of spec §1/§5.

No Dagster here (the freshness checks, the deadline sensor, the daily settlement and the CLI
all call it). For one dataset and a time ``as_of`` (Asia/Shanghai):

- a business date D is *due* once its deadline (:func:`pipelines.workdays.deadline_for`:
  working days of the official calendar for daily datasets, calendar days for machine feeds)
  has passed;
- D is *submitted* when the file registry holds an accepted file for it, or a no-op identical
  one (``duplicate``: a bureau with no events sends the same header-only file every day);
- D is *missed* when it is due and not submitted. Like the data-quality KPI, a dataset's
  calendar starts at its first submitted business date (any processed file, spec v1.2):
  nothing before it is ever missed, and a dataset never submitted has no missed dates.
  Only the last ``SHUZHONG_LATENESS_LOOKBACK_DAYS`` days (default 31) are examined, so one
  evaluation costs the same whatever the history holds;
- reference data (no deadline) is never due.

The registry is read as it is now (a file uploaded after ``as_of`` still counts as submitted):
``as_of`` only decides which deadlines have passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import polars as pl

from pipelines import settings, workdays
from pipelines.contracts import Contract, all_contracts

SUBMITTED = ("accepted", "duplicate")


def lookback_days() -> int:
    """Business dates examined before ``as_of`` (reminders and checks look no further back)."""
    return int(settings.get("SHUZHONG_LATENESS_LOOKBACK_DAYS", "31"))


@dataclass(frozen=True)
class Due:
    """One business date and its deadline (Asia/Shanghai); provisional when its year is not in the calendar."""

    business_date: date
    deadline: datetime
    provisional: bool

    def deadline_text(self) -> str:
        return self.deadline.strftime("%Y-%m-%d %H:%M") + ("（暂定）" if self.provisional else "")


@dataclass(frozen=True)
class Timeliness:
    """The timeliness of one dataset as of ``as_of``."""

    contract: Contract
    as_of: datetime
    first_date: date | None = None  # first business date with any processed file (calendar start)
    first_upload: dict[date, datetime] = field(default_factory=dict)  # submitted date → first upload
    expected: Due | None = None  # the latest business date whose deadline has passed
    next_due: Due | None = None  # the next business date whose deadline is still to come
    missed: tuple[Due, ...] = ()  # due, not submitted, since first_date, within the lookback

    @property
    def has_deadline(self) -> bool:
        return deadline(self.contract, self.as_of.date()) is not None

    @property
    def passed(self) -> bool:
        return not self.missed

    @property
    def last_submission(self) -> tuple[date, datetime] | None:
        """The latest submitted business date and the first upload for it."""
        if not self.first_upload:
            return None
        day = max(self.first_upload)
        return day, self.first_upload[day]

    def status_of(self, day: date) -> str:
        """``on_time`` | ``late`` (submitted after its deadline) | ``missing`` (due, nothing yet) |
        ``not_due`` | ``before_calendar`` (before the first submission) | ``no_deadline``."""
        due = deadline(self.contract, day)
        if due is None:
            return "no_deadline"
        if day in self.first_upload:
            return "on_time" if self.first_upload[day] <= due.deadline else "late"
        if due.deadline > self.as_of:
            return "not_due"
        if self.first_date is None or day < self.first_date:
            return "before_calendar"
        return "missing"


def deadline(contract: Contract, day: date) -> Due | None:
    due = workdays.deadline_for(contract.cadence, day, contract.deadline)
    return Due(day, *due) if due else None


def _local(ts: datetime) -> datetime:
    if ts.tzinfo is None:  # the registry stores UTC instants
        from datetime import UTC

        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(workdays.TZ)


def evaluate(contract: Contract, registry: pl.DataFrame, as_of: datetime) -> Timeliness:
    """The timeliness of ``contract``'s dataset from the file registry, as of ``as_of``."""
    as_of = as_of.astimezone(workdays.TZ)
    rows = registry.filter(
        (pl.col("bureau") == contract.bureau)
        & (pl.col("dataset") == contract.dataset)
        & pl.col("business_date").is_not_null()
    )
    first_date = rows["business_date"].min() if rows.height else None
    submitted = (
        rows.filter(pl.col("status").is_in(SUBMITTED)).group_by("business_date").agg(pl.col("uploaded_at").min())
    )
    first_upload = {d: _local(u) for d, u in zip(submitted["business_date"], submitted["uploaded_at"], strict=True)}
    today = as_of.date()
    if deadline(contract, today) is None:
        return Timeliness(contract, as_of, first_date, first_upload)
    window = [today - timedelta(days=n) for n in range(lookback_days(), -1, -1)]
    dues = [deadline(contract, d) for d in window]
    passed = [d for d in dues if d.deadline <= as_of]
    future = [d for d in dues if d.deadline > as_of]
    missed = tuple(
        d
        for d in passed
        if first_date is not None and d.business_date >= first_date and d.business_date not in first_upload
    )
    return Timeliness(
        contract,
        as_of,
        first_date,
        first_upload,
        expected=passed[-1] if passed else None,
        next_due=future[0] if future else None,
        missed=missed,
    )


def evaluate_all(as_of: datetime, registry: pl.DataFrame | None = None) -> dict[str, Timeliness]:
    """Every contract's timeliness (one registry read), keyed ``<bureau>.<dataset>``."""
    from pipelines import lake

    registry = lake.registry() if registry is None else registry
    return {key: evaluate(c, registry, as_of) for key, c in sorted(all_contracts().items())}
