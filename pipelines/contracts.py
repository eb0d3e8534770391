"""Data contracts (Open Data Contract Standard v3.1) loaded into typed objects.

One YAML file per dataset in ``data_contracts/<bureau>/<dataset>.yaml`` is the single
source of truth: the parser's header/type mapping, the GX suites in ``expectations/``
and the dbt sources are all derived from it.
"""

from __future__ import annotations

import json
import re
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

# The official ODCS v3.1.0 JSON schema, vendored (data_contracts/schema/README.md): every contract
# is validated against it when loaded, so a misspelled key (``qualty``, ``logicalTypeOption``)
# is an error naming the file and the key, never a rule silently dropped.
ODCS_SCHEMA_PATH = settings.bundled("data_contracts/schema/odcs-json-schema-v3.1.0.json")
# What ODCS leaves open (customProperties values, a custom rule's implementation, a library
# rule's arguments), checked against the keys this project reads.
CONTRACT_PROPERTIES = {"bureau", "sharing", "cadence", "deadline", "updateMode", "maxObjectMB"}
FIELD_PROPERTIES = {"format", "pii", "aliases", "sharing", "piiWhen"}
DEADLINE_KEYS = {"day_offset", "time", "timezone"}
PII_WHEN_KEYS = {"column", "equals"}
IMPLEMENTATION_KEYS = {"rule", "column", "minutes", "when"}
LIBRARY_ARGUMENTS = {"invalidValues": {"validValues"}}
# logicalTypeOptions the project enforces; others ODCS allows (format, multipleOf, ...) would be ignored.
TYPE_OPTIONS = {"pattern", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}


class ContractError(ValueError):
    """A contract file that does not follow ODCS v3.1.0 or the keys this project reads."""


