"""The rule catalogue (pipelines/rules.py) is the one place rule ids are defined: every id used
in code, receipts, GX suites, dbt tests and the README is catalogued, and every catalogue entry
is used somewhere."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipelines import codegen, parsing, rules, settings, validation
from pipelines.contracts import all_contracts, load_contract
from pipelines.ingest.keys import InvalidKey, parse_key

ROOT = settings.REPO_ROOT
# A quoted fixed id: "row.json", 'key.layout', `file.readable`.
FIXED_ID = re.compile(r"""["'`]((?:row|key|file)\.[a-z][a-z0-9_]*)["'`]""")
# A quoted per-field id: "ticket_id.required" (kept only when the first part is a contract column).
FIELD_ID = re.compile(r"""["'`]([a-z][a-z0-9_]*\.[a-z][a-z0-9_]*)["'`]""")
# A documented per-field id: `<column>.type`, `<field>.required`.
PLACEHOLDER_ID = re.compile(r"`<(?:column|field)>\.([a-z][a-z0-9_]*)`")
# A per-field id built in code from a column name: f"{col}.required", f"{f.name}.type".
FSTRING_ID = re.compile(r"""f["']\{(?:col|column|name|field|field_name|f\.name|field\.name)\}\.([a-z][a-z0-9_]*)["']""")
# A reference to a catalogue entry by name: rules.ROW_JSON, rules.FIELD_REQUIRED.
REFERENCE = re.compile(r"\brules\.([A-Z][A-Z0-9_]+)\b")


def _files() -> dict[str, list[Path]]:
    skip = {"target", "logs", "dbt_packages", ".venv", "__pycache__"}
    dbt = [
        p
        for p in (ROOT / "dbt_project").rglob("*")
        if p.suffix in {".sql", ".yml", ".yaml"} and not skip & set(p.relative_to(ROOT).parts)
    ]
    return {
        "code": [p for p in (ROOT / "pipelines").rglob("*.py") if p.name != "rules.py"],
        "dbt": dbt,
        "docs": [ROOT / "README.md", *sorted((ROOT / "data_contracts").rglob("*.md"))],
        "notebooks": sorted((ROOT / "notebooks").rglob("*.ipynb")) if (ROOT / "notebooks").exists() else [],
        "tests": [p for p in (ROOT / "tests").rglob("*.py") if p.name != Path(__file__).name],
    }


def _text(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    if path.name == "README.md":  # the generated table lists the catalogue itself: not a use
        head, _, rest = text.partition(rules.RULES_START)
        text = head + rest.partition(rules.RULES_END)[2]
    return text


def _columns() -> set[str]:
    return {f.name for c in all_contracts().values() for f in c.fields}


def ids_in_text(text: str, columns: set[str]) -> tuple[set[str], set[str]]:
    """(concrete rule ids, per-field kinds) that ``text`` names."""
    ids = set(FIXED_ID.findall(text))
    ids |= {i for i in FIELD_ID.findall(text) if i.partition(".")[0] in columns}
    kinds = set(PLACEHOLDER_ID.findall(text)) | set(FSTRING_ID.findall(text))
    return ids, kinds


def _suite_rules() -> list[tuple[str, dict]]:
    out = []
    for path in sorted(settings.EXPECTATIONS_DIR.rglob("*.json")):
        for e in json.loads(path.read_text(encoding="utf-8"))["expectations"]:
            out.append((str(path.relative_to(ROOT)), e))
    return out


def _dbt_rule_ids() -> list[tuple[str, str]]:
    out = []
    for path in sorted((settings.DBT_PROJECT_DIR / "models").rglob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for source in doc.get("sources") or []:
            for table in source.get("tables") or []:
                for col in table.get("columns") or []:
                    for test in col.get("data_tests") or []:
                        if isinstance(test, dict):
                            (body,) = test.values()
                            rule_id = ((body or {}).get("config") or {}).get("meta", {}).get("rule_id")
                            if rule_id:
                                out.append((str(path.relative_to(ROOT)), rule_id))
    return out


PER_FIELD_KINDS = {r.kind for r in rules.CATALOGUE.values() if r.per_field}


def _uncatalogued(ids: set[str], kinds: set[str]) -> list[str]:
    return sorted({i for i in ids if not rules.known(i)} | {f"<field>.{k}" for k in kinds - PER_FIELD_KINDS})


# --- (1) every id used is catalogued ---------------------------------------------------------


@pytest.mark.parametrize("area", ["code", "dbt", "docs", "notebooks", "tests"])
def test_every_rule_id_in_the_source_tree_is_catalogued(area):
    columns, problems = _columns(), []
    for path in _files()[area]:
        ids, kinds = ids_in_text(_text(path), columns)
        problems += [f"{path.relative_to(ROOT)}: {i}" for i in _uncatalogued(ids, kinds)]
    assert problems == [], "rule ids not in pipelines/rules.py: " + ", ".join(problems)


def test_every_rule_of_the_generated_suites_is_catalogued():
    suites = _suite_rules()
    assert len(suites) > 100
    for path, e in suites:
        rule, params = rules.resolve(e["meta"]["rule_id"])
        assert rule.per_field and e["meta"]["rule"] == rule.id, (path, e["meta"])
        assert e["type"] == rule.gx_type and e["meta"]["severity"] == rule.severity == rules.QUARANTINE, path
        assert e["kwargs"].get("column", e["kwargs"].get("column_A")) == params["field"], path
        assert e["meta"]["description"] and e["meta"]["description_en"], path


def test_every_rule_of_the_dbt_tests_is_catalogued():
    found = _dbt_rule_ids()
    assert len(found) > 50
    assert [(p, i) for p, i in found if not rules.known(i)] == []
    assert {rules.resolve(i)[0] for _, i in found} == {rules.FIELD_REQUIRED, rules.FIELD_ENUM}


def test_the_ids_receipts_emit_are_catalogued():
    """Row and file ids of the parser and the key grammar, as a receipt carries them."""
    contract = all_contracts()["hotline.tickets"]
    header = ",".join(f.business_name for f in contract.fields)
    row = [
        "ZZ12345-20260305-000001",
        "2026-03-05 08:00",
        "电话",
        "咨询",
        "供水",
        "370402",
        "",
        "",
        "",
        "x",
        "A",
        "",
        "many",
        "",
        "",
        "",
    ]
    data = "\n".join([header, ",".join(row), "a,b"]).encode()
    parsed = parsing.parse_file(data, "t.csv", contract)
    assert set(parsed.type_failures) == {"transfer_count.type", "row.field_count"}
    line = json.dumps(dict(zip([f.name for f in contract.fields], row, strict=True)), ensure_ascii=False)
    jsonl = parsing.parse_file(f"{line}\nnot json\n".encode(), "t.jsonl", contract)
    assert set(jsonl.type_failures) == {"transfer_count.type", "row.json"}
    seen = set(parsed.type_failures) | set(jsonl.type_failures)
    for key in (
        "a/b/c",
        "hotline/tickets/2026-13-45/x.csv",
        "hotline/tickets/2026-1-5/x.csv",
        "hotline/../2026-03-05/x.csv",
        "hotline/tickets/2026-03-05/a\nb.csv",
    ):
        with pytest.raises(InvalidKey) as exc:
            parse_key(key)
        seen.add(exc.value.rule)
    assert seen >= {"key.layout", "key.business_date", "key.path_traversal", "key.unsafe_characters"}
    assert parsing.UnreadableFile("x").rule == "file.readable"
    assert [i for i in seen if not rules.known(i)] == []
    assert all(rules.resolve(i)[0].severity == rules.REJECT for i in seen if i.startswith("key."))


def test_the_scan_finds_an_uncatalogued_id():
    """The scanner is not vacuous: a stray id in code, a README or an f-string is reported."""
    text = 'x = "row.bogus"; y = f"{col}.nosuch"; z = f"{key}.json"\n`<column>.mystery` `ticket_id.shiny`'
    ids, kinds = ids_in_text(text, {"ticket_id"})
    assert _uncatalogued(ids, kinds) == ["<field>.mystery", "<field>.nosuch", "row.bogus", "ticket_id.shiny"]
    ids, kinds = ids_in_text('"row.json" `<column>.type` f"{f.name}.required" "ticket_id.pattern"', {"ticket_id"})
    assert _uncatalogued(ids, kinds) == []


# --- (2) every catalogue entry is used --------------------------------------------------------


def test_every_catalogue_entry_is_used():
    columns, used = _columns(), set()
    for area in ("code", "dbt", "docs", "notebooks"):
        for path in _files()[area]:
            text = _text(path)
            ids, kinds = ids_in_text(text, columns)
            used |= {rules.resolve(i)[0].id for i in ids if rules.known(i)}
            used |= {r.id for r in rules.CATALOGUE.values() if r.per_field and r.kind in kinds}
            if path.suffix == ".py":
                used |= {
                    getattr(rules, name).id
                    for name in REFERENCE.findall(text)
                    if isinstance(getattr(rules, name, None), rules.RuleDef)
                }
    used |= {rules.resolve(e["meta"]["rule_id"])[0].id for _, e in _suite_rules()}
    used |= {rules.resolve(i)[0].id for _, i in _dbt_rule_ids()}
    assert sorted(set(rules.CATALOGUE) - used) == [], "catalogue entries nothing uses"


# --- the catalogue itself ---------------------------------------------------------------------


def test_catalogue_entries_are_complete():
    sample = {
        "label": "工单编号(ticket_id)",
        "other": "受理时间(received_at)",
        "pattern": "^x$",
        "values": "a、b",
        "bounds": "≥ 0",
        "minutes": 60,
        "logical_type": "integer",
        "condition": "",
    }
    assert len(rules.CATALOGUE) == len({r.kind for r in rules.CATALOGUE.values()})
    for rule_id, r in rules.CATALOGUE.items():
        assert rule_id == r.id
        scope = rule_id.partition(".")[0]
        assert scope in {"{field}", "row", "key", "file"}, rule_id
        assert r.severity == (rules.QUARANTINE if scope in {"{field}", "row"} else rules.REJECT), rule_id
        zh, en = r.text("zh", **sample), r.text("en", **sample)
        assert re.search(r"[\u4e00-\u9fff]", zh) and "{" not in zh, (rule_id, zh)
        assert not re.search(r"[\u4e00-\u9fff]", en.replace("工单编号", "").replace("受理时间", "")), (rule_id, en)
        if r.per_field:
            concrete = r.rule_id("grid_code", "district_code")
            assert rules.resolve(concrete) == (
                r,
                {"field": "grid_code", **({"column": "district_code"} if "{column}" in r.id else {})},
            )
    assert rules.resolve("closed_at.not_before_received_at")[0] is rules.FIELD_NOT_BEFORE
    with pytest.raises(KeyError, match="not in the rule catalogue"):
        rules.resolve("row.bogus")


def test_every_gx_rule_names_a_registered_expectation():
    from great_expectations.expectations.registry import get_expectation_impl

    import pipelines.gx_expectations  # noqa: F401 — registers the custom expectation types

    for r in rules.CATALOGUE.values():
        if r.checked_by == "gx":
            assert get_expectation_impl(r.gx_type) is not None, r.id


def test_receipt_descriptions_come_from_the_catalogue():
    labels = {"transfer_count": ("转办次数(transfer_count)", "integer"), "topic": ("事项分类(topic)", "string")}
    assert rules.describe("transfer_count.type", labels) == "转办次数(transfer_count) 应可解析为整数"
    assert rules.describe("row.json") == rules.ROW_JSON.zh
    assert rules.describe("key.unsafe_characters", lang="en") == rules.KEY_UNSAFE_CHARACTERS.en
    assert rules.describe("topic.required", labels) == "事项分类(topic) 必填"
    assert rules.describe("nosuch") == "nosuch"


def test_readme_rule_table_is_generated_from_the_catalogue():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert rules.with_rules_section(readme) == readme
    assert codegen.README_PATH in codegen.expected_files()
    section = readme.partition(rules.RULES_START)[2].partition(rules.RULES_END)[0]
    for r in rules.CATALOGUE.values():
        assert f"`{r.id}`" in section


def test_a_length_rule_is_checked_by_gx(tmp_path):
    """``{field}.length`` (ODCS ``minLength`` / ``maxLength``): no contract uses it yet, so it is
    exercised here: the suite gets the catalogued expectation and GX flags the rows."""
    text = (settings.CONTRACTS_DIR / "hotline" / "tickets.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "      - name: topic\n        businessName: 事项分类\n        logicalType: string\n",
        "      - name: topic\n        businessName: 事项分类\n        logicalType: string\n"
        "        logicalTypeOptions: {minLength: 2, maxLength: 4}\n",
    )
    path = tmp_path / "hotline" / "tickets.yaml"
    path.parent.mkdir()
    path.write_text(text, encoding="utf-8")
    contract = load_contract(path)
    assert contract.field("topic").max_length == 4
    suite = validation.suite_from_contract(contract)
    (e,) = [e for e in suite["expectations"] if e["meta"]["rule_id"] == "topic.length"]
    assert e["type"] == rules.FIELD_LENGTH.gx_type and e["kwargs"] == {
        "column": "topic",
        "min_value": 2,
        "max_value": 4,
    }
    assert e["meta"]["description"] == "事项分类(topic) 长度应为 2 – 4 个字符"
    frame = pd.DataFrame({"topic": ["供水", "x", "供水供电燃气", None], validation.ROW_NUMBER: [1, 2, 3, 4]})
    (result,) = validation.validate(frame, {**suite, "expectations": [e]})
    assert result.row_numbers == [2, 3]
