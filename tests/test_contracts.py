"""The data contracts: one per dataset of the spec, faithful to its tables, generated files
up to date, and a new contract file is all it takes to get a new ingestion asset."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from dagster import AssetKey, Definitions

from pipelines import codegen, settings, validation
from pipelines.contracts import Contract, all_contracts, load_contract, normalize_header
from pipelines.defs.ingestion import assets as ingestion_assets

SPEC_NAME = "submission-spec.md"
TYPES = {
    "string": "string",
    "text": "string",
    "enum": "string",
    "int": "integer",
    "decimal": "number",
    "date": "date",
    "timestamp": "timestamp",
}
SIX_DISTRICTS = ("370402", "370403", "370404", "370405", "370406", "370481")


def spec_path() -> Path:
    """The spec: ``$SHUZHONG_SPEC_DIR/submission-spec.md``, else ``shared/specs/`` beside the repo
    or beside one of its parent directories (a worktree). Missing spec: the test fails, never skips."""
    if os.environ.get("SHUZHONG_SPEC_DIR"):
        candidates = [Path(os.environ["SHUZHONG_SPEC_DIR"]) / SPEC_NAME]
    else:
        candidates = [d / "shared" / "specs" / SPEC_NAME for d in settings.REPO_ROOT.parents]
    for path in candidates:
        if path.is_file():
            return path
    pytest.fail(
        f"the spec {SPEC_NAME} is missing (looked at {', '.join(map(str, candidates))}); the "
        "spec-conformance tests cannot run without it: put it in ../shared/specs/ or set "
        "SHUZHONG_SPEC_DIR",
        pytrace=False,
    )


def spec_tables() -> dict[str, list[dict]]:
    """Section 4 of the spec: ``bureau.dataset`` → rows of its column table."""
    tables: dict[str, list[dict]] = {}
    current = None
    for line in spec_path().read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^### 4\.\d+ (\w+\.\w+) ", line)
        if heading:
            current = heading.group(1)
            tables[current] = []
        elif line.startswith("## 5"):
            current = None
        elif current and line.startswith("|") and not line.startswith(("| 中文列名", "|---")):
            cells = [c.strip() for c in line.strip("|").split("|")]
            zh, canonical, kind, rules, cls = cells
            tables[current].append({"zh": zh, "name": canonical, "type": kind.split()[0], "rules": rules, "class": cls})
    return tables


@pytest.fixture(scope="module")
def contracts() -> dict[str, Contract]:
    return all_contracts()


def test_every_contract_loads_and_every_spec_dataset_has_one(contracts):
    assert set(contracts) == set(spec_tables())
    assert len(contracts) == 11
    for key, c in contracts.items():
        assert c.version == "1.0.0"
        assert c.bureau in settings.bureaus(), key
        assert c.path == settings.CONTRACTS_DIR / c.bureau / f"{c.dataset}.yaml"
        assert c.table == f"{c.bureau}__{c.dataset}" and c.id == f"urn:zaozhuang:datahub:{c.bureau}:{c.dataset}"


def test_columns_names_types_and_required_follow_the_spec(contracts):
    for key, rows in spec_tables().items():
        c = contracts[key]
        assert [f.name for f in c.fields] == [r["name"] for r in rows], key
        for f, row in zip(c.fields, rows, strict=True):
            assert f.business_name == row["zh"], (key, f.name)
            assert f.logical_type == TYPES[row["type"]], (key, f.name)
            assert f.required == row["rules"].startswith("req"), (key, f.name)
            if row["class"] != "sensitive / public":
                assert f.classification == row["class"], (key, f.name)
            if row["type"] == "enum" and "same values" not in row["rules"]:
                spec_values = [v.strip() for v in row["rules"].split(",")]
                assert list(f.valid_values) == spec_values, (key, f.name)
            if f.name == "district_code":
                assert f.valid_values == SIX_DISTRICTS, key
            if f.name == "grid_code" and any(g.name == "district_code" for g in c.fields):
                assert f.pattern == "^[0-9]{15}$", key
            elif f.name == "grid_code":  # spec §2: no district_code, the grid code's first six digits are it
                assert f.pattern == "^(" + "|".join(SIX_DISTRICTS) + ")[0-9]{9}$", key
            if "sharing: none" in row["rules"]:
                assert f.sharing == "none", (key, f.name)
    risk, incident = contracts["emergency.risk_warnings"], contracts["emergency.incidents"]
    assert risk.field("risk_type").valid_values == incident.field("incident_type").valid_values


def test_dataset_properties(contracts):
    pk = {k: c.primary_key for k, c in contracts.items()}
    assert pk["ecology.air_quality_hourly"] == ["station_code", "observed_at"]
    assert pk["transport.traffic_flow"] == ["checkpoint_id", "interval_start"]
    assert pk["utilities.pipe_pressure"] == ["sensor_id", "measured_at"]
    assert pk["market.enterprises"] == ["uscc"] and pk["grid.grids"] == ["grid_code"]
    assert all(len(v) >= 1 for v in pk.values())
    machine = {
        "ecology.air_quality_hourly": "hourly",
        "transport.traffic_flow": "5min",
        "utilities.pipe_pressure": "minute",
    }
    for key, c in contracts.items():
        if key in machine:
            assert (c.cadence, c.update_mode) == (machine[key], "append"), key
            assert c.deadline == {"day_offset": 1, "time": "02:00", "timezone": "Asia/Shanghai"}, key
        elif key in ("grid.grids", "market.enterprises"):
            assert c.cadence == "reference" and c.deadline is None, key
        else:
            assert (c.cadence, c.update_mode) == ("daily", "upsert"), key
            assert c.deadline == {"day_offset": 1, "time": "09:00", "timezone": "Asia/Shanghai"}, key
    assert contracts["grid.grids"].update_mode == "snapshot"
    assert contracts["market.enterprises"].update_mode == "upsert"
    unconditional = {"market.enterprises", "ecology.air_quality_hourly", "transport.traffic_flow", "grid.grids"}
    assert {k for k, c in contracts.items() if c.sharing == "unconditional"} == unconditional
    assert {k for k, c in contracts.items() if c.sharing == "none"} == set()


def test_personal_data_is_tagged(contracts):
    pii = {(k, f.name): f.pii for k, c in contracts.items() for f in c.fields if f.pii}
    assert pii == {
        ("hotline.tickets", "caller_name"): "person_name",
        ("hotline.tickets", "caller_phone"): "phone",
        ("hotline.tickets", "content"): "free_text",
        ("govservice.cases", "applicant_id"): "resident_id",
        ("market.enterprises", "legal_rep_name"): "person_name",
        ("market.enterprises", "legal_rep_id"): "resident_id",
        ("grid.events", "description"): "free_text",
        ("community.service_requests", "resident_phone"): "phone",
    }
    applicant = contracts["govservice.cases"].field("applicant_id")
    assert applicant.pii_when == ("applicant_type", "自然人") and applicant.classification == "sensitive"
    market = contracts["market.enterprises"]
    assert market.field("legal_rep_name").sharing == "conditional"
    assert market.field("legal_rep_id").sharing == "none" and market.field("legal_rep_id").classification == "sensitive"
    assert market.field("uscc").classification == "public" and market.field("uscc").pii is None


def test_generated_files_are_not_stale():
    assert codegen.stale_files() == []


def _by_rule(contract: Contract) -> dict[str, dict]:
    return {e["meta"]["rule_id"]: e for e in validation.load_suite(contract)["expectations"]}


def test_suites_carry_the_rules(contracts):
    for c in contracts.values():
        suite = validation.load_suite(c)
        assert suite["meta"]["contract_version"] == c.version
        assert suite["meta"]["generated_from"] == f"data_contracts/{c.bureau}/{c.dataset}.yaml"
        for e in suite["expectations"]:
            column, _, rule = e["meta"]["rule_id"].partition(".")
            assert column in {f.name for f in c.fields} and rule
            assert e["kwargs"].get("column", e["kwargs"].get("column_A")) == column
            assert re.search(r"[\u4e00-\u9fff]", e["meta"]["description"]), e["meta"]
    hotline = _by_rule(contracts["hotline.tickets"])
    assert hotline["caller_phone.phone"]["type"] == "expect_column_values_to_be_valid_phone"

    cases = _by_rule(contracts["govservice.cases"])
    rid, uscc = cases["applicant_id.resident_id"], cases["applicant_id.uscc"]
    assert rid["type"] == "expect_column_values_to_be_valid_resident_id"
    assert rid["kwargs"]["row_condition"] == {
        "type": "comparison",
        "column": {"name": "applicant_type"},
        "operator": "==",
        "parameter": "自然人",
    }
    assert uscc["type"] == "expect_column_values_to_be_valid_uscc"
    assert uscc["kwargs"]["row_condition"]["parameter"] == "法人"
    assert cases["completed_at.not_before_applied_at"]["kwargs"]["or_equal"] is True

    market = _by_rule(contracts["market.enterprises"])
    assert market["uscc.uscc"]["type"] == "expect_column_values_to_be_valid_uscc"
    assert market["legal_rep_id.resident_id"]["kwargs"] == {"column": "legal_rep_id", "only_length": 18}
    assert market["established_on.not_in_future"]["kwargs"]["timezone"] == "Asia/Shanghai"
    assert market["industry_code.pattern"]["kwargs"]["regex"] == "^[A-T][0-9]{2,4}$"
    assert market["registered_capital_10k_cny.range"]["kwargs"]["min_value"] == 0

    air = _by_rule(contracts["ecology.air_quality_hourly"])
    assert air["observed_at.aligned"]["kwargs"] == {"column": "observed_at", "minutes": 60}
    assert air["pm25.range"]["kwargs"] == {"column": "pm25", "min_value": 0, "max_value": 1000}
    assert air["aqi.range"]["kwargs"] == {"column": "aqi", "min_value": 0, "max_value": 500}
    traffic = _by_rule(contracts["transport.traffic_flow"])
    assert traffic["interval_start.aligned"]["kwargs"] == {"column": "interval_start", "minutes": 5}
    pipe = _by_rule(contracts["utilities.pipe_pressure"])
    gt = pipe["threshold_high.greater_than_threshold_low"]
    assert gt["type"] == "expect_column_pair_values_a_to_be_greater_than_b" and gt["kwargs"]["or_equal"] is False
    grids = _by_rule(contracts["grid.grids"])
    assert grids["grid_code.starts_with_district_code"]["type"] == "expect_column_pair_values_a_to_start_with_b"
    incidents = _by_rule(contracts["emergency.incidents"])
    assert "reported_at.not_before_occurred_at" in incidents
    warnings = _by_rule(contracts["emergency.risk_warnings"])
    assert warnings["window_hours.range"]["kwargs"] == {"column": "window_hours", "min_value": 1, "max_value": 720}
    community = _by_rule(contracts["community.service_requests"])
    assert community["resident_phone.phone"]["type"] == "expect_column_values_to_be_valid_phone"
    assert community["rating.range"]["kwargs"] == {"column": "rating", "min_value": 1, "max_value": 5}


def test_rendering_is_deterministic(contracts):
    for c in contracts.values():
        assert validation.render_suite(c) == validation.render_suite(load_contract(c.path))


NEW_CONTRACT = """\
apiVersion: v3.1.0
kind: DataContract
id: urn:zaozhuang:datahub:ecology:water_quality
name: ecology.water_quality
version: 1.0.0
status: active
domain: ecology
dataProduct: water_quality
description:
  purpose: 水质自动监测 — a dataset added by dropping in its contract.
