"""Great Expectations 1.x validation generated from the contract.

The suite is derived from the contract (``suite_from_contract``) and written to
``expectations/<bureau>/<dataset>.json`` by ``shuzhong generate``; ingestion validates
with that file, the validator of record. Results carry row numbers only: values are
excluded (``exclude_unexpected_values``) so no phone or ID number ever reaches a
report, a log or Dagster metadata.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pandas as pd
import polars as pl

from pipelines import rules, settings
from pipelines.contracts import Contract, Field, Rule

ROW_NUMBER = "_row_number"
_GX_LOCK = threading.Lock()


LANGS = ("zh", "en")


def _label(f: Field, lang: str = "zh") -> str:
    return f"{f.business_name}({f.name})" if lang == "zh" else f.name


def _exp(
    rule: rules.RuleDef,
    f: Field,
    contract: Contract | None,
    *,
    other: str | None = None,
    text: dict | None = None,
    by_lang: dict | None = None,
    **kwargs,
) -> dict:
    """One expectation of ``rule`` on ``f`` (compared with column ``other``): its id, GX type,
    severity and texts from the rule catalogue. ``text``: template parameters of both languages,
    ``by_lang``: ``{lang: {...}}`` of one language; ``kwargs``: the expectation's kwargs."""
    descriptions = {}
    for lang in LANGS:
        params = {"label": _label(f, lang), **(text or {}), **(by_lang or {}).get(lang, {})}
        if other:
            params["other"] = _label(contract.field(other), lang) if contract else other
        descriptions[lang] = rule.text(lang, **params)
    meta = {
        "rule_id": rule.rule_id(f.name, other),
        "rule": rule.id,
        "severity": rule.severity,
        "description": descriptions["zh"],
        "description_en": descriptions["en"],
    }
    return {"type": rule.gx_type, "kwargs": kwargs, "meta": meta}


# Identifier checks: the custom expectations of pipelines/gx_expectations.py.
_IDENTIFIERS = {"resident_id": rules.FIELD_RESIDENT_ID, "uscc": rules.FIELD_USCC, "phone": rules.FIELD_PHONE}


def _identifier_expectation(f: Field, kind: str, rule: Rule | None, contract: Contract | None) -> dict:
    kwargs: dict = {"column": f.name}
    condition = {lang: rules.condition_text(lang) for lang in LANGS}
    if rule is not None and rule.when_length is not None:
        kwargs["only_length"] = rule.when_length
        condition = {lang: rules.condition_text(lang, length=rule.when_length) for lang in LANGS}
    if rule is not None and rule.when_column is not None:
        # GX 1.x structured row condition (the non-deprecated form of a pandas row_condition).
        kwargs["row_condition"] = {
            "type": "comparison",
            "column": {"name": rule.when_column},
            "operator": "==",
            "parameter": rule.when_equals,
        }
        when = contract.field(rule.when_column) if contract else None
        condition = {
            lang: rules.condition_text(
                lang, other=_label(when, lang) if when else rule.when_column, equals=rule.when_equals
            )
            for lang in LANGS
        }
    return _exp(
        _IDENTIFIERS[kind], f, contract, by_lang={lang: {"condition": c} for lang, c in condition.items()}, **kwargs
    )


def _rule_expectation(f: Field, rule: Rule, contract: Contract | None) -> dict:
    col = f.name
    if rule.kind in _IDENTIFIERS:
        return _identifier_expectation(f, rule.kind, rule, contract)
    if rule.kind == "greater_than":
        return _exp(
            rules.FIELD_GREATER_THAN,
            f,
            contract,
            other=rule.column,
            column_A=col,
            column_B=rule.column,
            or_equal=False,
            ignore_row_if="either_value_is_missing",
        )
    if rule.kind == "starts_with":
        return _exp(
            rules.FIELD_STARTS_WITH,
            f,
            contract,
            other=rule.column,
            column_A=col,
            column_B=rule.column,
            ignore_row_if="either_value_is_missing",
        )
    if rule.kind == "aligned":
        return _exp(rules.FIELD_ALIGNED, f, contract, text={"minutes": rule.minutes}, column=col, minutes=rule.minutes)
    if rule.kind == "not_in_future":
        return _exp(rules.FIELD_NOT_IN_FUTURE, f, contract, column=col, timezone="Asia/Shanghai")
    raise ValueError(f"{col}: no expectation for rule {rule.kind!r}")


