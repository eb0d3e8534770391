"""The contract lock (data_contracts/contracts.lock.json): under the same major version every
tightening of a contract is a breaking change, loosening is not. Each case edits a copy of
the hotline contract in tmp_path, loads it, and compares it with the lock of the original."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from pipelines import codegen, settings
from pipelines.contracts import Contract, load_contract

TICKETS = settings.CONTRACTS_DIR / "hotline" / "tickets.yaml"


def _doc() -> dict:
    return yaml.safe_load(TICKETS.read_text(encoding="utf-8"))


def _field(doc: dict, name: str) -> dict:
    return next(p for p in doc["schema"][0]["properties"] if p["name"] == name)


def _contract(
    tmp_path: Path, mutate: Callable[[dict], None] | None = None, base: dict | None = None, name: str = "new"
) -> Contract:
    doc = copy.deepcopy(base if base is not None else _doc())
    if mutate:
        mutate(doc)
    path = tmp_path / name / "hotline" / "tickets.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load_contract(path)


def _breaking(
    tmp_path: Path,
    mutate: Callable[[dict], None],
    before: Callable[[dict], None] | None = None,
) -> list[str]:
    """Breaking changes of ``mutate`` applied to the contract (after ``before`` set up both sides)."""
    base = _doc()
    if before:
        before(base)
    old = codegen.schema_fingerprint(_contract(tmp_path, base=base, name="old"))
    return codegen.breaking_changes(old, _contract(tmp_path, mutate, base=base))


def _options(name: str, **options) -> Callable[[dict], None]:
    def mutate(doc: dict) -> None:
        _field(doc, name).setdefault("logicalTypeOptions", {}).update(options)

    return mutate


def _one(problems: list[str], text: str) -> None:
    assert len(problems) == 1 and text in problems[0] and "needs a new major version" in problems[0], problems


def test_the_committed_lock_is_current_and_records_every_constraint():
    lock = json.loads(codegen.LOCK_PATH.read_text(encoding="utf-8"))
    tickets = lock["hotline.tickets"]
    assert tickets["lock_format"] == codegen.LOCK_FORMAT
    assert tickets["columns"]["ticket_id"]["pattern"] == "^ZZ12345-[0-9]{8}-[0-9]{6}$"
    assert tickets["columns"]["deadline_hours"]["exclusive_minimum"] == 0
    assert tickets["columns"]["satisfaction"]["enum"][-1] == "未评价"
    assert tickets["columns"]["closed_at"]["checks"] == ["not_before:column=received_at"]
    assert codegen.contract_lock() == codegen.LOCK_PATH.read_text(encoding="utf-8")


def test_unchanged_contract_is_not_breaking(tmp_path):
    assert _breaking(tmp_path, lambda d: None) == []


# --- every tightening is breaking -------------------------------------------------------------


def test_type_change_is_breaking(tmp_path):
    _one(
        _breaking(tmp_path, lambda d: _field(d, "deadline_hours").update(logicalType="number")),
        "column deadline_hours: type integer → number",
    )


def test_field_becoming_required_is_breaking(tmp_path):
    _one(
        _breaking(tmp_path, lambda d: _field(d, "handling_dept").update(required=True)),
        "column handling_dept became required",
    )


def test_new_required_field_is_breaking(tmp_path):
    new = {"name": "hotline_seat", "businessName": "坐席号", "logicalType": "string", "required": True}
    _one(_breaking(tmp_path, lambda d: d["schema"][0]["properties"].append(new)), "new required column hotline_seat")


def test_lower_max_length_is_breaking(tmp_path):
    _one(
        _breaking(tmp_path, _options("topic", maxLength=50), before=_options("topic", maxLength=100)),
        "column topic: maxLength 100 → 50",
    )
    _one(_breaking(tmp_path / "added", _options("topic", maxLength=100)), "column topic: maxLength None → 100")


def test_higher_min_length_is_breaking(tmp_path):
    _one(
        _breaking(tmp_path, _options("topic", minLength=3), before=_options("topic", minLength=1)),
        "column topic: minLength 1 → 3",
    )


def test_changed_pattern_is_breaking(tmp_path):
    _one(
        _breaking(tmp_path, _options("ticket_id", pattern="^ZZ12345-[0-9]{8}-[0-9]{5}$")),
        "column ticket_id: pattern changed",
    )


def test_added_pattern_is_breaking(tmp_path):
    _one(
        _breaking(tmp_path, _options("handling_dept", pattern="^[\u4e00-\u9fff]+$")),
        "column handling_dept: pattern added",
    )


def test_raised_minimum_is_breaking(tmp_path):
    _one(
        _breaking(tmp_path, _options("transfer_count", minimum=1)),
        "column transfer_count: minimum >= 0 → >= 1 (narrower range)",
    )


def test_inclusive_to_exclusive_minimum_is_breaking(tmp_path):
    def exclusive(doc: dict) -> None:
        _field(doc, "transfer_count")["logicalTypeOptions"] = {"exclusiveMinimum": 0}

    _one(_breaking(tmp_path, exclusive), "column transfer_count: minimum >= 0 → > 0 (narrower range)")


def test_lowered_maximum_is_breaking(tmp_path):
    _one(
        _breaking(tmp_path, _options("transfer_count", maximum=5), before=_options("transfer_count", maximum=10)),
        "column transfer_count: maximum <= 10 → <= 5 (narrower range)",
    )
    _one(
        _breaking(tmp_path / "added", _options("transfer_count", maximum=10)),
        "column transfer_count: maximum none → <= 10 (narrower range)",
    )


def test_shorter_enum_is_breaking(tmp_path):
    def drop(doc: dict) -> None:
        _field(doc, "satisfaction")["quality"][0]["arguments"]["validValues"].remove("未评价")

    _one(_breaking(tmp_path, drop), "column satisfaction: valid values removed (未评价)")


def test_added_enum_is_breaking(tmp_path):
    rule = {"type": "library", "metric": "invalidValues", "mustBe": 0, "arguments": {"validValues": ["A", "B"]}}
    _one(
        _breaking(tmp_path, lambda d: _field(d, "handling_dept").update(quality=[rule])),
        "column handling_dept: valid values added (A, B)",
    )


def test_removed_field_is_breaking(tmp_path):
    def drop(doc: dict) -> None:
        doc["schema"][0]["properties"].remove(_field(doc, "handling_dept"))

    _one(_breaking(tmp_path, drop), "column handling_dept removed")


def test_added_check_is_breaking(tmp_path):
    rule = {"type": "custom", "engine": "shuzhong", "implementation": {"rule": "not_in_future"}}
    _one(
        _breaking(tmp_path, lambda d: _field(d, "received_at").setdefault("quality", []).append(rule)),
        "column received_at: checks added or changed (not_in_future)",
    )


def test_new_primary_key_is_breaking(tmp_path):
    def key(doc: dict) -> None:
        _field(doc, "received_at").update(primaryKey=True, primaryKeyPosition=2)

    _one(_breaking(tmp_path, key), "primary key ['ticket_id'] → ['ticket_id', 'received_at']")


# --- loosening is not, a major version may break anything, old locks still work -----------------


def test_loosening_is_not_breaking(tmp_path):
    def loosen(doc: dict) -> None:
        _field(doc, "transfer_count")["logicalTypeOptions"] = {"minimum": -1, "maximum": 100}  # wider range
        _field(doc, "deadline_hours")["logicalTypeOptions"] = {"minimum": 0}  # > 0 → >= 0
        _field(doc, "satisfaction")["quality"][0]["arguments"]["validValues"].append("无法评价")  # added value
        _field(doc, "topic").update(required=False)  # required → optional
        del _field(doc, "grid_code")["logicalTypeOptions"]  # pattern dropped
        _field(doc, "topic")["logicalTypeOptions"] = {"maxLength": 400}  # longer than before
        doc["schema"][0]["properties"].append(  # new optional field
            {"name": "hotline_seat", "businessName": "坐席号", "logicalType": "string"}
        )

    def before(doc: dict) -> None:
        _options("topic", maxLength=200)(doc)
        _options("transfer_count", maximum=50)(doc)

    assert _breaking(tmp_path, loosen, before=before) == []


def test_a_major_version_bump_allows_tightening(tmp_path):
    def tighten(doc: dict) -> None:
        _field(doc, "transfer_count")["logicalTypeOptions"] = {"minimum": 5}
        doc["version"] = "2.0.0"

    assert _breaking(tmp_path, tighten) == []


def test_a_format_1_lock_entry_compares_type_and_required_only(tmp_path):
    old = codegen.schema_fingerprint(_contract(tmp_path, name="old"))
    legacy = {
        "version": old["version"],
        "primary_key": old["primary_key"],
        "columns": {n: {"type": c["type"], "required": c["required"]} for n, c in old["columns"].items()},
    }
    assert codegen.breaking_changes(legacy, _contract(tmp_path, name="same")) == []  # its constraints are new
    tightened = _contract(tmp_path, lambda d: _field(d, "deadline_hours").update(logicalType="number"))
    _one(codegen.breaking_changes(legacy, tightened), "type integer → number")


def test_generate_refuses_a_tightening_without_a_major_bump(tmp_path):
    previous = {"hotline.tickets": codegen.schema_fingerprint(_contract(tmp_path, name="old"))}
    tightened = _contract(tmp_path, _options("transfer_count", minimum=1))
    with pytest.raises(ValueError, match="transfer_count: minimum >= 0 → >= 1"):
        codegen.contract_lock(previous, {tightened.key: tightened})
