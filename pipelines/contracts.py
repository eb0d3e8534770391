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
FORMATS = {"phone", "resident_id", "uscc"}
CADENCES = {"daily", "hourly", "5min", "minute", "reference"}
UPDATE_MODES = {"upsert", "append", "snapshot"}
CLASSIFICATIONS = {"public", "internal", "personal", "sensitive"}
SHARING = {"unconditional", "conditional", "none"}
# Custom rules: ODCS ``quality`` entries ``{type: custom, engine: shuzhong, implementation: {rule: ...}}``.
PAIR_RULES = {"not_before", "greater_than", "starts_with"}  # {rule, column}: compare with another column
RULE_KINDS = PAIR_RULES | {"aligned", "not_in_future"} | FORMATS


def normalize_header(name: str) -> str:
    """Header matching ignores surrounding spaces, case and full/half-width forms."""
    return "".join(unicodedata.normalize("NFKC", str(name)).split()).casefold()


def _custom(props: list[dict] | None) -> dict[str, Any]:
    return {p["property"]: p["value"] for p in props or []}


@dataclass(frozen=True)
class Rule:
    """A custom rule of one field, from ``quality: [{type: custom, engine: shuzhong, implementation: ...}]``.

    ``kind`` is one of :data:`RULE_KINDS`:

    - ``not_before`` / ``greater_than`` / ``starts_with`` with ``column``: this value is
      >= / > / begins with the value of ``column`` in the same row;
    - ``aligned`` with ``minutes``: a timestamp on a multiple of ``minutes`` after midnight
      (60 = on the hour), zero seconds;
    - ``not_in_future``: a date not later than today (Asia/Shanghai);
    - ``resident_id`` / ``uscc`` / ``phone``: identifier check, optionally only ``when``
      another column equals a value (``when: {column: applicant_type, equals: 自然人}``)
      or only for values of a length (``when: {length: 18}``).
    """

    kind: str
    column: str | None = None
    minutes: int | None = None
    when_column: str | None = None
    when_equals: str | None = None
    when_length: int | None = None

    @property
    def conditional(self) -> bool:
        return self.when_column is not None or self.when_length is not None


def _rule(field_name: str, impl: dict) -> Rule:
    kind = impl.get("rule")
    if kind not in RULE_KINDS:
        raise ValueError(f"unknown custom rule {kind!r} on {field_name}")
    when = impl.get("when") or {}
    if set(when) - {"column", "equals", "length"} or ("column" in when) != ("equals" in when):
        raise ValueError(f"{field_name}.{kind}: `when` takes {{column, equals}} or {{length}}")
    rule = Rule(
        kind=kind,
        column=impl.get("column"),
        minutes=int(impl["minutes"]) if "minutes" in impl else None,
        when_column=when.get("column"),
        when_equals=str(when["equals"]) if "equals" in when else None,
        when_length=int(when["length"]) if "length" in when else None,
    )
    if (kind in PAIR_RULES) != (rule.column is not None):
        raise ValueError(f"{field_name}.{kind}: `column` is required for {sorted(PAIR_RULES)} and only for them")
    if kind == "aligned" and not (rule.minutes and 0 < rule.minutes <= 1440 and 1440 % rule.minutes == 0):
        raise ValueError(f"{field_name}.aligned: `minutes` must divide a day (e.g. 5, 15, 60)")
    if rule.conditional and kind not in FORMATS:
        raise ValueError(f"{field_name}.{kind}: only identifier rules ({sorted(FORMATS)}) take `when`")
    return rule


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
    rules: tuple[Rule, ...] = ()
    pii_when: tuple[str, str] | None = None  # (column, value): the field is ``pii`` only in those rows

    @property
    def greater_than(self) -> str | None:
        return next((r.column for r in self.rules if r.kind == "greater_than"), None)

    @property
    def starts_with(self) -> str | None:
        return next((r.column for r in self.rules if r.kind == "starts_with"), None)

    @property
    def aligned_minutes(self) -> int | None:
        return next((r.minutes for r in self.rules if r.kind == "aligned"), None)

    @property
    def not_in_future(self) -> bool:
        return any(r.kind == "not_in_future" for r in self.rules)

    @property
    def identifier_kinds(self) -> tuple[str, ...]:
        """Identifier checks of the field (its ``format`` and any conditional identifier rules)."""
        kinds = [self.format] if self.format in FORMATS else []
        kinds += [r.kind for r in self.rules if r.kind in FORMATS]
        return tuple(dict.fromkeys(kinds))

    @property
    def referenced_columns(self) -> tuple[str, ...]:
        cols = [self.not_before] if self.not_before else []
        cols += [c for r in self.rules for c in (r.column, r.when_column) if c]
        if self.pii_when:
            cols.append(self.pii_when[0])
        return tuple(dict.fromkeys(cols))

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
    primary_key_order: tuple[str, ...] = ()  # by primaryKeyPosition, when given
    max_object_mb: int | None = None  # customProperties maxObjectMB: largest file read

    @property
    def key(self) -> str:
        """``<bureau>.<dataset>``, e.g. ``hotline.tickets``."""
        return f"{self.bureau}.{self.dataset}"

    @property
    def primary_key(self) -> list[str]:
        """Primary-key columns, ordered by ``primaryKeyPosition`` (else by column order)."""
        return list(self.primary_key_order) or [f.name for f in self.fields if f.primary_key]

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
    rules: list[Rule] = []
    for rule in prop.get("quality") or []:
        if rule.get("type") == "library" and rule.get("metric") == "invalidValues":
            valid_values = tuple(str(v) for v in rule["arguments"]["validValues"])
        elif rule.get("type") == "custom" and rule.get("engine") == "shuzhong":
            parsed = _rule(prop["name"], rule["implementation"])
            if parsed.kind == "not_before":
                not_before = parsed.column
            else:
                rules.append(parsed)
        else:
            raise ValueError(f"{prop['name']}: unsupported quality rule {rule!r}")
    if prop["logicalType"] not in LOGICAL_TYPES:
        raise ValueError(f"{prop['name']}: logicalType must be one of {sorted(LOGICAL_TYPES)}")
    if custom.get("format") is not None and custom["format"] not in FORMATS:
        raise ValueError(f"{prop['name']}: format must be one of {sorted(FORMATS)}")
    if prop.get("classification", "internal") not in CLASSIFICATIONS:
        raise ValueError(f"{prop['name']}: classification must be one of {sorted(CLASSIFICATIONS)}")
    if custom.get("sharing") is not None and custom["sharing"] not in SHARING:
        raise ValueError(f"{prop['name']}: sharing must be one of {sorted(SHARING)}")
    temporal = prop["logicalType"] in ("date", "timestamp")
    for r in rules:
        if r.kind in ("aligned", "not_in_future") and not temporal:
            raise ValueError(f"{prop['name']}.{r.kind}: only for date/timestamp fields")
    pii_when = custom.get("piiWhen")
    if pii_when is not None:
        pii_when = (pii_when["column"], str(pii_when["equals"]))
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
        rules=tuple(rules),
        pii_when=pii_when,
    )