def _bounds(low, high, strict_low: bool = False, strict_high: bool = False) -> dict:
    return {lang: {"bounds": rules.bounds_text(low, high, strict_low, strict_high, lang)} for lang in LANGS}


def _field_expectations(f: Field, contract: Contract | None = None) -> list[dict]:
    out = []
    col = f.name
    if f.required:
        out.append(_exp(rules.FIELD_REQUIRED, f, contract, column=col))
    if f.pattern:
        out.append(_exp(rules.FIELD_PATTERN, f, contract, text={"pattern": f.pattern}, column=col, regex=f.pattern))
    if f.min_length is not None or f.max_length is not None:
        out.append(
            _exp(
                rules.FIELD_LENGTH,
                f,
                contract,
                by_lang=_bounds(f.min_length, f.max_length),
                column=col,
                min_value=f.min_length,
                max_value=f.max_length,
            )
        )
    if f.format in _IDENTIFIERS:
        out.append(_identifier_expectation(f, f.format, None, contract))
    if f.valid_values:
        values = {"zh": {"values": "、".join(f.valid_values)}, "en": {"values": ", ".join(f.valid_values)}}
        out.append(_exp(rules.FIELD_ENUM, f, contract, by_lang=values, column=col, value_set=list(f.valid_values)))
    low, high = f.lower_bound, f.upper_bound
    if low is not None or high is not None:
        (low_v, strict_low), (high_v, strict_high) = low or (None, False), high or (None, False)
        bounds = {"min_value": low_v, "max_value": high_v}
        if strict_low:
            bounds["strict_min"] = True
        if strict_high:
            bounds["strict_max"] = True
        out.append(
            _exp(
                rules.FIELD_RANGE,
                f,
                contract,
                by_lang=_bounds(low_v, high_v, strict_low, strict_high),
                column=col,
                **bounds,
            )
        )
    if f.not_before:
        out.append(
            _exp(
                rules.FIELD_NOT_BEFORE,
                f,
                contract,
                other=f.not_before,
                column_A=col,
                column_B=f.not_before,
                or_equal=True,
                ignore_row_if="either_value_is_missing",
            )
        )
    out.extend(_rule_expectation(f, r, contract) for r in f.rules)
    return out


def _generated_from(contract: Contract) -> str:
    """The contract's path as ``data_contracts/<bureau>/<file>`` (also for a contracts dir elsewhere)."""
    try:
        return contract.path.resolve().relative_to(settings.PROJECT_DIR).as_posix()
    except ValueError:
        return f"{settings.CONTRACTS_DIR.name}/{contract.path.parent.name}/{contract.path.name}"


def suite_from_contract(contract: Contract) -> dict:
    """The GX suite of a dataset as a deterministic JSON-able dict."""
    expectations = [e for f in contract.fields for e in _field_expectations(f, contract)]
    ids = [e["meta"]["rule_id"] for e in expectations]
    dups = sorted({i for i in ids if ids.count(i) > 1})
    if dups:
        raise ValueError(f"{contract.path}: rule ids must be unique, duplicated: {', '.join(dups)}")
    return {
        "name": contract.key,
        "meta": {
            "generated_from": _generated_from(contract),
            "contract_id": contract.id,
            "contract_version": contract.version,
            "note": "Generated by `shuzhong generate` from the data contract. Do not edit.",
        },
        "expectations": expectations,
    }


