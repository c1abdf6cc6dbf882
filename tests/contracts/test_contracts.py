"""Data contracts: every contract is valid ODCS v3, a broken one is refused with one clear line."""

from __future__ import annotations

import json
from datetime import datetime
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml
from open_data_contract_standard.model import OpenDataContractStandard

from lethe.contracts import ContractError, load_all_contracts, load_contract
from lethe.contracts.suite import build_suite
from lethe.ingest import FAMILIES
from lethe.settings import CONTRACTS_DIR

CONTRACT_FILES = sorted(CONTRACTS_DIR.glob("*.odcs.yaml"))


@pytest.mark.parametrize("path", CONTRACT_FILES, ids=lambda p: p.name)
def test_contract_is_valid_odcs_v3(path: Path):
    doc = yaml.safe_load(path.read_text())
    schema = json.loads(resources.files("open_data_contract_standard").joinpath("schema.json").read_text())
    jsonschema.Draft201909Validator(schema).validate(doc)
    assert OpenDataContractStandard(**doc).apiVersion.startswith("v3")
    contract = load_contract(path)
    assert contract.dataset == path.name.removesuffix(".odcs.yaml")
    pii = [p for p in contract.properties if p.pii]
    assert all(p.classification == "restricted" and p.data_category or p.pii_type == "agent_identifier" for p in pii)


def test_every_family_dataset_has_a_contract():
    contracts = load_all_contracts()
    assert sorted(d for ds in FAMILIES.values() for d in ds) == sorted(contracts)
    ctr = contracts["contact_records"]
    assert (ctr.format, ctr.dedupe_key, ctr.latest_wins_by, ctr.retention_days) == ("jsonl", ("contact_id",), "last_update_timestamp", 730)
    assert ctr.prop("channel").enum == ("VOICE", "CHAT", "TASK", "EMAIL")
    assert contracts["crm_contacts"].prop("email").format == "email"
    assert contracts["agents"].prop("exam_score").maximum == 100


def _broken(tmp_path: Path, edit) -> Path:
    doc = yaml.safe_load((CONTRACTS_DIR / "campaigns.odcs.yaml").read_text())
    edit(doc)
    path = tmp_path / "campaigns.odcs.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda d: d.update(kind="Contract"), "kind"),
        (lambda d: d.update(surprise="yes"), "surprise"),
        (lambda d: d["schema"][0]["properties"][0].update(logicalType="uuid"), "logicalType"),
        (lambda d: d.update(customProperties=[c for c in d["customProperties"] if c["property"] != "dedupeKey"]), "dedupeKey"),
        (lambda d: d["customProperties"].append({"property": "latestWinsBy", "value": "nope"}), "'nope'"),
        (lambda d: d.update(schema=[]), "exactly one object"),
        (lambda d: d["schema"][0]["properties"][0].update(
            customProperties=[{"property": "futureAllowed", "value": "yes"}]), "futureAllowed: 'yes' is not true or false"),
        (lambda d: d["schema"][0]["properties"][0].update(
            customProperties=[{"property": "futureAllowed", "value": True}]), "futureAllowed is for timestamps"),
    ],
    ids=["bad-kind", "unknown-key", "bad-logical-type", "no-dedupe-key", "latest-wins-by-unknown", "no-schema",
         "future-allowed-not-boolean", "future-allowed-not-timestamp"],
)
def test_broken_contract_is_refused_with_one_line(tmp_path, edit, problem):
    path = _broken(tmp_path, edit)
    with pytest.raises(ContractError) as err:
        load_contract(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and problem in message


def test_invalid_yaml_is_refused(tmp_path):
    path = tmp_path / "x.odcs.yaml"
    path.write_text("schema: [unclosed\n")
    with pytest.raises(ContractError, match="is not valid YAML"):
        load_contract(path)


def test_suite_built_from_contract():
    contract = load_all_contracts()["crm_contacts"]
    suite = build_suite(contract, datetime(2030, 1, 1))
    kinds = {(e.expectation_type, e.column) for e in suite.expectations}
    assert ("expect_column_values_to_not_be_null", "id") in kinds
    assert ("expect_column_values_to_be_in_set", "customer_status") in kinds
    assert ("expect_column_values_to_match_regex", "email") in kinds
    assert ("expect_column_values_to_match_regex", "phone") in kinds
    assert ("expect_column_values_to_be_between", "last_modified_date__typed") in kinds
