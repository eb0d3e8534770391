"""Every contract follows the official ODCS v3.1.0 JSON schema (vendored, no download) and the
keys this project reads: a misspelled key is an error naming the contract file and the key."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from pipelines import contracts, settings
from pipelines.contracts import ContractError, contract_paths, load_contract

TICKETS = settings.CONTRACTS_DIR / "hotline" / "tickets.yaml"


def test_the_vendored_schema_is_the_official_odcs_v310():
    schema = json.loads(contracts.ODCS_SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.validators.validator_for(schema).check_schema(schema)
    assert schema["title"] == "Open Data Contract Standard (ODCS)"
    assert schema["properties"]["apiVersion"]["default"] == "v3.1.0"
    assert schema["additionalProperties"] is False
    note = (contracts.ODCS_SCHEMA_PATH.parent / "README.md").read_text(encoding="utf-8")
    assert "github.com/bitol-io/open-data-contract-standard" in note and "Apache License 2.0" in note
    assert "Apache License" in (contracts.ODCS_SCHEMA_PATH.parent / "LICENSE-ODCS").read_text(encoding="utf-8")


def test_the_eleven_contracts_follow_odcs_and_the_project_keys():
    paths = contract_paths()
    assert len(paths) == 11
    for path in paths:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert contracts.odcs_problems(doc) == [], path
        assert contracts.project_problems(doc) == [], path
        load_contract(path)


def _props(doc: dict) -> list[dict]:
    return doc["schema"][0]["properties"]


def _field(doc: dict, name: str) -> dict:
    return next(p for p in _props(doc) if p["name"] == name)


def _rename(obj: dict, old: str, new: str) -> None:
    obj[new] = obj.pop(old)


MISSPELLINGS = {
    # ODCS forbids these (additionalProperties / unevaluatedProperties: false)
    "logicalTypeOption": (
        lambda d: _rename(_field(d, "ticket_id"), "logicalTypeOptions", "logicalTypeOption"),
        "schema[0].properties[0].logicalTypeOption (column ticket_id): unknown key 'logicalTypeOption'",
    ),
    "qualty": (
        lambda d: _rename(_field(d, "channel"), "quality", "qualty"),
        "schema[0].properties[2].qualty (column channel): unknown key 'qualty'",
    ),
    "patern": (
        lambda d: _rename(_field(d, "grid_code")["logicalTypeOptions"], "pattern", "patern"),
        "schema[0].properties[6].logicalTypeOptions.patern (column grid_code): unknown key 'patern'",
    ),
    "minimun": (
        lambda d: _rename(_field(d, "transfer_count")["logicalTypeOptions"], "minimum", "minimun"),
        "logicalTypeOptions.minimun (column transfer_count): unknown key 'minimun'",
    ),
    "metrc": (
        lambda d: _rename(_field(d, "channel")["quality"][0], "metric", "metrc"),
        "schema[0].properties[2].quality[0].metrc (column channel): unknown key 'metrc'",
    ),
    "requird": (
        lambda d: _rename(_field(d, "topic"), "required", "requird"),
        "schema[0].properties[4].requird (column topic): unknown key 'requird'",
    ),
    "physicalNme": (
        lambda d: _rename(d["schema"][0], "physicalName", "physicalNme"),
        "schema[0].physicalNme: unknown key 'physicalNme'",
    ),
    "customProperty": (
        lambda d: _rename(d, "customProperties", "customProperty"),
        "customProperty: unknown key 'customProperty'",
    ),
    "vaule": (
        lambda d: _rename(d["customProperties"][0], "value", "vaule"),
        "customProperties[0].vaule: unknown key 'vaule'",
    ),
    # ODCS leaves these open; the project checks the keys it reads
    "cadense": (
        lambda d: d["customProperties"][2].update(property="cadense"),
        "customProperties[2].property: unknown custom property 'cadense'",
    ),
    "column property pi": (
        lambda d: _field(d, "caller_phone")["customProperties"].append({"property": "pi", "value": "phone"}),
        "unknown custom property 'pi'",
    ),
    "implementation colum": (
        lambda d: _rename(_field(d, "closed_at")["quality"][0]["implementation"], "column", "colum"),
        "quality[0].implementation.colum (column closed_at): unknown key 'colum'",
    ),
    "validValue": (
        lambda d: _rename(_field(d, "channel")["quality"][0]["arguments"], "validValues", "validValue"),
        "quality[0].arguments.validValue (column channel): unknown key 'validValue'",
    ),
    "deadline tme": (
        lambda d: _rename(d["customProperties"][3]["value"], "time", "tme"),
        "customProperties[3].value.tme: unknown key 'tme'",
    ),
    "unenforced format": (
        lambda d: _field(d, "topic").update(logicalTypeOptions={"format": "email"}),
        "logicalTypeOptions.format (column topic): unknown key 'format'",
    ),
}


@pytest.mark.parametrize("case", sorted(MISSPELLINGS))
def test_a_misspelled_key_is_rejected_naming_file_and_key(tmp_path: Path, case: str):
    mutate, expected = MISSPELLINGS[case]
    doc = copy.deepcopy(yaml.safe_load(TICKETS.read_text(encoding="utf-8")))
    mutate(doc)
    path = tmp_path / "hotline" / "tickets.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with pytest.raises(ContractError) as exc:
        load_contract(path)
    message = str(exc.value)
    assert message.startswith(f"{path}: "), message
    assert expected in message, message


def test_a_wrong_value_is_rejected_with_its_key_path(tmp_path: Path):
    doc = yaml.safe_load(TICKETS.read_text(encoding="utf-8"))
    _field(doc, "topic")["logicalType"] = "text"
    _field(doc, "channel")["quality"][0]["type"] = "libary"
    path = tmp_path / "tickets.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ContractError) as exc:
        load_contract(path)
    message = str(exc.value)
    assert str(path) in message
    assert "schema[0].properties[4].logicalType (column topic): 'text' is not one of" in message
    assert "schema[0].properties[2].quality[0].type (column channel): 'libary' is not one of" in message