def suite_path(contract: Contract) -> Path:
    return settings.EXPECTATIONS_DIR / contract.bureau / f"{contract.dataset}.json"


def render_suite(contract: Contract) -> str:
    return json.dumps(suite_from_contract(contract), ensure_ascii=False, indent=2) + "\n"


def load_suite(contract: Contract) -> dict:
    path = suite_path(contract)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `shuzhong generate`")
    return json.loads(path.read_text(encoding="utf-8"))


def rule_ids(contract: Contract) -> list[str]:
    return [e["meta"]["rule_id"] for e in suite_from_contract(contract)["expectations"]]


def type_rule_wins(failures: dict[str, list[int]]) -> dict[str, list[int]]:
    """Failures with ``<col>.required`` dropped for the rows that break ``<col>.type``: a value
    that is present but cannot be read as its type breaks the type rule, not ``req`` (spec §4).
    The typed frame GX validates holds null for such a value, so the not-null check flags it too."""
    out: dict[str, list[int]] = {}
    for rule_id, rows in failures.items():
        column = rules.field_of(rule_id)
        type_id = rules.FIELD_TYPE.rule_id(column) if column else None
        if column and rule_id == rules.FIELD_REQUIRED.rule_id(column) and type_id in failures:
            unreadable = set(failures[type_id])
            rows = [n for n in rows if n not in unreadable]
        if rows:
            out[rule_id] = rows
    return out


@dataclass
class RuleResult:
    rule_id: str
    expectation: str
    column: str
    description: str
    success: bool
    element_count: int
    unexpected_count: int
    row_numbers: list[int] = field(default_factory=list)


@cache
def _context():
    import great_expectations as gx

    ctx = gx.get_context(mode="ephemeral")
    try:
        ctx.variables.progress_bars = {"globally": False, "metric_calculations": False}
    except Exception:  # noqa: BLE001 — cosmetic only
        pass
    return ctx


@cache
def _validation_definition(suite_json: str):
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    import pipelines.gx_expectations  # noqa: F401 — registers the custom expectation types

    spec = json.loads(suite_json)
    ctx = _context()
    n = len(ctx.suites.all())
    name = f"{spec['name']}#{n}"
    ds = ctx.data_sources.add_pandas(f"ds_{n}")
    bd = ds.add_dataframe_asset(f"frame_{n}").add_batch_definition_whole_dataframe("whole")
    suite = gx.ExpectationSuite(
        name=name,
        expectations=[ExpectationConfiguration(**e).to_domain_obj() for e in spec["expectations"]],
    )
    suite = ctx.suites.add(suite)
    return ctx.validation_definitions.add(gx.ValidationDefinition(name=name, data=bd, suite=suite))


def validate(frame: pd.DataFrame, suite: dict) -> list[RuleResult]:
    """Run the suite on a pandas frame that has a ``_row_number`` column (row by row)."""
    with _GX_LOCK:
        vd = _validation_definition(json.dumps(suite, sort_keys=True))
        result = vd.run(
            batch_parameters={"dataframe": frame},
            result_format={
                "result_format": "COMPLETE",
                "unexpected_index_column_names": [ROW_NUMBER],
                "exclude_unexpected_values": True,
                "return_unexpected_index_query": False,
            },
        )
    out = []
    for res in result.results:
        cfg = res.expectation_config
        detail = res.result or {}
        rows: list[int] = []
        for entry in detail.get("unexpected_index_list") or []:
            value = entry[ROW_NUMBER]
            rows.extend(int(v) for v in (value if isinstance(value, list) else [value]))
        if res.exception_info and res.exception_info.get("raised_exception"):
            raise RuntimeError(
                f"GX expectation {cfg.meta.get('rule_id')} raised: {res.exception_info.get('exception_message')}"
            )
        out.append(
            RuleResult(
                rule_id=cfg.meta["rule_id"],
                expectation=cfg.type,
                column=cfg.kwargs.get("column") or cfg.kwargs.get("column_A"),
                description=cfg.meta.get("description", ""),
                success=bool(res.success),
                element_count=int(detail.get("element_count") or len(frame)),
                unexpected_count=int(detail.get("unexpected_count") or 0),
                row_numbers=sorted(set(rows)),
            )
        )
    return out


