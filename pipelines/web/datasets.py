"""What a clerk is told about a dataset: fields, rules and the template, all from its contract."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from pipelines import contracts, rules, settings, validation
from pipelines.contracts import Contract

CLASSIFICATION_ZH = {"public": "公开", "internal": "内部", "personal": "个人信息", "sensitive": "敏感个人信息"}
SHARING_ZH = {"unconditional": "无条件共享", "conditional": "有条件共享", "none": "不予共享"}
CADENCE_ZH = {
    "daily": "每日",
    "hourly": "每小时（机器数据）",
    "5min": "每 5 分钟（机器数据）",
    "minute": "每分钟（机器数据）",
    "reference": "变更时报送（基础数据）",
}
TYPE_ZH = {"string": "文本", "integer": "整数", "number": "数值", "date": "日期", "timestamp": "日期时间"}


@dataclass(frozen=True)
class FieldInfo:
    name: str
    business_name: str
    type_zh: str
    required: bool
    classification_zh: str
    description: str
    rules: tuple[str, ...]


def bureau_contracts(bureau: str) -> list[Contract]:
    return [c for c in contracts.all_contracts().values() if c.bureau == bureau]


def contract_of(dataset_key: str) -> Contract | None:
    """``<bureau>.<dataset>`` → its contract (None when there is none)."""
    return contracts.all_contracts().get(dataset_key)


def fields(contract: Contract) -> list[FieldInfo]:
    """Every field with the rules a row is checked against (the GX suite's texts, from the contract)."""
    by_field: dict[str, list[str]] = {}
    for exp in validation.suite_from_contract(contract)["expectations"]:
        column = exp["kwargs"].get("column") or exp["meta"]["rule_id"].split(".")[0]
        by_field.setdefault(column, []).append(exp["meta"]["description"])
    out = []
    for f in contract.fields:
        label = f"{f.business_name}({f.name})"
        texts = by_field.get(f.name, [])
        if f.logical_type in rules.TYPE_NAMES:
            texts = [rules.FIELD_TYPE.text("zh", label=label, logical_type=f.logical_type), *texts]
        out.append(
            FieldInfo(
                f.name,
                f.business_name,
                TYPE_ZH.get(f.logical_type, f.logical_type),
                f.required,
                CLASSIFICATION_ZH.get(f.classification, f.classification),
                f.description or "",
                tuple(texts),
            )
        )
    return out


def max_bytes(contract: Contract) -> int:
    """The size cap of one file, as the ingestion applies it (``settings.max_object_bytes``)."""
    return settings.max_object_bytes(contract.max_object_mb)


def header(contract: Contract) -> list[str]:
    """The template's header row: the Chinese business names, which the parser maps to columns."""
    return [f.business_name for f in contract.fields]


def template_csv(contract: Contract, encoding: str = "utf-8-sig") -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow(header(contract))
    return buf.getvalue().encode(encoding)


def template_xlsx(contract: Contract) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = contract.dataset[:31]
    ws.append(header(contract))
    for i, name in enumerate(header(contract), start=1):
        ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = max(10, 2 * len(name) + 2)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def rule_text(rule_id: str, contract: Contract | None) -> str:
    """A receipt's rule id in Chinese, with the contract's labels."""
    labels = {f.name: (f"{f.business_name}({f.name})", f.logical_type) for f in contract.fields} if contract else None
    return rules.describe(rule_id, labels)
