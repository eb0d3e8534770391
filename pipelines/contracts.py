"""Data contracts (Open Data Contract Standard v3.1) loaded into typed objects.

One YAML file per dataset in ``data_contracts/<bureau>/<dataset>.yaml`` is the single
source of truth: the parser's header/type mapping, the GX suites in ``expectations/``
and the dbt sources are all derived from it.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from pipelines import settings

LOGICAL_TYPES = {"string", "integer", "number", "date", "timestamp"}


def normalize_header(name: str) -> str:
    """Header matching ignores surrounding spaces, case and full/half-width forms."""
    return "".join(unicodedata.normalize("NFKC", str(name)).split()).casefold()


def _custom(props: list[dict] | None) -> dict[str, Any]:
    return {p["property"]: p["value"] for p in props or []}


@dataclass(frozen=True)
class Field:
    name: str
    business_name: str
    logical_type: str
    required: bool = False
    primary_key: bool = False
    classification: str = "internal"
    sharing: str | None = None
    pattern: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None
    valid_values: tuple[str, ...] | None = None
    not_before: str | None = None
    format: str | None = None
    pii: str | None = None
    aliases: tuple[str, ...] = ()
    description: str | None = None

    @property
    def headers(self) -> tuple[str, ...]:
        """All accepted spellings of this column's header (normalised)."""
        return tuple(normalize_header(h) for h in (self.business_name, self.name, *self.aliases))

    @property
    def is_free_text(self) -> bool:
        return self.pii in {"free_text", "person_name"}


@dataclass(frozen=True)
class Contract:
    id: str
    version: str
    bureau: str
    dataset: str
    table: str
    business_name: str
    description: str
    sharing: str
    cadence: str
    deadline: dict | None
    update_mode: str
    fields: tuple[Field, ...]
    path: Path = field(compare=False)

    @property
    def key(self) -> str:
        """``<bureau>.<dataset>``, e.g. ``hotline.tickets``."""
        return f"{self.bureau}.{self.dataset}"

    @property
    def primary_key(self) -> list[str]:
        return [f.name for f in self.fields if f.primary_key]

    @property
    def required_columns(self) -> list[str]:
        return [f.name for f in self.fields if f.required]

    @property
    def major_version(self) -> str:
        return self.version.split(".")[0]

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def header_map(self) -> dict[str, str]:
        """Normalised header spelling → canonical column name."""
        return {h: f.name for f in self.fields for h in f.headers}


def _field(prop: dict) -> Field:
    opts = prop.get("logicalTypeOptions") or {}
    custom = _custom(prop.get("customProperties"))
    valid_values = None
    not_before = None
    for rule in prop.get("quality") or []:
        if rule.get("type") == "library" and rule.get("metric") == "invalidValues":
            valid_values = tuple(str(v) for v in rule["arguments"]["validValues"])
        elif rule.get("type") == "custom" and rule.get("engine") == "shuzhong":
            impl = rule["implementation"]
            if impl["rule"] == "not_before":
                not_before = impl["column"]
            else:
                raise ValueError(f"unknown custom rule {impl['rule']!r} on {prop['name']}")
    if prop["logicalType"] not in LOGICAL_TYPES:
        raise ValueError(f"{prop['name']}: logicalType must be one of {sorted(LOGICAL_TYPES)}")
    return Field(
        name=prop["name"],
        business_name=prop.get("businessName", prop["name"]),
        logical_type=prop["logicalType"],
        required=bool(prop.get("required", False)),
        primary_key=bool(prop.get("primaryKey", False)),
        classification=prop.get("classification", "internal"),
        sharing=custom.get("sharing"),
        pattern=opts.get("pattern"),
        minimum=opts.get("minimum"),
        maximum=opts.get("maximum"),
        exclusive_minimum=opts.get("exclusiveMinimum"),
        exclusive_maximum=opts.get("exclusiveMaximum"),
        valid_values=valid_values,
        not_before=not_before,
        format=custom.get("format"),
        pii=custom.get("pii"),
        aliases=tuple(custom.get("aliases", ())),
        description=prop.get("description"),
    )


def load_contract(path: Path) -> Contract:
    doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if doc.get("kind") != "DataContract" or not str(doc.get("apiVersion", "")).startswith("v3"):
        raise ValueError(f"{path}: not an ODCS v3 data contract")
    custom = _custom(doc.get("customProperties"))
    (schema,) = doc["schema"]
    fields = tuple(_field(p) for p in schema["properties"])
    names = {f.name for f in fields}
    for f in fields:
        if f.not_before and f.not_before not in names:
            raise ValueError(f"{path}: {f.name} refers to unknown column {f.not_before}")
    return Contract(
        id=doc["id"],
        version=str(doc["version"]),
        bureau=custom.get("bureau", doc["domain"]),
        dataset=doc["dataProduct"],
        table=schema.get("physicalName", f"{doc['domain']}__{doc['dataProduct']}"),
        business_name=schema.get("businessName", doc["name"]),
        description=(doc.get("description") or {}).get("purpose", ""),
        sharing=custom.get("sharing", "conditional"),
        cadence=custom.get("cadence", "daily"),
        deadline=custom.get("deadline"),
        update_mode=custom.get("updateMode", "upsert"),
        fields=fields,
        path=Path(path),
    )


def contract_paths(root: Path | None = None) -> list[Path]:
    root = root or settings.CONTRACTS_DIR
    return sorted(p for p in root.glob("*/*.yaml"))


@cache
def all_contracts(root: Path | None = None) -> dict[str, Contract]:
    """Every contract under ``data_contracts/``, keyed by ``<bureau>.<dataset>``."""
    contracts = [load_contract(p) for p in contract_paths(root)]
    return {c.key: c for c in contracts}


def get_contract(bureau: str, dataset: str) -> Contract | None:
    return all_contracts().get(f"{bureau}.{dataset}")
