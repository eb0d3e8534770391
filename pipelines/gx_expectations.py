"""Custom Great Expectations 1.x expectations for the rules of the submission spec.

Each expectation is a real GX ``ColumnMapExpectation`` (or ``ColumnPairMapExpectation``)
with its own metric provider (pandas engine), registered with GX when this module is
imported. The identifier checks reuse :mod:`pipelines.pii`; nothing here keeps or
reports a value — validation results are requested with ``exclude_unexpected_values``
and the map metrics only return booleans per row.

Expectation types (the ``type`` in a suite file):

- ``expect_column_values_to_be_valid_resident_id`` (GB 11643-1999: mod 11-2 check
  character, real birth date; ``x`` = ``X``); optional ``only_length`` checks only
  values of that length (other documents, e.g. passports, pass);
- ``expect_column_values_to_be_valid_uscc`` (GB 32100-2015: mod 31 check character);
- ``expect_column_values_to_be_valid_phone`` (mobile or landline after normalisation);
- ``expect_column_values_to_be_aligned_to_minutes`` (timestamp on a multiple of
  ``minutes`` past midnight, zero seconds: 60 = on the hour, 5 = 5-minute intervals);
- ``expect_column_values_to_not_be_in_the_future`` (date ≤ today in ``timezone``);
- ``expect_column_pair_values_a_to_start_with_b`` (e.g. grid_code starts with district_code).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from zoneinfo import ZoneInfo

import pandas as pd
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation, ColumnPairMapExpectation
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    ColumnPairMapMetricProvider,
    column_condition_partial,
    column_pair_condition_partial,
)

from pipelines import pii

DEFAULT_TIMEZONE = "Asia/Shanghai"


def _text(value: object) -> str:
    return str(value).strip()


# --- identifiers ----------------------------------------------------------------------


def resident_id_ok(value: object, only_length: int | None = None) -> bool:
    if only_length is not None:
        canonical = pii.normalize_resident_id(_text(value)) or ""
        if len(canonical) != only_length:
            return True
    return pii.is_valid_resident_id(_text(value))


class ColumnValuesValidResidentId(ColumnMapMetricProvider):
    condition_metric_name = "column_values.shuzhong_valid_resident_id"
    condition_value_keys = ("only_length",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, only_length: int | None = None, **kwargs) -> pd.Series:
        return column.map(lambda v: resident_id_ok(v, only_length)).astype(bool)


class ExpectColumnValuesToBeValidResidentId(ColumnMapExpectation):
    """Values are resident ID numbers (身份证号) with a valid check character and birth date."""

    only_length: int | None = None

    map_metric = "column_values.shuzhong_valid_resident_id"
    success_keys = ("mostly", "only_length")
    library_metadata: ClassVar[dict] = {"tags": ["shuzhong", "pii"], "contributors": ["zaozhuang-datahub"]}


class ColumnValuesValidUscc(ColumnMapMetricProvider):
    condition_metric_name = "column_values.shuzhong_valid_uscc"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs) -> pd.Series:
        return column.map(lambda v: pii.is_valid_uscc(_text(v))).astype(bool)


class ExpectColumnValuesToBeValidUscc(ColumnMapExpectation):
    """Values are unified social credit codes (统一社会信用代码) with a valid check character."""

    map_metric = "column_values.shuzhong_valid_uscc"
    success_keys = ("mostly",)
    library_metadata: ClassVar[dict] = {"tags": ["shuzhong"], "contributors": ["zaozhuang-datahub"]}


class ColumnValuesValidPhone(ColumnMapMetricProvider):
    condition_metric_name = "column_values.shuzhong_valid_phone"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs) -> pd.Series:
        return column.map(lambda v: pii.is_valid_phone(pii.normalize_phone(_text(v)))).astype(bool)


class ExpectColumnValuesToBeValidPhone(ColumnMapExpectation):
    """Values are mobile or landline phone numbers (any spelling that normalises to one)."""

    map_metric = "column_values.shuzhong_valid_phone"
    success_keys = ("mostly",)
    library_metadata: ClassVar[dict] = {"tags": ["shuzhong", "pii"], "contributors": ["zaozhuang-datahub"]}


# --- time -----------------------------------------------------------------------------


def _timestamps(column: pd.Series) -> pd.Series:
    return pd.to_datetime(column, errors="coerce")


class ColumnValuesAlignedToMinutes(ColumnMapMetricProvider):
    condition_metric_name = "column_values.shuzhong_aligned_to_minutes"
    condition_value_keys = ("minutes",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, minutes: int = 60, **kwargs) -> pd.Series:
        ts = _timestamps(column)
        minute_of_day = ts.dt.hour * 60 + ts.dt.minute
        exact = (ts.dt.second == 0) & (ts.dt.microsecond == 0) & (ts.dt.nanosecond == 0)
        return (ts.notna() & exact & (minute_of_day % int(minutes) == 0)).astype(bool)


class ExpectColumnValuesToBeAlignedToMinutes(ColumnMapExpectation):
    """Timestamps fall on a multiple of ``minutes`` after midnight with zero seconds."""

    minutes: int = 60

    map_metric = "column_values.shuzhong_aligned_to_minutes"
    success_keys = ("mostly", "minutes")
    library_metadata: ClassVar[dict] = {"tags": ["shuzhong"], "contributors": ["zaozhuang-datahub"]}


class ColumnValuesNotInTheFuture(ColumnMapMetricProvider):
    condition_metric_name = "column_values.shuzhong_not_in_the_future"
    condition_value_keys = ("timezone",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, timezone: str = DEFAULT_TIMEZONE, **kwargs) -> pd.Series:
        today = pd.Timestamp(datetime.now(ZoneInfo(timezone)).date())
        ts = _timestamps(column)
        if getattr(ts.dt, "tz", None) is not None:
            ts = ts.dt.tz_convert(timezone).dt.tz_localize(None)
        return (ts.notna() & (ts.dt.normalize() <= today)).astype(bool)


class ExpectColumnValuesToNotBeInTheFuture(ColumnMapExpectation):
    """Dates (or the dates of timestamps) are not later than today in ``timezone`` (Asia/Shanghai)."""

    timezone: str = DEFAULT_TIMEZONE

    map_metric = "column_values.shuzhong_not_in_the_future"
    success_keys = ("mostly", "timezone")
    library_metadata: ClassVar[dict] = {"tags": ["shuzhong"], "contributors": ["zaozhuang-datahub"]}


# --- column pairs ---------------------------------------------------------------------


class ColumnPairValuesAStartsWithB(ColumnPairMapMetricProvider):
    condition_metric_name = "column_pair_values.shuzhong_a_starts_with_b"
    condition_domain_keys = (
        "batch_id",
        "table",
        "column_A",
        "column_B",
        "row_condition",
        "condition_parser",
        "ignore_row_if",
    )
    condition_value_keys = ()

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_A: pd.Series, column_B: pd.Series, **kwargs) -> pd.Series:
        return pd.Series(
            [_text(a).startswith(_text(b)) for a, b in zip(column_A, column_B, strict=True)],
            index=column_A.index,
            dtype=bool,
        )


class ExpectColumnPairValuesAToStartWithB(ColumnPairMapExpectation):
    """Each value of ``column_A`` begins with the value of ``column_B`` in the same row."""

    ignore_row_if: str = "either_value_is_missing"

    map_metric = "column_pair_values.shuzhong_a_starts_with_b"
    success_keys = ("column_A", "column_B", "ignore_row_if", "mostly")
    args_keys = ("column_A", "column_B")
    library_metadata: ClassVar[dict] = {"tags": ["shuzhong"], "contributors": ["zaozhuang-datahub"]}


EXPECTATION_TYPES = (
    "expect_column_values_to_be_valid_resident_id",
    "expect_column_values_to_be_valid_uscc",
    "expect_column_values_to_be_valid_phone",
    "expect_column_values_to_be_aligned_to_minutes",
    "expect_column_values_to_not_be_in_the_future",
    "expect_column_pair_values_a_to_start_with_b",
)
