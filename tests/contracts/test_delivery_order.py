"""Which copy of a re-delivered record wins: the contracts say so, and a contradictory contract is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lethe.contracts import ContractError, load_all_contracts, load_contract
from lethe.settings import CONTRACTS_DIR


def test_lethe_format_registers_take_their_latest_delivery_and_agents_keep_their_training_history():
    contracts = load_all_contracts()
    assert {name for name, c in contracts.items() if c.latest_delivery_wins} == {"breaches", "dsr_requests", "legal_holds"}
    assert contracts["agents"].dedupe_key == ("agent_username", "tenant_id", "training_completed_at")
    assert not contracts["agents"].latest_delivery_wins and contracts["agents"].latest_wins_by is None
    assert all(not c.latest_delivery_wins for c in contracts.values() if c.latest_wins_by)


def _with(tmp_path: Path, *custom: dict) -> Path:
    doc = yaml.safe_load((CONTRACTS_DIR / "legal_holds.odcs.yaml").read_text())
    doc["customProperties"] = [c for c in doc["customProperties"] if c["property"] != "latestDeliveryWins"]
    doc["customProperties"] += list(custom)
    path = tmp_path / "legal_holds.odcs.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("custom", "problem"),
    [
        (({"property": "latestDeliveryWins", "value": "yes"},), "latestDeliveryWins: 'yes' is not true or false"),
        (({"property": "latestDeliveryWins", "value": True}, {"property": "latestWinsBy", "value": "end_date"}),
         "exclude each other"),
    ],
    ids=["not-a-boolean", "with-latest-wins-by"],
)
def test_contradictory_delivery_order_is_refused_with_one_line(tmp_path, custom, problem):
    path = _with(tmp_path, *custom)
    with pytest.raises(ContractError) as err:
        load_contract(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value) and problem in str(err.value)


def test_without_the_property_the_first_delivery_stays(tmp_path):
    assert not load_contract(_with(tmp_path)).latest_delivery_wins