@cache
def _odcs_validator():
    import jsonschema

    schema = json.loads(ODCS_SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema.validators.validator_for(schema)(schema)


def _key_path(parts) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


_UNEXPECTED = re.compile(r"\((.*) (?:was|were) unexpected\)")


def _column_of(doc: dict, parts: list) -> str:
    """`` (column ticket_id)`` when ``parts`` points into a schema property."""
    if len(parts) >= 4 and parts[0] == "schema" and parts[2] == "properties":
        try:
            return f" (column {doc['schema'][parts[1]]['properties'][parts[3]]['name']})"
        except (KeyError, IndexError, TypeError):
            return ""
    return ""


def odcs_problems(doc: object) -> list[str]:
    """Where ``doc`` breaks the ODCS v3.1.0 JSON schema: ``<key path>: <problem>``, once each."""
    from jsonschema.exceptions import best_match

    problems: list[str] = []
    for error in _odcs_validator().iter_errors(doc):
        while error.context:  # anyOf / oneOf: the branch that came closest
            error = best_match(error.context)
        parts = list(error.absolute_path)
        where = _column_of(doc, parts) if isinstance(doc, dict) else ""
        unexpected = _UNEXPECTED.search(error.message)
        if error.validator in ("additionalProperties", "unevaluatedProperties") and unexpected:
            for key in re.findall(r"'([^']*)'", unexpected.group(1)):
                problems.append(f"{_key_path([*parts, key])}{where}: unknown key {key!r}")
        else:
            problems.append(f"{_key_path(parts) or '(top level)'}{where}: {error.message}")
    return list(dict.fromkeys(problems))


def _unknown(keys, allowed: set[str], path: list, what: str, doc: dict) -> list[str]:
    return [
        f"{_key_path([*path, k])}{_column_of(doc, path)}: unknown key {k!r} ({what}: {', '.join(sorted(allowed))})"
        for k in keys
        if k not in allowed
    ]


def _unknown_property(name: object, allowed: set[str], path: list, what: str, doc: dict) -> list[str]:
    if name in allowed:
        return []
    return [
        f"{_key_path(path)}{_column_of(doc, path)}: unknown custom property {name!r} "
        f"({what}: {', '.join(sorted(allowed))})"
    ]


def project_problems(doc: dict) -> list[str]:
    """Keys ODCS leaves open but this project reads: custom property names and shapes, custom
    rule implementations, library rule arguments, and the logicalTypeOptions it enforces."""
    out: list[str] = []
    for i, prop in enumerate(doc.get("customProperties") or []):
        out += _unknown_property(
            prop.get("property"),
            CONTRACT_PROPERTIES,
            ["customProperties", i, "property"],
            "contract custom properties",
            doc,
        )
        if prop.get("property") == "deadline" and isinstance(prop.get("value"), dict):
            out += _unknown(prop["value"], DEADLINE_KEYS, ["customProperties", i, "value"], "deadline keys", doc)
    for s, obj in enumerate(doc.get("schema") or []):
        for n, field_ in enumerate(obj.get("properties") or []):
            path = ["schema", s, "properties", n]
            out += _unknown(
                field_.get("logicalTypeOptions") or {},
                TYPE_OPTIONS,
                [*path, "logicalTypeOptions"],
                "logicalTypeOptions this project enforces",
                doc,
            )
            for i, prop in enumerate(field_.get("customProperties") or []):
                out += _unknown_property(
                    prop.get("property"),
                    FIELD_PROPERTIES,
                    [*path, "customProperties", i, "property"],
                    "column custom properties",
                    doc,
                )
                if prop.get("property") == "piiWhen" and isinstance(prop.get("value"), dict):
                    out += _unknown(
                        prop["value"], PII_WHEN_KEYS, [*path, "customProperties", i, "value"], "piiWhen keys", doc
                    )
            for q, rule in enumerate(field_.get("quality") or []):
                qpath = [*path, "quality", q]
                if rule.get("type") == "custom" and isinstance(rule.get("implementation"), dict):
                    out += _unknown(
                        rule["implementation"], IMPLEMENTATION_KEYS, [*qpath, "implementation"], "custom rule keys", doc
                    )
                if rule.get("type") == "library" and rule.get("metric") in LIBRARY_ARGUMENTS:
                    out += _unknown(
                        rule.get("arguments") or {},
                        LIBRARY_ARGUMENTS[rule["metric"]],
                        [*qpath, "arguments"],
                        f"{rule['metric']} arguments",
                        doc,
                    )
                    if rule.get("mustBe", 0) != 0:
                        out.append(
                            f"{_key_path([*qpath, 'mustBe'])}{_column_of(doc, path)}: must be 0 "
                            "(every invalid value quarantines its row)"
                        )
    return out


def check_contract(path: Path, doc: object) -> None:
    """Raise :class:`ContractError` naming ``path`` and each offending key path when ``doc`` does
    not follow the vendored ODCS v3.1.0 schema or the keys this project reads."""
    problems = odcs_problems(doc)
    what = f"not a valid ODCS v3.1.0 data contract ({settings.shown(ODCS_SCHEMA_PATH)})"
    if not problems and isinstance(doc, dict):
        problems = project_problems(doc)
        what = "keys this project does not read (pipelines/contracts.py)"
    if problems:
        shown = "\n  ".join(problems[:20]) + (f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else "")
        raise ContractError(f"{path}: {what}:\n  {shown}")


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
    min_length: int | None = None
    max_length: int | None = None
    valid_values: tuple[str, ...] | None = None
    not_before: str | None = None
    format: str | None = None
    pii: str | None = None
    aliases: tuple[str, ...] = ()
    description: str | None = None
    rules: tuple[Rule, ...] = ()
    pii_when: tuple[str, str] | None = None  # (column, value): the field is ``pii`` only in those rows

    @property
    def lower_bound(self) -> tuple[float, bool] | None:
        """(value, strict) of the tighter of ``minimum`` / ``exclusiveMinimum``; None if neither."""
        bounds = [(v, strict) for v, strict in ((self.minimum, False), (self.exclusive_minimum, True)) if v is not None]
        return max(bounds, default=None)

    @property
    def upper_bound(self) -> tuple[float, bool] | None:
        """(value, strict) of the tighter of ``maximum`` / ``exclusiveMaximum``; None if neither."""
        bounds = [(v, strict) for v, strict in ((self.maximum, False), (self.exclusive_maximum, True)) if v is not None]
        return min(bounds, key=lambda b: (b[0], not b[1]), default=None)

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
        min_length=opts.get("minLength"),
        max_length=opts.get("maxLength"),
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
    check_contract(Path(path), doc)
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
                raise ValueError(
                    f"{path}: {f.name}.{r.kind} condition value {r.when_equals!r} is not in {r.when_column}'s values"
                )
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
