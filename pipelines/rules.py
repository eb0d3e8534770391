"""The one catalogue of validation rules: every rule id a receipt, a quarantine row, a GX suite,
a dbt test or the README names, with its Chinese and English text and its severity.

Dagster-free (imported by the parser, the validation and the ingest modules). Two scopes:

- **fixed ids** (``row.json``, ``key.unsafe_characters``, ``file.readable``): one rule each;
- **per-field rules** derived from a contract, catalogued by kind with an id template:
  ``{field}.required`` becomes ``ticket_id.required``, ``{field}.greater_than_{column}``
  becomes ``closed_at.greater_than_received_at``. Their texts are templates too.

Severity: ``quarantine`` — the row is quarantined and the rest of the file lands;
``reject`` — the whole file is rejected, with a receipt naming the rule.

``tests/test_rule_catalogue.py`` fails on a rule id used anywhere (code, receipts, GX suites,
dbt, README) that is not catalogued here, and on a catalogue entry that nothing uses. The
README's rule table is generated from :data:`CATALOGUE` (``shuzhong generate``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

QUARANTINE = "quarantine"  # the row goes to the quarantine table; the file's other rows land
REJECT = "reject"  # the whole file is rejected; its receipt names the rule

# Who checks a rule: the landing-key grammar, the intake (before reading), the parser, or GX.
CHECKERS = ("key", "intake", "parser", "gx")

_PLACEHOLDER = re.compile(r"\{(field|column)\}")
_NAME = r"[a-z][a-z0-9_]*"

TYPE_NAMES = {
    "integer": ("整数", "an integer"),
    "number": ("数值", "a number"),
    "date": ("日期", "a date"),
    "timestamp": ("时间", "a timestamp"),
}


@dataclass(frozen=True)
class RuleDef:
    """One rule, or one kind of per-field rule (``id`` a template with ``{field}`` / ``{column}``).

    ``zh`` / ``en`` are the rule's statement (what must hold); for per-field rules they are
    ``str.format`` templates over ``label`` (``业务名(column)``), ``other`` (the label of the
    column compared with), ``pattern``, ``values``, ``bounds``, ``every``, ``condition``,
    ``type_name``. ``gx_type`` is the GX expectation type of a rule GX checks."""

    id: str
    severity: str
    checked_by: str
    zh: str
    en: str
    gx_type: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in (QUARANTINE, REJECT):
            raise ValueError(f"{self.id}: severity must be {QUARANTINE} or {REJECT}")
        if self.checked_by not in CHECKERS:
            raise ValueError(f"{self.id}: checked_by must be one of {CHECKERS}")
        if (self.checked_by == "gx") != (self.gx_type is not None):
            raise ValueError(f"{self.id}: a GX rule names its expectation type, and only a GX rule")

    @property
    def per_field(self) -> bool:
        return self.id.startswith("{field}.")

    @property
    def kind(self) -> str:
        """``required``, ``greater_than``, ``row.json``: the id without placeholders."""
        if not self.per_field:
            return self.id
        return self.id.removeprefix("{field}.").removesuffix("_{column}")

    @cached_property
    def _regex(self) -> re.Pattern:
        parts = _PLACEHOLDER.split(self.id)
        body = "".join(f"(?P<{p}>{_NAME})" if i % 2 else re.escape(p) for i, p in enumerate(parts))
        return re.compile(f"^{body}$")

    def rule_id(self, field: str | None = None, column: str | None = None) -> str:
        """The concrete id: ``FIELD_REQUIRED.rule_id("ticket_id")`` → ``ticket_id.required``."""
        if self.per_field and not field:
            raise ValueError(f"{self.id}: a per-field rule needs its field")
        if "{column}" in self.id and not column:
            raise ValueError(f"{self.id}: needs the column it compares with")
        return self.id.format(field=field, column=column)

    def match(self, rule_id: str) -> dict[str, str] | None:
        """The placeholders of ``rule_id`` when it is an id of this rule, else None."""
        m = self._regex.match(rule_id)
        return m.groupdict() if m else None

    def text(self, lang: str = "zh", **params: object) -> str:
        """The rule's statement in ``lang`` (``zh`` or ``en``), placeholders filled in."""
        template = {"zh": self.zh, "en": self.en}[lang]
        if "minutes" in params:
            params.setdefault("every", every_text(int(params.pop("minutes")), lang))
        if "logical_type" in params:
            params.setdefault("type_name", TYPE_NAMES[str(params.pop("logical_type"))][lang == "en"])
        params.setdefault("condition", "")
        return template.format(**params)