# Kwargs of a map expectation that name the columns it reads or shape its per-row verdict.
_PER_VALUE_KWARGS = frozenset(
    {
        "column",
        "column_A",
        "column_B",
        "regex",
        "value_set",
        "min_value",
        "max_value",
        "strict_min",
        "strict_max",
        "or_equal",
        "ignore_row_if",
        "only_length",
        "minutes",
        "timezone",
    }
)


def _value_columns(expectation: dict) -> tuple[str, ...] | None:
    """The columns whose values alone decide each row's verdict of ``expectation`` (a column or
    column-pair map expectation); None when it cannot be judged per distinct value (a row
    condition, ``mostly``, another kind): such an expectation runs on the whole frame."""
    kind, kwargs = expectation["type"], expectation["kwargs"]
    if not set(kwargs) <= _PER_VALUE_KWARGS:
        return None
    if kind.startswith(("expect_column_values_", "expect_column_value_lengths_")) and "column" in kwargs:
        return (kwargs["column"],)
    if kind.startswith("expect_column_pair_values_") and {"column_A", "column_B"} <= set(kwargs):
        return (kwargs["column_A"], kwargs["column_B"])
    return None


def validate_distinct(frame: pl.DataFrame, suite: dict) -> list[RuleResult]:
    """:func:`validate` with the same results, GX judging each distinct value once.

    A map expectation's verdict on a row depends only on the values of its columns, so the
    expectations reading the same columns run (GX, same suite entries) on a frame of those
    columns' distinct value tuples, and each failing tuple is mapped back to every row that
    holds it. Expectations that cannot be judged so run on the whole frame. Results are in
    suite order; counts are of the frame's rows."""
    expectations = suite["expectations"]
    groups: dict[tuple[str, ...] | None, list[int]] = {}
    for i, e in enumerate(expectations):
        groups.setdefault(_value_columns(e), []).append(i)
    by_index: dict[int, RuleResult] = {}
    for columns, indexes in groups.items():
        sub = {
            **suite,
            "name": f"{suite['name']}[{','.join(columns or ('*',))}]",
            "expectations": [expectations[i] for i in indexes],
        }
        if columns is None:
            results = validate(frame.to_pandas(), sub)
        else:
            results = _validate_tuples(frame, list(columns), sub)
        by_index.update(zip(indexes, results, strict=True))
    return [by_index[i] for i in range(len(expectations))]


def _validate_tuples(frame: pl.DataFrame, columns: list[str], suite: dict) -> list[RuleResult]:
    """Run ``suite`` on the distinct tuples of ``columns`` (null is a value too: a column has a
    null tuple iff it has a null row, so pandas gives it the same dtype) and map back to rows."""
    tuples = frame.group_by(columns, maintain_order=True).agg(pl.col(ROW_NUMBER).alias("_rows"))
    distinct = tuples.select(columns).with_row_index(ROW_NUMBER)
    out = []
    for r in validate(distinct.with_columns(pl.col(ROW_NUMBER).cast(pl.Int64)).to_pandas(), suite):
        if r.unexpected_count != len(r.row_numbers):
            raise RuntimeError(f"{r.rule_id}: GX counted {r.unexpected_count} values but listed {len(r.row_numbers)}")
        rows = tuples["_rows"].gather(r.row_numbers).explode().to_list() if r.row_numbers else []
        out.append(
            RuleResult(
                rule_id=r.rule_id,
                expectation=r.expectation,
                column=r.column,
                description=r.description,
                success=r.success,
                element_count=frame.height,
                unexpected_count=len(rows),
                row_numbers=sorted(set(rows)),
            )
        )
    return out