def load_contract(path: Path) -> Contract:
    doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if doc.get("kind") != "DataContract" or not str(doc.get("apiVersion", "")).startswith("v3"):
        raise ValueError(f"{path}: not an ODCS v3 data contract")
    custom = _custom(doc.get("customProperties"))
    if custom.get("cadence", "daily") not in CADENCES:
        raise ValueError(f"{path}: cadence must be one of {sorted(CADENCES)}")
    if custom.get("updateMode", "upsert") not in UPDATE_MODES:
        raise ValueError(f"{path}: updateMode must be one of {sorted(UPDATE_MODES)}")
    if custom.get("sharing", "conditional") not in SHARING:
        raise ValueError(f"{path}: sharing must be one of {sorted(SHARING)}")
    (schema,) = doc["schema"]
    fields = tuple(_field(p) for p in schema["properties"])
    names = {f.name for f in fields}
    if len(names) != len(fields):
        raise ValueError(f"{path}: duplicated column names")
    headers = [h for f in fields for h in dict.fromkeys(f.headers)]
    if len(set(headers)) != len(headers):
        raise ValueError(f"{path}: two columns share a header spelling")
    for f in fields:
        for col in f.referenced_columns:
            if col not in names:
                raise ValueError(f"{path}: {f.name} refers to unknown column {col}")
        for r in f.rules:
            allowed = fields[[g.name for g in fields].index(r.when_column)].valid_values if r.when_column else None
            if allowed and r.when_equals not in allowed:
                raise ValueError(f"{path}: {f.name}.{r.kind} condition value {r.when_equals!r} is not in "
                                 f"{r.when_column}'s values")
    positions = [p.get("primaryKeyPosition") for p in schema["properties"] if p.get("primaryKey")]
    if len(positions) > 1 and sorted(positions) != list(range(1, len(positions) + 1)):
        raise ValueError(f"{path}: a composite primary key needs primaryKeyPosition 1..{len(positions)}")
    if positions and all(p is not None for p in positions):
        order = {p["name"]: p["primaryKeyPosition"] for p in schema["properties"] if p.get("primaryKey")}
    else:
        order = {}
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
        max_object_mb=int(custom["maxObjectMB"]) if custom.get("maxObjectMB") else None,
        update_mode=custom.get("updateMode", "upsert"),
        fields=fields,
        path=Path(path),
        primary_key_order=tuple(sorted(order, key=order.get)),
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