# --- row level: a record that cannot be split into fields (parser) -------------------------

ROW_FIELD_COUNT = RuleDef(
    "row.field_count", QUARANTINE, "parser", "每行列数与表头一致", "a row has as many fields as the header"
)
ROW_JSON = RuleDef(
    "row.json",
    QUARANTINE,
    "parser",
    "每行为合法的 JSON 对象（列名不重复）",
    "a line is a JSON object (no column named twice)",
)

# --- per field, derived from the contract --------------------------------------------------

FIELD_TYPE = RuleDef(
    "{field}.type", QUARANTINE, "parser", "{label} 应可解析为{type_name}", "{label} reads as {type_name}"
)
FIELD_REQUIRED = RuleDef(
    "{field}.required", QUARANTINE, "gx", "{label} 必填", "{label} is required", "expect_column_values_to_not_be_null"
)
FIELD_PATTERN = RuleDef(
    "{field}.pattern",
    QUARANTINE,
    "gx",
    "{label} 格式应为 {pattern}",
    "{label} matches {pattern}",
    "expect_column_values_to_match_regex",
)
FIELD_LENGTH = RuleDef(
    "{field}.length",
    QUARANTINE,
    "gx",
    "{label} 长度应为 {bounds} 个字符",
    "{label} is {bounds} characters long",
    "expect_column_value_lengths_to_be_between",
)
FIELD_ENUM = RuleDef(
    "{field}.enum",
    QUARANTINE,
    "gx",
    "{label} 取值应为 {values}",
    "{label} is one of {values}",
    "expect_column_values_to_be_in_set",
)
FIELD_RANGE = RuleDef(
    "{field}.range",
    QUARANTINE,
    "gx",
    "{label} 应在取值范围内（{bounds}）",
    "{label} is {bounds}",
    "expect_column_values_to_be_between",
)
FIELD_NOT_BEFORE = RuleDef(
    "{field}.not_before_{column}",
    QUARANTINE,
    "gx",
    "{label} 不得早于 {other}",
    "{label} is not before {other}",
    "expect_column_pair_values_a_to_be_greater_than_b",
)
FIELD_GREATER_THAN = RuleDef(
    "{field}.greater_than_{column}",
    QUARANTINE,
    "gx",
    "{label} 应大于 {other}",
    "{label} is greater than {other}",
    "expect_column_pair_values_a_to_be_greater_than_b",
)
FIELD_STARTS_WITH = RuleDef(
    "{field}.starts_with_{column}",
    QUARANTINE,
    "gx",
    "{label} 应以 {other} 开头",
    "{label} starts with {other}",
    "expect_column_pair_values_a_to_start_with_b",
)
FIELD_ALIGNED = RuleDef(
    "{field}.aligned",
    QUARANTINE,
    "gx",
    "{label} 应为{every}",
    "{label} is on {every}",
    "expect_column_values_to_be_aligned_to_minutes",
)
FIELD_NOT_IN_FUTURE = RuleDef(
    "{field}.not_in_future",
    QUARANTINE,
    "gx",
    "{label} 不得晚于当天（北京时间）",
    "{label} is not later than today (Beijing time)",
    "expect_column_values_to_not_be_in_the_future",
)
FIELD_RESIDENT_ID = RuleDef(
    "{field}.resident_id",
    QUARANTINE,
    "gx",
    "{label} {condition}应为有效的身份证号（校验码、出生日期）",
    "{label} {condition}is a valid resident ID number (check character, birth date)",
    "expect_column_values_to_be_valid_resident_id",
)
FIELD_USCC = RuleDef(
    "{field}.uscc",
    QUARANTINE,
    "gx",
    "{label} {condition}应为有效的统一社会信用代码（校验码）",
    "{label} {condition}is a valid unified social credit code (check character)",
    "expect_column_values_to_be_valid_uscc",
)
FIELD_PHONE = RuleDef(
    "{field}.phone",
    QUARANTINE,
    "gx",
    "{label} {condition}应为手机号或固定电话",
    "{label} {condition}is a mobile or landline number",
    "expect_column_values_to_be_valid_phone",
)

