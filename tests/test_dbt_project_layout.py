"""The dbt project reads left to right and documents itself (pure Python: no dbt run, no warehouse).

- staging models read only sources; intermediate models read only staging models,
  other intermediates and seeds (never a mart); marts read anything upstream;
- every model has a YAML entry with a description, and every column it lists has one;
- the row-level marts take their lineage columns from the ``mart_lineage_columns`` macro and
  no model pastes the report-time expression of ``report_at()``.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from pipelines import settings

MODELS = settings.DBT_PROJECT_DIR / "models"
SEEDS = {p.stem for p in (settings.DBT_PROJECT_DIR / "seeds").glob("*.csv")}
REF = re.compile(r"""\bref\(\s*['"](\w+)['"]\s*\)""")
SOURCE = re.compile(r"""\bsource\(\s*['"]\w+['"]\s*,\s*['"]\w+['"]\s*\)""")
SET_LIST = re.compile(r"""['"](\w+)['"]""")


def _layer(path: Path) -> str:
    return path.relative_to(MODELS).parts[0]


def _models() -> dict[str, Path]:
    return {p.stem: p for p in MODELS.rglob("*.sql")}


def _refs(text: str) -> set[str]:
    """Models and seeds a model refs: ``ref('x')`` literals plus names in a ``{% set ... %}`` list
    that the model passes to ``ref(m)`` (kpi_city_monthly unions its measure models that way)."""
    refs = set(REF.findall(text))
    if re.search(r"\bref\(\s*\w+\s*\)", text):
        for block in re.findall(r"{%-?\s*set\s+\w+\s*=\s*\[(.*?)\]\s*-?%}", text, re.S):
            refs |= set(SET_LIST.findall(block))
    return refs


def layer_violations(models: dict[str, tuple[str, str]]) -> list[str]:
    """Refs that run right to left (or skip the sources in staging); models: name → (layer, SQL)."""
    bad = []
    for name, (layer, text) in sorted(models.items()):
        refs = _refs(text)
        bad += [f"{name} refs unknown {u}" for u in sorted(refs - set(models) - SEEDS)]
        if layer == "staging":
            bad += [f"staging {name} refs {r} (staging reads sources only)" for r in sorted(refs)]
            if not SOURCE.search(text):
                bad.append(f"staging {name} reads no source()")
        elif layer == "intermediate":
            upstream_ok = ("staging", "intermediate")
            bad += [
                f"intermediate {name} refs mart {r}"
                for r in sorted(refs)
                if r in models and models[r][0] not in upstream_ok
            ]
    return bad


def _sql() -> dict[str, tuple[str, str]]:
    return {name: (_layer(p), p.read_text()) for name, p in _models().items()}


def test_models_sit_in_the_three_layers() -> None:
    assert {layer for layer, _ in _sql().values()} == {"staging", "intermediate", "marts"}


def test_lineage_runs_left_to_right() -> None:
    models = _sql()
    assert "int_kpi__hotline_conduct" in models and "fct_hotline_tickets" in models
    assert layer_violations(models) == []


def test_a_backward_ref_is_caught() -> None:
    """The check fails on an intermediate that reads a mart and a staging model that refs a model."""
    models = _sql()
    models["int_x"] = ("intermediate", "select * from {{ ref('fct_hotline_tickets') }}")
    models["stg_x"] = ("staging", "select * from {{ source('raw', 'x') }}, {{ ref('int_hotline__tickets_latest') }}")
    assert layer_violations(models) == [
        "intermediate int_x refs mart fct_hotline_tickets",
        "staging stg_x refs int_hotline__tickets_latest (staging reads sources only)",
    ]


def _documented() -> dict[str, dict]:
    out: dict[str, dict] = {}
    for y in MODELS.rglob("*.yml"):
        for m in (yaml.safe_load(y.read_text()) or {}).get("models") or []:
            assert m["name"] not in out, f"{m['name']} documented twice"
            out[m["name"]] = m
    return out


def doc_gaps(models: dict[str, Path], docs: dict[str, dict]) -> list[str]:
    gaps = []
    for name in sorted(models):
        m = docs.get(name)
        if m is None:
            gaps.append(f"{name}: no YAML entry")
            continue
        if not (m.get("description") or "").strip():
            gaps.append(f"{name}: no description")
        cols = m.get("columns") or []
        if not cols:
            gaps.append(f"{name}: no columns listed")
        gaps += [f"{name}.{c['name']}: no description" for c in cols if not (c.get("description") or "").strip()]
    gaps += [f"{name}: documented but no model" for name in sorted(set(docs) - set(models))]
    return gaps


def test_every_model_and_column_is_documented() -> None:
    assert doc_gaps(_models(), _documented()) == []


def test_an_undocumented_column_is_caught() -> None:
    docs = _documented()
    m = dict(docs["fct_hotline_tickets"])
    m["columns"] = [*m["columns"], {"name": "new_column"}]
    gaps = doc_gaps(_models(), {**docs, "fct_hotline_tickets": m, "ghost": {"name": "ghost"}})
    assert gaps == ["fct_hotline_tickets.new_column: no description", "ghost: documented but no model"]


def test_marts_take_lineage_and_report_time_from_macros() -> None:
    docs = _documented()
    pasted = re.compile(r"source_file_id\([^)]*\)\s*}}\s*as\s+source_file_id\s*,\s*\w*\.?file_sha256", re.S)
    for name, path in _models().items():
        text = path.read_text()
        assert not pasted.search(text), f"{name} pastes the lineage block: use mart_lineage_columns()"
        assert "now() at time zone" not in text, f"{name} pastes report_at(): use the macro"
        cols = {c["name"] for c in docs[name].get("columns") or []}
        if _layer(path) == "marts" and {"source_file_id", "run_id", "contract_version"} <= cols:
            assert "mart_lineage_columns(" in text, f"{name} carries the lineage columns without the macro"