customProperties:
  - property: bureau
    value: ecology
  - property: sharing
    value: unconditional
  - property: cadence
    value: hourly
  - property: deadline
    value: {day_offset: 1, time: "02:00", timezone: Asia/Shanghai}
  - property: updateMode
    value: append
schema:
  - name: water_quality
    physicalName: ecology__water_quality
    businessName: 水质自动监测
    logicalType: object
    properties:
      - name: station_code
        businessName: 站点编码
        logicalType: string
        required: true
        primaryKey: true
        primaryKeyPosition: 1
        classification: public
      - name: observed_at
        businessName: 监测时间
        logicalType: timestamp
        required: true
        primaryKey: true
        primaryKeyPosition: 2
        classification: public
        quality:
          - {type: custom, engine: shuzhong, implementation: {rule: aligned, minutes: 60}}
      - name: ph
        businessName: pH
        logicalType: number
        classification: public
        logicalTypeOptions: {minimum: 0, maximum: 14}
"""


@pytest.fixture
def contracts_copy(tmp_path, monkeypatch):
    """A copy of data_contracts/ as settings.CONTRACTS_DIR, with every contract cache cleared."""
    root = tmp_path / "data_contracts"
    shutil.copytree(settings.CONTRACTS_DIR, root)
    caches = (all_contracts, ingestion_assets.ingest_assets, ingestion_assets.ingest_jobs, settings.bureaus)
    for cached in caches:
        cached.cache_clear()
    monkeypatch.setattr(settings, "CONTRACTS_DIR", root)
    yield root
    monkeypatch.undo()
    for cached in caches:
        cached.cache_clear()


def test_a_new_contract_file_makes_a_new_asset_with_checks(contracts_copy: Path):
    (contracts_copy / "ecology" / "water_quality.yaml").write_text(NEW_CONTRACT, encoding="utf-8")
    contracts = all_contracts()
    assert len(contracts) == 12 and contracts["ecology.water_quality"].primary_key == ["station_code", "observed_at"]
    defs = Definitions(assets=[*ingestion_assets.ingest_assets()], jobs=[*ingestion_assets.ingest_jobs()])
    Definitions.validate_loadable(defs)
    key = AssetKey(["raw", "ecology", "water_quality"])
    assert key in defs.resolve_all_asset_keys()
    assets_def = defs.resolve_assets_def(key)
    checks = {k.name for k in assets_def.check_keys}
    assert {"observed_at__aligned", "observed_at__required", "ph__range", "ph__type", "file__readable"} <= checks
    assert defs.resolve_job_def("ingest_ecology__water_quality") is not None
    suite = validation.suite_from_contract(contracts["ecology.water_quality"])
    assert suite["meta"]["generated_from"] == "data_contracts/ecology/water_quality.yaml"
    new_files = {p for p in codegen.expected_files() if "water_quality" in p.name}
    assert new_files == {settings.EXPECTATIONS_DIR / "ecology" / "water_quality.json"}


def test_every_dataset_gets_an_asset_with_a_check_per_rule(contracts):
    defs = Definitions(assets=[*ingestion_assets.ingest_assets()])
    for c in contracts.values():
        assets_def = defs.resolve_assets_def(ingestion_assets.raw_asset_key(c))
        checks = {k.name for k in assets_def.check_keys}
        assert {ingestion_assets.check_name(r) for r in validation.rule_ids(c)} <= checks, c.key


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ("{type: custom, engine: shuzhong, implementation: {rule: on_the_moon}}", "unknown custom rule"),
        ("{type: custom, engine: shuzhong, implementation: {rule: greater_than, column: nosuch}}", "unknown column"),
        ("{type: custom, engine: shuzhong, implementation: {rule: aligned, minutes: 7}}", "divide a day"),
        ("{type: custom, engine: shuzhong, implementation: {rule: not_in_future, when: {length: 3}}}", "take `when`"),
        ("{type: custom, engine: shuzhong, implementation: {rule: uscc, when: {column: station_code}}}", "`when`"),
    ],
)
def test_bad_rules_are_rejected(tmp_path, snippet, message):
    text = NEW_CONTRACT.replace(
        "          - {type: custom, engine: shuzhong, implementation: {rule: aligned, minutes: 60}}",
        f"          - {snippet}",
    )
    path = tmp_path / "ecology" / "water_quality.yaml"
    path.parent.mkdir()
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_contract(path)


def test_header_spellings_are_unique_per_contract(contracts):
    for c in contracts.values():
        spellings = [h for f in c.fields for h in dict.fromkeys(f.headers)]
        assert len(spellings) == len(set(spellings)), c.key
        assert normalize_header("办理时限（小时）") in contracts["hotline.tickets"].header_map()


def test_breaking_change_needs_a_new_major_version():
    """The lock in data_contracts/contracts.lock.json records each schema; an incompatible change
    under the same major version is refused, an additive one or a major bump is not."""
    import dataclasses
    import json

    from pipelines import codegen
    from pipelines.contracts import all_contracts as contracts

    lock = json.loads(codegen.LOCK_PATH.read_text())
    tickets = contracts()["hotline.tickets"]
    assert codegen.breaking_changes(lock["hotline.tickets"], tickets) == []

    dropped = dataclasses.replace(tickets, fields=tuple(f for f in tickets.fields if f.name != "topic"))
    assert any("column topic removed" in p for p in codegen.breaking_changes(lock["hotline.tickets"], dropped))
    retyped = dataclasses.replace(
        tickets,
        fields=tuple(
            dataclasses.replace(f, logical_type="string") if f.name == "transfer_count" else f for f in tickets.fields
        ),
    )
    assert any("transfer_count" in p for p in codegen.breaking_changes(lock["hotline.tickets"], retyped))
    extra = dataclasses.replace(tickets, fields=(*tickets.fields, dataclasses.replace(tickets.fields[-1], name="x")))
    assert codegen.breaking_changes(lock["hotline.tickets"], extra) == []  # a new optional column is additive
    bumped = dataclasses.replace(dropped, version="2.0.0")
    assert codegen.breaking_changes(lock["hotline.tickets"], bumped) == []