# --- file level: the whole file is rejected ------------------------------------------------

KEY_LAYOUT = RuleDef(
    "key.layout",
    REJECT,
    "key",
    "对象路径应为 <委办局>/<数据集>/<业务日期 YYYY-MM-DD>/<文件名>",
    "the object key is <bureau>/<dataset>/<business date YYYY-MM-DD>/<file name>",
)
KEY_UNSAFE_CHARACTERS = RuleDef(
    "key.unsafe_characters",
    REJECT,
    "key",
    "对象路径不含控制字符或不安全字符",
    "the object key holds no control or unsafe characters",
)
KEY_PATH_TRAVERSAL = RuleDef(
    "key.path_traversal",
    REJECT,
    "key",
    "对象路径不含 . 或 .. 等路径片段",
    "the object key holds no `.` or `..` path segments",
)
KEY_BUSINESS_DATE = RuleDef(
    "key.business_date",
    REJECT,
    "key",
    "业务日期为存在的日期（YYYY-MM-DD）",
    "the business date is a real date (YYYY-MM-DD)",
)
KEY_DATASET = RuleDef(
    "key.dataset",
    REJECT,
    "key",
    "对象路径中的委办局、数据集有数据规范",
    "the key's bureau and dataset have a data contract",
)
FILE_TOO_LARGE = RuleDef("file.too_large", REJECT, "intake", "文件不超过大小上限", "the file is within the size limit")
FILE_GONE = RuleDef(
    "file.gone",
    REJECT,
    "intake",
    "处理时对象仍在落地区（未被删除）",
    "the object is still in the landing bucket when processed",
)
FILE_READABLE = RuleDef(
    "file.readable",
    REJECT,
    "parser",
    "文件可读取（编码、格式、表头、必填列）",
    "the file can be read (encoding, format, header, required columns)",
)


CATALOGUE: dict[str, RuleDef] = {r.id: r for r in globals().copy().values() if isinstance(r, RuleDef)}


def resolve(rule_id: str) -> tuple[RuleDef, dict[str, str]]:
    """The catalogue entry of a concrete rule id and its placeholders; KeyError if there is none."""
    if rule_id in CATALOGUE:
        return CATALOGUE[rule_id], {}
    for rule in CATALOGUE.values():
        if rule.per_field:
            params = rule.match(rule_id)
            if params is not None:
                return rule, params
    raise KeyError(f"rule id {rule_id!r} is not in the rule catalogue (pipelines/rules.py)")


def known(rule_id: str) -> bool:
    try:
        resolve(rule_id)
    except KeyError:
        return False
    return True


def field_of(rule_id: str) -> str | None:
    """The field a per-field rule id is about (``ticket_id.required`` → ``ticket_id``)."""
    try:
        rule, params = resolve(rule_id)
    except KeyError:
        return None
    return params.get("field") if rule.per_field else None


def every_text(minutes: int, lang: str = "zh") -> str:
    """The alignment of ``{field}.aligned``: on the hour, or a multiple of ``minutes``."""
    if lang == "zh":
        return "整点" if minutes == 60 else f" {minutes} 分钟的整数倍（秒为 0）"
    return "the hour" if minutes == 60 else f"a multiple of {minutes} minutes past midnight (zero seconds)"


def condition_text(
    lang: str = "zh", *, length: int | None = None, other: str | None = None, equals: str | None = None
) -> str:
    """The condition of a conditional identifier rule (``18 位时``, ``申请人类型为“自然人”时``)."""
    if length is not None:
        return f"{length} 位时" if lang == "zh" else f"when {length} characters long, "
    if other is not None:
        return f"{other}为“{equals}”时" if lang == "zh" else f"when {other} is “{equals}”, "
    return ""


