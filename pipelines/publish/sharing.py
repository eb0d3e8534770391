"""Sharing classification: which governed table and column goes to which published file/prefix.

See :mod:`pipelines.publish` for the rules.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pipelines import settings

GOVERNED_PREFIXES = ("dim_", "fct_", "kpi_")
AGGREGATE_PREFIXES = ("kpi_",)
UNCONDITIONAL = "unconditional"
CONDITIONAL = "conditional"
NONE = "none"
CONDITIONAL_DIR = "conditional"


def conditional_key(datasets) -> str:
    """Name of the file/prefix for data that needs all of ``datasets``: ``a.b+c.d`` (sorted)."""
    return "+".join(sorted(set(datasets)))


def conditional_db_path(key: str, main: Path | None = None) -> Path:
    """``<published dir>/conditional/<key>.duckdb`` beside the main published file."""
    main = Path(main or settings.published_db_path())
    return main.parent / CONDITIONAL_DIR / f"{key}.duckdb"


def _meta(props: dict) -> dict:
    return {**(props.get("meta") or {}), **((props.get("config") or {}).get("meta") or {})}


def _meta_datasets(meta: dict) -> list[str]:
    values = meta.get("datasets") or meta.get("dataset") or []
    return [values] if isinstance(values, str) else list(values)


def _source_dataset(source: dict) -> tuple[str, str | None] | None:
    """(``<bureau>.<dataset>``, sharing) of a dbt source, None if not a bureau dataset."""
    from pipelines import contracts

    bureau, sep, dataset = source.get("name", "").partition("__")
    if not sep:
        return None
    key = f"{bureau}.{dataset}"
    sharing = _meta(source).get("sharing")
    contract = contracts.all_contracts().get(key)
    if sharing is None and contract is not None:
        sharing = contract.sharing
    if sharing is None and contract is None:
        return None  # pipeline metadata (e.g. the file registry), not a bureau's dataset
    return key, sharing


def upstream_datasets(manifest: dict, unique_id: str) -> dict[str, str | None]:
    """Bureau datasets a node depends on (transitively) → their sharing class."""
    nodes = manifest.get("nodes", {})
    sources = manifest.get("sources", {})
    found: dict[str, str | None] = {}
    seen: set[str] = set()
    stack = [unique_id]
    while stack:
        node = nodes.get(stack.pop())
        for dep in (node or {}).get("depends_on", {}).get("nodes", []):
            if dep in seen:
                continue
            seen.add(dep)
            if dep in sources:
                ds = _source_dataset(sources[dep])
                if ds is not None:
                    found[ds[0]] = ds[1]
            else:
                stack.append(dep)
    return found


def _contract_field_text(datasets, column: str) -> str:
    from pipelines import contracts

    for key in sorted(datasets):
        contract = contracts.all_contracts().get(key)
        if contract is None:
            continue
        for f in contract.fields:
            if f.name == column:
                return f.business_name + (f"; {f.description}" if f.description else "")
    return ""


def _classify(node: dict, upstream: dict[str, str | None]) -> tuple[str, list[str], str]:
    """(sharing, datasets, basis) of a mart."""
    name = node["name"]
    meta = _meta(node)
    conditional_up = sorted(k for k, v in upstream.items() if v == CONDITIONAL)
    if meta.get("sharing"):
        sharing = meta["sharing"]
        if sharing not in (UNCONDITIONAL, CONDITIONAL, NONE):
            raise ValueError(f"{name}: meta.sharing must be unconditional/conditional/none, not {sharing!r}")
        datasets = _meta_datasets(meta)
        if sharing == CONDITIONAL:
            datasets = datasets or conditional_up or sorted(upstream)
            if not datasets:
                raise ValueError(f"{name}: conditional, but no dataset in meta nor upstream to grant it by")
        return sharing, (datasets if sharing == CONDITIONAL else []), "meta"
    if meta.get("aggregate") or name.startswith(AGGREGATE_PREFIXES):
        return UNCONDITIONAL, [], "aggregate"
    if any(v == NONE for v in upstream.values()):
        return NONE, [], "lineage"
    if conditional_up:
        return CONDITIONAL, conditional_up, "lineage"
    return UNCONDITIONAL, [], "lineage"


def mart_models(manifest_path: Path) -> list[dict]:
    """Governed tables and marts (``dim_*``/``fct_*``/``kpi_*`` under ``models/marts``).

    Each: ``name``, ``schema``, ``description``, ``columns`` (name → description),
    ``sharing``, ``datasets`` (the grants a conditional mart needs), ``basis`` (meta /
    aggregate / lineage) and ``column_meta`` (name → classification, sharing, datasets).
    """
    manifest = json.loads(Path(manifest_path).read_text())
    marts = []
    for uid, node in manifest["nodes"].items():
        if node["resource_type"] != "model" or not node["original_file_path"].startswith("models/marts/"):
            continue
        if not node["name"].startswith(GOVERNED_PREFIXES):
            continue
        upstream = upstream_datasets(manifest, uid)
        sharing, datasets, basis = _classify(node, upstream)
        columns, column_meta = {}, {}
        for cname, col in (node.get("columns") or {}).items():
            cmeta = _meta(col)
            csharing = cmeta.get("sharing")
            cdatasets = _meta_datasets(cmeta)
            if csharing == CONDITIONAL and not cdatasets:
                cdatasets = datasets or sorted(upstream)
                if not cdatasets:
                    raise ValueError(f"{node['name']}.{cname}: conditional, but no dataset to grant it by")
            text = col.get("description") or _contract_field_text(upstream, cname)
            columns[cname] = text
            column_meta[cname] = {
                "classification": cmeta.get("classification"),
                "sharing": csharing,
                "datasets": sorted(cdatasets) if csharing == CONDITIONAL else [],
            }
        marts.append(
            {
                "name": node["name"],
                "schema": node["schema"],
                "description": node.get("description") or "",
                "columns": columns,
                "sharing": sharing,
                "datasets": sorted(datasets),
                "basis": basis,
                "column_meta": column_meta,
            }
        )
    return sorted(marts, key=lambda m: m["name"])


@dataclass
class Placement:
    """One table in one published file: ``key`` None is the main (unconditional) file."""

    key: str | None
    table: str
    columns: list[str] = field(default_factory=list)


def placements(model: dict, actual_columns: list[str]) -> list[Placement]:
    """Where the columns of one mart go, by the grants each column needs.

    A column needs the mart's datasets plus, if it is a conditional column, its own.
    A file keyed by a set of grants holds every column needing a subset of them.
    """
    if model["sharing"] == NONE:
        return []
    base = set(model["datasets"]) if model["sharing"] == CONDITIONAL else set()
    needs: dict[str, frozenset[str]] = {}
    for col in actual_columns:
        meta = model["column_meta"].get(col, {})
        if meta.get("sharing") == NONE:
            continue
        extra = set(meta.get("datasets") or []) if meta.get("sharing") == CONDITIONAL else set()
        needs[col] = frozenset(base | extra)
    out = []
    for grant_set in sorted(set(needs.values()), key=lambda s: (len(s), sorted(s))):
        cols = [c for c in actual_columns if c in needs and needs[c] <= grant_set]
        out.append(Placement(conditional_key(grant_set) if grant_set else None, model["name"], cols))
    return out


def published_files(target: Path | None = None) -> dict[str, Path]:
    """The published DuckDB files: ``unconditional`` → main file, ``<key>`` → conditional file."""
    target = Path(target or settings.published_db_path())
    out = {UNCONDITIONAL: target} if target.exists() else {}
    for path in sorted((target.parent / CONDITIONAL_DIR).glob("*.duckdb")):
        out[path.name.removesuffix(".duckdb")] = path
    return out


def delta_prefix(key: str | None) -> str:
    """Prefix of a file's tables under the published root: ``unconditional`` or ``conditional/<key>``."""
    return UNCONDITIONAL if key is None else f"{CONDITIONAL_DIR}/{key}"