def bounds_text(
    low: float | None, high: float | None, strict_low: bool = False, strict_high: bool = False, lang: str = "zh"
) -> str:
    """``0 – 14`` / ``≥ 0`` / ``> 0`` (``between 0 and 14``, ``at least 0``, ``greater than 0``):
    the bounds of a range or length rule."""

    def num(v: float) -> str:
        return str(int(v)) if float(v).is_integer() else str(v)

    if low is not None and high is not None and not strict_low and not strict_high:
        return f"{num(low)} – {num(high)}" if lang == "zh" else f"between {num(low)} and {num(high)}"
    words = {
        "zh": (("≥", ">"), ("≤", "<"), "，"),
        "en": (("at least", "greater than"), ("at most", "less than"), " and "),
    }
    lower, upper, sep = words[lang]
    parts = []
    if low is not None:
        parts.append(f"{lower[strict_low]} {num(low)}")
    if high is not None:
        parts.append(f"{upper[strict_high]} {num(high)}")
    return sep.join(parts)


def describe(rule_id: str, labels: dict[str, tuple[str, str | None]] | None = None, lang: str = "zh") -> str:
    """A short statement of a concrete rule id for a receipt, from the catalogue. ``labels``:
    column → (label, logical type) of the contract. Rules whose text needs contract details GX
    holds (patterns, value sets) are described by the suite; this falls back to the rule kind."""
    try:
        rule, params = resolve(rule_id)
    except KeyError:
        return rule_id
    if not rule.per_field:
        return rule.text(lang)
    label, logical_type = (labels or {}).get(params["field"], (params["field"], None))
    other = (labels or {}).get(params.get("column") or "", (params.get("column"), None))[0]
    try:
        extra = {"logical_type": logical_type} if rule is FIELD_TYPE and logical_type in TYPE_NAMES else {}
        return rule.text(lang, label=label, other=other, **extra)
    except (KeyError, IndexError):
        return f"{label}: {rule.kind}"


# --- the README's table ---------------------------------------------------------------------

RULES_START, RULES_END = "<!-- rules:start -->", "<!-- rules:end -->"
_SCOPES = (
    ("Row rules (the row is quarantined)", lambda r: not r.per_field and r.severity == QUARANTINE),
    ("Field rules, derived from each contract (the row is quarantined)", lambda r: r.per_field),
    ("File rules (the whole file is rejected)", lambda r: r.severity == REJECT),
)


def rules_markdown() -> str:
    """The README section listing every rule (generated from :data:`CATALOGUE`)."""
    lines = [
        "Every rule a receipt, a quarantine row (`rule_ids`), a GX suite (`meta.rule_id`) or a dbt "
        "test names (generated from `pipelines/rules.py: CATALOGUE`; `shuzhong generate --check` "
        "keeps this section equal to it). `{field}` is the column the rule is about, `{column}` "
        "the one it is compared with; `{label}` is `业务名(column)`.",
        "",
    ]
    for title, selected in _SCOPES:
        lines += [f"**{title}**", "", "| rule id | checked by | 规则 | rule |", "|---|---|---|---|"]
        for r in (r for r in CATALOGUE.values() if selected(r)):
            checker = f"GX `{r.gx_type}`" if r.gx_type else r.checked_by
            lines.append(f"| `{r.id}` | {checker} | {r.zh} | {r.en} |".replace("<", "&lt;").replace(">", "&gt;"))
        lines.append("")
    return "\n".join(lines)


def with_rules_section(readme: str) -> str:
    """``readme`` with the text between the rules markers replaced by :func:`rules_markdown`."""
    head, start, rest = readme.partition(RULES_START)
    _, end, tail = rest.partition(RULES_END)
    if not start or not end:
        raise ValueError(f"README lacks the {RULES_START} / {RULES_END} markers")
    return f"{head}{RULES_START}\n{rules_markdown()}\n{RULES_END}{tail}"
